import Foundation
import Testing
import TandemData
import TandemExplain
import TandemNN
import TandemTensor
import TandemRun
import TandemTraining

/// A score that is the sum of the pixels in rows 8..<16, columns 4..<12: hiding
/// a patch lowers it by exactly the sum of the hidden pixels inside that window,
/// which checks placement and batching (7 images a batch does not divide 169 positions).
@Test func occlusionDropsAreTheHiddenSignal() {
  let size = 32
  let image = Tensor(uncheckedShape: [1, size, size], scalars: (0..<(size * size)).map { Float($0 % 7) + 1 })
  func inWindow(_ p: Int) -> Bool { (8..<16).contains(p / size) && (4..<12).contains(p % size) }
  let map = Occlusion.map(image: image, patch: 4, stride: 2, batch: 7) { batch in
    (0..<batch.shape[0]).map { n in (0..<(size * size)).filter(inWindow).reduce(Float(0)) { $0 + batch.scalars[n * size * size + $1] } }
  }
  #expect(map.offsets == Array(stride(from: 0, through: 28, by: 2)))
  #expect(map.drops.count == 15 * 15)
  for (i, y) in map.offsets.enumerated() {
    for (k, x) in map.offsets.enumerated() {
      var hidden: Float = 0
      for row in y..<(y + 4) { for column in x..<(x + 4) where inWindow(row * size + column) { hidden += image.scalars[row * size + column] } }
      #expect(map.drops[i * 15 + k] == hidden, "patch at \(y), \(x)")
    }
  }
  #expect(map.heat[0] == 0 && map.heat[12 * size + 8] > 0)
  #expect(Occlusion.offsets(size: 30, patch: 4, stride: 4) == [0, 4, 8, 12, 16, 20, 24, 26])
}

/// xray-cnn at 32 x 32 with weights set by hand to detect bright pixels:
/// conv1 passes ReLU(x − 1) on channel 0 (noise rarely exceeds 1, the disc
/// does), later convolutions and fc1 pass channel 0 on, so the pooled value
/// is the mean over 4 x 4 blocks of the brightest pixel; fc2 turns it into a
/// logit of 2 for the image. Hiding the disc should cost the most.
@Test func occlusionHeatmapPeaksInsideTheDisc() throws {
  let size = 32
  let model = try Model.reference(.xrayCNN, imageSize: size, seed: 1)
  for p in model.parameters { p.value = Tensor(zeros: p.value.shape) }
  for layer in model.layers {
    if let conv = layer as? Conv2D {
      conv.weight.value.scalars[4] = 1  // [0, 0, 1, 1]: channel 0 to channel 0, centre tap
      if conv.name == "conv1" { conv.bias.value.scalars[0] = -1 }
    } else if let dense = layer as? Dense, dense.name == "fc1" {
      dense.weight.value.scalars[0] = 1
    }
  }
  let images = SyntheticData.images(count: 2, size: size, seed: 7)
  #expect(images.labels[1] == 1)
  let image = Tensor(uncheckedShape: [1, size, size], scalars: Array(images.input.scalars[(size * size)...]))
  let fc2 = try #require(model.layers.last as? Dense)
  fc2.weight.value.scalars[64] = 1  // class 1 reads the pooled value
  let pooled = try model.forward(Tensor(uncheckedShape: [1, 1, size, size], scalars: image.scalars)).scalars[1]
  #expect(pooled > 0)
  fc2.weight.value.scalars[64] = 4 / pooled
  fc2.bias.value.scalars[1] = -2  // logit 4 - 2 = 2 on the image, p = 0.88
  func positive(_ batch: Tensor) throws -> [Float] {
    let p = try model.probabilities(batch)
    return (0..<batch.shape[0]).map { p.scalars[2 * $0 + 1] }
  }

  // The disc, found from the image alone: the brightest 9 x 9 window.
  var centre = (row: 0, column: 0), brightest = -Float.infinity
  for y in 4..<(size - 4) {
    for x in 4..<(size - 4) {
      var sum: Float = 0
      for row in (y - 4)...(y + 4) { for column in (x - 4)...(x + 4) { sum += image.scalars[row * size + column] } }
      if sum > brightest { (brightest, centre) = (sum, (y, x)) }
    }
  }
  let radius = Float(size) / 6  // SyntheticData's disc radius

  // A patch that can hide the whole disc: max pooling ignores a partly hidden one.
  let map = try Occlusion.map(image: image, patch: 12, stride: 2, score: positive)
  #expect(abs(map.score - 0.88) < 0.01)
  let hottest = map.heat.indices.max { map.heat[$0] < map.heat[$1] }!
  let dy = Float(hottest / size - centre.row), dx = Float(hottest % size - centre.column)
  #expect((dy * dy + dx * dx).squareRoot() < radius, "heat peaks at \(hottest / size), \(hottest % size); disc at \(centre)")
  let patch = map.hottest
  #expect(patch.drop > 0.3, "hiding the disc lowers p by \(patch.drop)")
  // Patches that miss the disc entirely cost far less.
  var away: Float = -1
  for (i, y) in map.offsets.enumerated() {
    for (k, x) in map.offsets.enumerated() {
      let nearestRow = Float(min(max(centre.row, y), y + 11)), nearestColumn = Float(min(max(centre.column, x), x + 11))
      let distance = ((nearestRow - Float(centre.row)) * (nearestRow - Float(centre.row))
                      + (nearestColumn - Float(centre.column)) * (nearestColumn - Float(centre.column))).squareRoot()
      if distance > radius + 1 { away = max(away, map.drops[i * map.offsets.count + k]) }
    }
  }
  #expect(away >= 0 && away < patch.drop / 3, "largest drop away from the disc \(away), at it \(patch.drop)")
  #expect(Float(patch.row) <= Float(centre.row) && Float(centre.row) < Float(patch.row + 12))
  #expect(Float(patch.column) <= Float(centre.column) && Float(centre.column) < Float(patch.column + 12))
}

@Test func heatmapPNGDecodesAtTheImageSize() throws {
  let (width, height) = (40, 24)
  let gray = GrayImage(width: width, height: height, pixels: (0..<(width * height)).map { UInt8($0 % 200) })
  var heat = [Float](repeating: -0.1, count: width * height)
  for row in 4..<10 { for column in 20..<30 { heat[row * width + column] = 0.3 } }
  let path = NSTemporaryDirectory() + "tandem-explain-heatmap-\(getpid()).png"
  defer { unlink(path) }
  try HeatmapOverlay.write(gray, heat: heat, to: path)
  let bytes = try #require(FileManager.default.contents(atPath: path))
  #expect(bytes[25] == 2, "IHDR colour type \(bytes[25]), expected 2 (RGB)")
  let decoded = try ImageDecoder().decode(contentsOf: path)
  #expect(decoded.width == width && decoded.height == height)
  // Cold pixels keep their gray; hot ones are blended towards yellow.
  #expect(abs(Int(decoded.pixels[0]) - Int(gray.pixels[0])) <= 1)
  #expect(abs(Int(decoded.pixels[5 * width + 21]) - Int(gray.pixels[5 * width + 21])) > 10)
  let rgb = HeatmapOverlay.render(gray, heat: heat)
  let hot = 3 * (5 * width + 21)
  #expect(rgb[hot] > rgb[hot + 2] && rgb[hot + 1] > rgb[hot + 2], "hot pixel \(rgb[hot..<hot + 3])")
  let folder = (path as NSString).deletingLastPathComponent
  #expect(try FileManager.default.contentsOfDirectory(atPath: folder).allSatisfy { !$0.contains(".tmp-") }, "a temporary file was left")
}
