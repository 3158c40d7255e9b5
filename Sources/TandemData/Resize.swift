extension GrayImage {
  /// Resizes to `width` x `height`, each axis on its own: an area (box) filter
  /// where the axis shrinks, which averages every source pixel with weight
  /// equal to its overlap, and bilinear interpolation between pixel centres
  /// where it grows. The aspect ratio is not kept: an X-ray is squeezed to a
  /// square, as the public 224 x 224 copy of the data set already is.
  ///
  /// Separable, in Float, rounded to nearest once at the end, so the result
  /// depends only on the input (no threads inside).
  public func resized(width outWidth: Int, height outHeight: Int) -> GrayImage {
    precondition(outWidth > 0 && outHeight > 0, "resize to \(outWidth)x\(outHeight)")
    if outWidth == width && outHeight == height { return self }
    let horizontal = ResampleWeights(source: width, destination: outWidth)
    let vertical = ResampleWeights(source: height, destination: outHeight)
    // Pass 1: rows. [height, width] -> [height, outWidth]
    var rows = [Float](repeating: 0, count: height * outWidth)
    pixels.withUnsafeBufferPointer { src in
      rows.withUnsafeMutableBufferPointer { dst in
        for y in 0..<height {
          let srcRow = y * width, dstRow = y * outWidth
          for x in 0..<outWidth {
            var sum: Float = 0
            for k in horizontal.range(x) { sum += Float(src[srcRow + horizontal.index[k]]) * horizontal.weight[k] }
            dst[dstRow + x] = sum
          }
        }
      }
    }
    // Pass 2: columns. [height, outWidth] -> [outHeight, outWidth]
    let count = outWidth * outHeight
    let out = [UInt8](unsafeUninitializedCapacity: count) { dst, initialized in
      var accumulator = [Float](repeating: 0, count: outWidth)
      rows.withUnsafeBufferPointer { src in
        for y in 0..<outHeight {
          for i in 0..<outWidth { accumulator[i] = 0 }
          for k in vertical.range(y) {
            let w = vertical.weight[k], base = vertical.index[k] * outWidth
            for x in 0..<outWidth { accumulator[x] += src[base + x] * w }
          }
          for x in 0..<outWidth {
            dst[y * outWidth + x] = UInt8(max(0, min(255, (accumulator[x]).rounded())))
          }
        }
      }
      initialized = count
    }
    return GrayImage(width: outWidth, height: outHeight, pixels: out)
  }
}

/// For each destination pixel along one axis, the source pixels and weights
/// (summing to 1) that make it, stored flat: entries `start[i]..<start[i+1]`.
struct ResampleWeights {
  var start: [Int] = [0]
  var index: [Int] = []
  var weight: [Float] = []

  func range(_ i: Int) -> Range<Int> { start[i]..<start[i + 1] }

  init(source: Int, destination: Int) {
    let scale = Double(source) / Double(destination)
    for d in 0..<destination {
      if scale > 1 {
        // Area: destination pixel d covers source interval [d*scale, (d+1)*scale).
        let lo = Double(d) * scale, hi = Double(d + 1) * scale
        var s = Int(lo.rounded(.down))
        var entries: [(Int, Double)] = []
        while Double(s) < hi && s < source {
          let overlap = min(hi, Double(s + 1)) - max(lo, Double(s))
          if overlap > 1e-9 { entries.append((s, overlap)) }
          s += 1
        }
        let total = entries.reduce(0) { $0 + $1.1 }
        for (s, w) in entries { index.append(s); weight.append(Float(w / total)) }
      } else {
        // Bilinear between pixel centres, clamped at the edges.
        let centre = (Double(d) + 0.5) * scale - 0.5
        let left = Int(centre.rounded(.down))
        let t = centre - Double(left)
        let a = min(max(left, 0), source - 1), b = min(max(left + 1, 0), source - 1)
        if a == b || t == 0 {
          index.append(a); weight.append(1)
        } else {
          index.append(a); weight.append(Float(1 - t))
          index.append(b); weight.append(Float(t))
        }
      }
      start.append(index.count)
    }
  }
}
