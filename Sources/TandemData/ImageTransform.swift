import TandemTensor

/// One concrete change of a grayscale image, applied to its stored 8-bit
/// pixels: an intensity map (gamma, then contrast about mid-grey, then
/// brightness), an affine warp about the centre (zoom, rotation, shift) with
/// bilinear sampling and edge replication, an optional loss of resolution,
/// a blur or sharpening, and Gaussian noise. The result is in [0, 1].
///
/// Training draws one per (seed, epoch, sample) from `ImageAugmentation`;
/// robustness checks use the fixed, named ones of `ImageTransform.shifts`.
/// Only correctly rounded IEEE operations are used (sine, cosine, logarithm
/// and exponential come from `PortableMath`), so a transform gives the same
/// bits on every machine.
public struct ImageTransform: Sendable, Equatable {
  /// Output side / source side: above 1 zooms in (crops), below 1 zooms out.
  public var scale: Double = 1
  /// Radians; positive turns the image clockwise as displayed (rows run downwards).
  public var rotation: Double = 0
  /// Translation as a fraction of the side (x to the right, y down).
  public var shiftX: Double = 0
  public var shiftY: Double = 0
  /// Exponent applied to pixel values in [0, 1]: above 1 darkens.
  public var gamma: Double = 1
  /// Factor about mid-grey.
  public var contrast: Double = 1
  /// Added after contrast, in units of the full range.
  public var brightness: Double = 0
  /// Unsharp-mask amount with a 3 x 3 box blur: positive sharpens, -1 is the blur itself.
  public var sharpness: Double = 0
  /// Box-downsample by this integer factor and interpolate back up (1: none).
  public var resample: Int = 1
  /// Standard deviation of added Gaussian noise, in units of the full range.
  public var noise: Double = 0
  /// Seeds the noise.
  public var noiseSeed: UInt64 = 0

  public init(scale: Double = 1, rotation: Double = 0, shiftX: Double = 0, shiftY: Double = 0, gamma: Double = 1,
              contrast: Double = 1, brightness: Double = 0, sharpness: Double = 0, resample: Int = 1,
              noise: Double = 0, noiseSeed: UInt64 = 0) {
    self.scale = scale
    self.rotation = rotation
    self.shiftX = shiftX
    self.shiftY = shiftY
    self.gamma = gamma
    self.contrast = contrast
    self.brightness = brightness
    self.sharpness = sharpness
    self.resample = resample
    self.noise = noise
    self.noiseSeed = noiseSeed
  }

  public static let identity = ImageTransform()

  var isGeometric: Bool { scale != 1 || rotation != 0 || shiftX != 0 || shiftY != 0 }

  /// Writes the changed `side` x `side` image `pixels` into `output`, values in [0, 1].
  public func apply(_ pixels: UnsafePointer<UInt8>, side: Int, into output: UnsafeMutablePointer<Float>) {
    let count = side * side
    // Intensity first, on the 256 stored levels: one table per image.
    var levels = [Float](repeating: 0, count: 256)
    for v in 0..<256 {
      var x = Double(v) / 255
      if gamma != 1 && x > 0 { x = PortableMath.exp(gamma * PortableMath.log(x)) }
      x = (x - 0.5) * contrast + 0.5 + brightness
      levels[v] = Float(min(1, max(0, x)))
    }
    var image = [Float](repeating: 0, count: count)
    for k in 0..<count { image[k] = levels[Int(pixels[k])] }
    if isGeometric { image = warp(image, side: side) }
    if resample > 1 { image = Self.resampled(image, side: side, factor: resample) }
    if sharpness != 0 { image = Self.sharpened(image, side: side, amount: Float(sharpness)) }
    var generator = SeededGenerator(seed: noiseSeed)
    let sigma = Float(noise)
    for k in 0..<count {
      var x = image[k]
      if sigma > 0 { x += sigma * Self.nearNormal(generator.next()) }
      output[k] = min(1, max(0, x))
    }
  }

  /// A variate of mean 0 and variance 1 from one 64-bit draw: the sum of
  /// four 16-bit uniforms, rescaled (Irwin–Hall; near enough to Gaussian for
  /// sensor noise, and a sixth of the cost of a polar-method normal per pixel).
  @inline(__always)
  static func nearNormal(_ bits: UInt64) -> Float {
    let sum = (bits & 0xFFFF) + (bits >> 16 & 0xFFFF) + (bits >> 32 & 0xFFFF) + (bits >> 48)
    return (Float(sum) / 65535 - 2) * 1.7320508
  }

  /// Inverse-maps each output pixel to the source and samples it bilinearly.
  private func warp(_ image: [Float], side: Int) -> [Float] {
    let c = Float(side - 1) / 2
    let cosine = Float(PortableMath.cos(rotation) / scale), sine = Float(PortableMath.sin(rotation) / scale)
    let tx = Float(shiftX) * Float(side), ty = Float(shiftY) * Float(side)
    var out = [Float](repeating: 0, count: side * side)
    for i in 0..<side {
      let y = Float(i) - c - ty
      for j in 0..<side {
        let x = Float(j) - c - tx
        // The inverse of rotating by +rotation and scaling by `scale`.
        let u = cosine * x + sine * y + c
        let v = cosine * y - sine * x + c
        out[i * side + j] = Self.bilinear(image, side: side, x: u, y: v)
      }
    }
    return out
  }

  @inline(__always)
  static func bilinear(_ image: [Float], side: Int, x: Float, y: Float) -> Float {
    let limit = Float(side - 1)
    let cx = min(limit, max(0, x)), cy = min(limit, max(0, y))
    let x0 = Int(cx), y0 = Int(cy)
    let x1 = min(x0 + 1, side - 1), y1 = min(y0 + 1, side - 1)
    let fx = cx - Float(x0), fy = cy - Float(y0)
    let top = image[y0 * side + x0] * (1 - fx) + image[y0 * side + x1] * fx
    let bottom = image[y1 * side + x0] * (1 - fx) + image[y1 * side + x1] * fx
    return top * (1 - fy) + bottom * fy
  }

  /// The image as a detector with `factor` times coarser pixels would see it.
  static func resampled(_ image: [Float], side: Int, factor: Int) -> [Float] {
    let small = (side + factor - 1) / factor
    var coarse = [Float](repeating: 0, count: small * small)
    for i in 0..<small {
      for j in 0..<small {
        var sum: Float = 0, n: Float = 0
        for di in 0..<factor where i * factor + di < side {
          for dj in 0..<factor where j * factor + dj < side {
            sum += image[(i * factor + di) * side + j * factor + dj]
            n += 1
          }
        }
        coarse[i * small + j] = sum / n
      }
    }
    var out = [Float](repeating: 0, count: side * side)
    let step = Float(factor)
    for i in 0..<side {
      for j in 0..<side {
        out[i * side + j] = bilinear(coarse, side: small, x: (Float(j) + 0.5) / step - 0.5, y: (Float(i) + 0.5) / step - 0.5)
      }
    }
    return out
  }

  /// `image + amount · (image − blur3x3(image))`, edges replicated.
  static func sharpened(_ image: [Float], side: Int, amount: Float) -> [Float] {
    var out = [Float](repeating: 0, count: side * side)
    for i in 0..<side {
      for j in 0..<side {
        var sum: Float = 0
        for di in -1...1 {
          let r = min(side - 1, max(0, i + di))
          for dj in -1...1 { sum += image[r * side + min(side - 1, max(0, j + dj))] }
        }
        let v = image[i * side + j]
        out[i * side + j] = v + amount * (v - sum / 9)
      }
    }
    return out
  }
}

extension ImageTransform {
  /// Fixed changes of acquisition a model should shrug off: what
  /// `tandem evaluate --shift` applies to a split to see how far the
  /// metrics and the tuned threshold move. Magnitudes are those seen between
  /// X-ray machines and exposure settings, not adversarial ones.
  public static let shifts: [(name: String, transform: ImageTransform)] = [
    ("contrast-low", ImageTransform(contrast: 0.75)),
    ("contrast-high", ImageTransform(contrast: 1.3)),
    ("gamma-dark", ImageTransform(gamma: 1.5)),
    ("gamma-light", ImageTransform(gamma: 0.67)),
    ("brighter", ImageTransform(brightness: 0.08)),
    ("darker", ImageTransform(brightness: -0.08)),
    ("blur", ImageTransform(sharpness: -1)),
    ("sharpen", ImageTransform(sharpness: 1.5)),
    ("zoom-in", ImageTransform(scale: 1.15)),
    ("zoom-out", ImageTransform(scale: 0.87)),
    ("shift", ImageTransform(shiftX: 0.06, shiftY: 0.04)),
    ("rotate", ImageTransform(rotation: 7 * Double.pi / 180)),
    ("half-resolution", ImageTransform(resample: 2)),
    ("noise", ImageTransform(noise: 0.03, noiseSeed: 7)),
  ]

  /// The named shift, or nil.
  public static func shift(named name: String) -> ImageTransform? {
    shifts.first { $0.name == name }?.transform
  }
}

/// Random changes for training, each drawn uniformly from its range per
/// (seed, epoch, sample): the same sample gets the same change in an epoch
/// on any number of ranks, and a different one each epoch. All zero: none.
public struct ImageAugmentation: Sendable, Equatable, Codable {
  /// Largest translation, as a fraction of the side.
  public var shift: Double = 0
  /// Zoom in [1 − zoom, 1 + zoom].
  public var zoom: Double = 0
  /// Largest rotation, in degrees.
  public var rotation: Double = 0
  /// Largest brightness change, in units of the full range.
  public var brightness: Double = 0
  /// Contrast factor in [1 − contrast, 1 + contrast].
  public var contrast: Double = 0
  /// Gamma in [e^−gamma, e^gamma].
  public var gamma: Double = 0
  /// Largest standard deviation of added noise, in units of the full range.
  public var noise: Double = 0
  /// Unsharp-mask amount in [−sharpness, sharpness]: negative blurs (−1: a 3 x 3 box blur).
  public var sharpness: Double = 0
  /// The probability of seeing the image at half resolution (a coarser detector or a resized file).
  public var lowResolution: Double = 0

  public init(shift: Double = 0, zoom: Double = 0, rotation: Double = 0, brightness: Double = 0, contrast: Double = 0,
              gamma: Double = 0, noise: Double = 0, sharpness: Double = 0, lowResolution: Double = 0) {
    self.shift = shift
    self.zoom = zoom
    self.rotation = rotation
    self.brightness = brightness
    self.contrast = contrast
    self.gamma = gamma
    self.noise = noise
    self.sharpness = sharpness
    self.lowResolution = lowResolution
  }

  public static let none = ImageAugmentation()
  public var isNone: Bool { self == .none }

  /// The change for `sample` (its index in the dataset) in `epoch` of a run seeded `seed`.
  public func transform(seed: UInt64, epoch: Int, sample: Int) -> ImageTransform {
    // Distinct odd multipliers keep (seed, epoch, sample) triples apart
    // before SplitMix64 scrambles them.
    var g = SeededGenerator(seed: seed &* 0x9E37_79B9_7F4A_7C15 ^ UInt64(epoch + 1) &* 0xC2B2_AE3D_27D4_EB4F
                              ^ UInt64(sample + 1) &* 0x1656_67B1_9E37_79F9)
    func uniform(_ radius: Double) -> Double { (2 * g.nextUniform() - 1) * radius }
    var t = ImageTransform()
    t.scale = 1 + uniform(zoom)
    t.rotation = uniform(rotation) * Double.pi / 180
    t.shiftX = uniform(shift)
    t.shiftY = uniform(shift)
    t.gamma = PortableMath.exp(uniform(gamma))
    t.contrast = 1 + uniform(contrast)
    t.brightness = uniform(brightness)
    t.noise = noise * g.nextUniform()
    t.noiseSeed = g.next()
    // Drawn last, so the draws above are those of runs from before these existed.
    t.sharpness = uniform(sharpness)
    t.resample = g.nextUniform() < lowResolution ? 2 : 1
    return t
  }
}
