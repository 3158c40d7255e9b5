import Foundation
import Testing
import TandemData

@Suite struct ImageDecodingTests {
  @Test(.enabled(if: Fixtures.hasSharedData))
  func decodesFullResolutionOneChannelJPEGsWithEXIF() throws {
    let decoder = ImageDecoder()
    let image = try decoder.decode(contentsOf: Fixtures.xrayFullResolution + "/NORMAL/NORMAL2-IM-1427-0001.jpeg")
    #expect(image.width == 1776 && image.height == 1416)
    var count = 0
    for cls in ["NORMAL", "PNEUMONIA"] {
      for name in Fixtures.contents(Fixtures.xrayFullResolution + "/" + cls) {
        let path = Fixtures.xrayFullResolution + "/" + cls + "/" + name
        let full = try decoder.decode(contentsOf: path)
        #expect(full.width >= 968 && full.height >= 592)
        // DCT-scaled decoding then area resize agrees with full decoding then area resize.
        let fast = try decoder.decode(contentsOf: path, minimumSide: 128).resized(width: 128, height: 128)
        let exact = full.resized(width: 128, height: 128)
        let meanDifference = zip(fast.pixels, exact.pixels).map { abs(Int($0) - Int($1)) }.reduce(0, +) / (128 * 128)
        #expect(meanDifference <= 2, "\(name): mean difference \(meanDifference)")
        count += 1
      }
    }
    #expect(count == 16)
  }

  @Test(.enabled(if: Fixtures.hasSharedData))
  func decodesThreeChannelJPEGToItsLuma() throws {
    let image = try ImageDecoder().decode(contentsOf: Fixtures.xrayTrain + "/NORMAL/IM-0115-0001.jpeg")
    #expect(image.width == 224 && image.height == 224)
    #expect(Set(image.pixels).count > 50)
  }

  @Test(arguments: [false, true])
  func jpegRoundTripKeepsGrayValues(rgb: Bool) throws {
    let original = Fixtures.gradient(width: 64, height: 48, seed: 3)
    let bytes = try ImageEncoder.jpeg(original, quality: 98, rgb: rgb)
    let decoded = try bytes.withUnsafeBytes { try ImageDecoder().decode($0, path: "mem.jpeg") }
    #expect(decoded.width == 64 && decoded.height == 48)
    let worst = zip(decoded.pixels, original.pixels).map { abs(Int($0) - Int($1)) }.max()!
    #expect(worst <= 12)
  }

  @Test(arguments: [false, true])
  func pngRoundTripIsExact(rgb: Bool) throws {
    let original = Fixtures.gradient(width: 33, height: 17, seed: 5)
    let path = Fixtures.folder() + "/image.png"
    try ImageEncoder.writePNG(original, to: path, rgb: rgb)
    let decoded = try ImageDecoder().decode(contentsOf: path)
    let worst = zip(decoded.pixels, original.pixels).map { abs(Int($0) - Int($1)) }.max()!
    #expect(worst <= (rgb ? 1 : 0))
  }

  @Test func truncatedJPEGIsAnErrorNamingTheFile() throws {
    let bytes = try ImageEncoder.jpeg(Fixtures.gradient(width: 64, height: 64, seed: 1))
    let truncated = Array(bytes.prefix(bytes.count / 2))
    let error = #expect(throws: ImageError.self) {
      try truncated.withUnsafeBytes { try ImageDecoder().decode($0, path: "cut.jpeg") }
    }
    #expect(error?.description.hasPrefix("cut.jpeg: cannot decode JPEG") == true)
  }

  @Test func nonImageBytesAreAnErrorNamingTheFile() throws {
    let error = #expect(throws: ImageError.self) {
      try Array("hello,world\n".utf8).withUnsafeBytes { try ImageDecoder().decode($0, path: "notes.jpeg") }
    }
    #expect(error?.description == "notes.jpeg: not a JPEG or PNG image")
  }

  @Test func areaResizeAveragesBlocksAndKeepsConstants() {
    let constant = GrayImage(width: 37, height: 23, pixels: [UInt8](repeating: 91, count: 37 * 23))
    #expect(constant.resized(width: 8, height: 8).pixels.allSatisfy { $0 == 91 })
    #expect(constant.resized(width: 50, height: 60).pixels.allSatisfy { $0 == 91 })
    let image = Fixtures.gradient(width: 8, height: 6, seed: 2)
    let half = image.resized(width: 4, height: 3)
    for y in 0..<3 {
      for x in 0..<4 {
        let block = [image.pixels[(2 * y) * 8 + 2 * x], image.pixels[(2 * y) * 8 + 2 * x + 1],
                     image.pixels[(2 * y + 1) * 8 + 2 * x], image.pixels[(2 * y + 1) * 8 + 2 * x + 1]]
        let average = (Double(block.map(Int.init).reduce(0, +)) / 4).rounded()
        #expect(abs(Double(half.pixels[y * 4 + x]) - average) <= 0.5)
      }
    }
  }
}
