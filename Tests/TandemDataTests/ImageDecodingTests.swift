import Foundation
import Testing
import TandemData

@Suite struct ImageDecodingTests {
  @Test(.enabled(if: Fixtures.hasSharedData, "needs the real data of ../shared/data (or TANDEM_SHARED_DATA)"))
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

  @Test(.enabled(if: Fixtures.hasSharedData, "needs the real data of ../shared/data (or TANDEM_SHARED_DATA)"))
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

/// Forged and odd inputs are refused from what the header says, before any
/// allocation, and a FIFO never blocks the reader.
@Suite struct ImageLimitTests {
  static func crc32(_ bytes: [UInt8]) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for b in bytes {
      crc ^= UInt32(b)
      for _ in 0..<8 { crc = (crc >> 1) ^ (0xEDB8_8320 & (0 &- (crc & 1))) }
    }
    return ~crc
  }

  /// A PNG whose header claims `width` x `height` pixels, with one tiny IDAT.
  static func forgedPNG(width: UInt32, height: UInt32) -> [UInt8] {
    func bigEndian(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xff), UInt8(v >> 8 & 0xff), UInt8(v & 0xff)] }
    func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
      let body = Array(type.utf8) + data
      return bigEndian(UInt32(data.count)) + body + bigEndian(crc32(body))
    }
    let header = bigEndian(width) + bigEndian(height) + [8, 0, 0, 0, 0]
    return [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + chunk("IHDR", header)
      + chunk("IDAT", [0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]) + chunk("IEND", [])
  }

  @Test func aPNGClaimingTenGigapixelsIsRefusedBeforeAllocation() throws {
    let bytes = Self.forgedPNG(width: 100_000, height: 100_000)
    do {
      _ = try bytes.withUnsafeBytes { try ImageDecoder().decode($0, path: "huge.png") }
      Issue.record("a 100000 x 100000 PNG was decoded")
    } catch {
      #expect("\(error)" == "huge.png: the image claims 100000 x 100000 pixels, more than the decode limit of 67108864 (TANDEM_MAX_IMAGE_PIXELS)")
    }
    // A lower limit applies to ordinary sizes too.
    let small = Self.forgedPNG(width: 300, height: 300)
    #expect(throws: ImageError.self) { try small.withUnsafeBytes { try ImageDecoder(maximumPixels: 50_000).decode($0, path: "p.png") } }
  }

  @Test func aFIFOIsRefusedInsteadOfBlocking() throws {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("tandem-fifo-\(getpid()).png").path
    unlink(path)
    #expect(mkfifo(path, 0o600) == 0)
    defer { unlink(path) }
    do {
      _ = try ImageDecoder().decode(contentsOf: path)
      Issue.record("a FIFO was read as an image")
    } catch {
      #expect("\(error)".hasSuffix("not a regular file"), "\(error)")
    }
  }
}
