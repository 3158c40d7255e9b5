import Foundation
import Testing
import TandemData
import TandemTensor

/// A 16 x 16 test card: a gradient with a bright square off centre.
private func card(side: Int = 16) -> [UInt8] {
  (0..<side * side).map { k in
    let i = k / side, j = k % side
    return (3...6).contains(i) && (9...12).contains(j) ? 250 : UInt8(j * 8 + i * 4)
  }
}

private func applied(_ t: ImageTransform, _ pixels: [UInt8], side: Int = 16) -> [Float] {
  var out = [Float](repeating: -1, count: side * side)
  pixels.withUnsafeBufferPointer { p in out.withUnsafeMutableBufferPointer { t.apply(p.baseAddress!, side: side, into: $0.baseAddress!) } }
  return out
}

@Test func theIdentityTransformOnlyScalesPixelsToTheUnitRange() {
  let pixels = card()
  let out = applied(.identity, pixels)
  for (p, v) in zip(pixels, out) { #expect(v == Float(Double(p) / 255)) }
}

@Test func aShiftOfOnePixelMovesTheImageByOnePixel() {
  let pixels = card()
  let out = applied(ImageTransform(shiftX: 1.0 / 16), pixels)
  let plain = applied(.identity, pixels)
  for i in 0..<16 {
    for j in 1..<16 { #expect(abs(out[i * 16 + j] - plain[i * 16 + j - 1]) < 1e-6, "row \(i) column \(j)") }
    #expect(out[i * 16] == plain[i * 16], "the edge is replicated")
  }
}

@Test func aQuarterTurnRotatesTheImage() {
  let pixels = card()
  let out = applied(ImageTransform(rotation: Double.pi / 2), pixels)
  let plain = applied(.identity, pixels)
  // Clockwise as displayed (rows run down): source (r, c) lands at (c, 15 − r),
  // so the square top right moves to the bottom right.
  let bright = out.indices.filter { out[$0] > 0.9 }.map { ($0 / 16, $0 % 16) }
  let source = plain.indices.filter { plain[$0] > 0.9 }.map { ($0 / 16, $0 % 16) }
  #expect(bright.count == source.count)
  #expect(Set(bright.map { "\($0.0),\($0.1)" }) == Set(source.map { "\($0.1),\(15 - $0.0)" }))
}

@Test func intensityChangesFollowTheirDefinitions() {
  let pixels: [UInt8] = Array(repeating: 51, count: 4)  // 0.2
  #expect(abs(applied(ImageTransform(gamma: 2), pixels, side: 2)[0] - 0.04) < 1e-6)
  #expect(abs(applied(ImageTransform(contrast: 2), pixels, side: 2)[0] - 0.0) < 1e-6)  // (0.2 − 0.5)·2 + 0.5 < 0, clamped
  #expect(abs(applied(ImageTransform(brightness: 0.1), pixels, side: 2)[0] - 0.3) < 1e-6)
  // Blur and sharpening leave a flat image flat; noise does not, and stays in range.
  #expect(applied(ImageTransform(sharpness: 1.5, resample: 2), pixels, side: 2).allSatisfy { abs($0 - 0.2) < 1e-6 })
  let noisy = applied(ImageTransform(noise: 0.2, noiseSeed: 3), card())
  #expect(Set(noisy).count > 200 && noisy.allSatisfy { (0...1).contains($0) })
}

@Test func augmentationIsAFunctionOfSeedEpochAndSample() {
  let a = ImageAugmentation(shift: 0.1, zoom: 0.1, rotation: 10, brightness: 0.1, contrast: 0.2, gamma: 0.3, noise: 0.02)
  #expect(a.transform(seed: 1, epoch: 2, sample: 3) == a.transform(seed: 1, epoch: 2, sample: 3))
  #expect(a.transform(seed: 1, epoch: 2, sample: 3) != a.transform(seed: 1, epoch: 3, sample: 3))
  #expect(a.transform(seed: 1, epoch: 2, sample: 3) != a.transform(seed: 1, epoch: 2, sample: 4))
  #expect(a.transform(seed: 1, epoch: 2, sample: 3) != a.transform(seed: 2, epoch: 2, sample: 3))
  // Every draw within its range.
  for sample in 0..<200 {
    let t = a.transform(seed: 9, epoch: 0, sample: sample)
    #expect(abs(t.scale - 1) <= 0.1 && abs(t.rotation) <= 10 * Double.pi / 180 && abs(t.shiftX) <= 0.1 && abs(t.shiftY) <= 0.1)
    #expect(t.gamma >= exp(-0.3) - 1e-12 && t.gamma <= exp(0.3) + 1e-12 && abs(t.contrast - 1) <= 0.2 && t.noise <= 0.02)
  }
  #expect(ImageAugmentation.none.isNone && !a.isNone)
}

/// The committed digest of one augmented card: any change to how transforms
/// are drawn or applied changes training results, so it must be deliberate.
@Test func anAugmentedImageHasTheCommittedBits() {
  let a = ImageAugmentation(shift: 0.1, zoom: 0.1, rotation: 10, brightness: 0.1, contrast: 0.2, gamma: 0.3, noise: 0.02)
  let out = applied(a.transform(seed: 5, epoch: 1, sample: 42), card())
  var hash: UInt64 = 0xcbf2_9ce4_8422_2325
  for v in out { hash = (hash ^ UInt64(v.bitPattern)) &* 0x100_0000_01b3 }
  #expect(String(hash, radix: 16) == "f15c104197b2bf52")
}

@Test func portableSineAndCosineMatchTheCLibrary() {
  for k in -400...400 {
    let x = Double(k) * 0.0173
    #expect(abs(PortableMath.sin(x) - sin(x)) < 2e-15 && abs(PortableMath.cos(x) - cos(x)) < 2e-15, "x = \(x)")
  }
}

@Test func everyNamedShiftChangesAnImage() {
  let plain = applied(.identity, card())
  for shift in ImageTransform.shifts {
    #expect(applied(shift.transform, card()) != plain, "\(shift.name)")
    #expect(ImageTransform.shift(named: shift.name) == shift.transform)
  }
  #expect(ImageTransform.shift(named: "nonsense") == nil)
}
