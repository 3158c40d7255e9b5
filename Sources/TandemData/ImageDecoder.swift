import CJPEG
import CPNG
import Foundation
import TandemSystem

/// An image that cannot be read or decoded. One line naming the file:
/// `xray/NORMAL/IM-0001.jpeg: cannot decode JPEG: Premature end of JPEG file`.
public enum ImageFailure: FileErrorKind {}
public typealias ImageError = FileError<ImageFailure>

/// An 8-bit grayscale image; `pixels` is `[height, width]`, rows top to bottom.
public struct GrayImage: Sendable, Equatable {
  public var width: Int
  public var height: Int
  public var pixels: [UInt8]

  public init(width: Int, height: Int, pixels: [UInt8]) {
    precondition(pixels.count == width * height, "GrayImage \(width)x\(height) given \(pixels.count) pixels")
    self.width = width
    self.height = height
    self.pixels = pixels
  }
}

/// Decodes JPEG with libjpeg-turbo's TurboJPEG API and PNG with libpng's
/// simplified API, straight to 8-bit grayscale.
///
/// Colour JPEGs are decoded to their luma (Y) plane, which is what a
/// grayscale conversion with the BT.601 weights gives; colour PNGs go through
/// libpng's own RGB-to-gray conversion, and alpha is composited on black.
/// The format is chosen from the file's first bytes, not its name.
///
/// Holds a TurboJPEG handle, which is not thread-safe: use one decoder per thread.
public final class ImageDecoder {
  private let jpeg: tjhandle
  /// The most pixels an image may claim in its header; larger ones are refused
  /// before anything is allocated, so one forged upload cannot exhaust memory.
  public let maximumPixels: Int

  /// 64 Mi pixels (an 8192 x 8192 image), far above any chest X-ray; the
  /// environment variable `TANDEM_MAX_IMAGE_PIXELS` sets another limit.
  public static let defaultMaximumPixels = 1 << 26

  public static var configuredMaximumPixels: Int {
    ProcessInfo.processInfo.environment["TANDEM_MAX_IMAGE_PIXELS"].flatMap { Int($0) }.flatMap { $0 > 0 ? $0 : nil }
      ?? defaultMaximumPixels
  }

  public init(maximumPixels: Int = ImageDecoder.configuredMaximumPixels) {
    guard let handle = tjInitDecompress() else { fatalError("tjInitDecompress failed: out of memory") }
    jpeg = handle
    self.maximumPixels = maximumPixels
  }

  private func checkSize(width: Int, height: Int, path: String) throws(ImageError) {
    guard width.multipliedReportingOverflow(by: height).partialValue <= maximumPixels,
          width <= maximumPixels, height <= maximumPixels else {
      throw ImageError(path: path, message: "the image claims \(width) x \(height) pixels, more than the decode limit of "
                       + "\(maximumPixels) (TANDEM_MAX_IMAGE_PIXELS)")
    }
  }

  deinit { tjDestroy(jpeg) }

  public enum Format: Sendable { case jpeg, png }

  /// The format from the magic bytes, or nil for anything else.
  public static func format(of bytes: UnsafeRawBufferPointer) -> Format? {
    if bytes.count >= 3, bytes[0] == 0xFF, bytes[1] == 0xD8, bytes[2] == 0xFF { return .jpeg }
    let png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
    if bytes.count >= 8, zip(bytes.prefix(8), png).allSatisfy({ $0 == $1 }) { return .png }
    return nil
  }

  /// Decodes `bytes` (the contents of `path`, which is named in errors).
  ///
  /// With `minimumSide`, a large JPEG may be decoded at 1/2, 1/4 or 1/8 scale
  /// by libjpeg's DCT scaling, but never below twice `minimumSide` on either
  /// side, so a following area resize to `minimumSide` still averages at
  /// least 2x2 decoded pixels per output pixel. For a 1776 x 1416 X-ray going
  /// to 128 x 128 this skips most of the inverse DCT work.
  public func decode(_ bytes: UnsafeRawBufferPointer, path: String, minimumSide: Int? = nil) throws(ImageError) -> GrayImage {
    switch Self.format(of: bytes) {
    case .jpeg: return try decodeJPEG(bytes, path: path, minimumSide: minimumSide)
    case .png: return try decodePNG(bytes, path: path)
    case nil: throw ImageError(path: path, message: "not a JPEG or PNG image")
    }
  }

  /// Reads and decodes the file at `path`.
  public func decode(contentsOf path: String, minimumSide: Int? = nil) throws(ImageError) -> GrayImage {
    let bytes = try readFileBytes(path)
    let result = bytes.withUnsafeBytes { buffer -> Result<GrayImage, ImageError> in
      Result { () throws(ImageError) in try decode(buffer, path: path, minimumSide: minimumSide) }
    }
    return try result.get()
  }

  private func jpegMessage() -> String {
    guard let message = tjGetErrorStr2(jpeg) else { return "unknown TurboJPEG error" }
    return String(cString: message)
  }

  /// The corresponding C functions are `tjDecompressHeader3` and `tjDecompress2`.
  private func decodeJPEG(_ bytes: UnsafeRawBufferPointer, path: String, minimumSide: Int?) throws(ImageError) -> GrayImage {
    let source = bytes.baseAddress!.assumingMemoryBound(to: UInt8.self)
    var width: Int32 = 0, height: Int32 = 0, subsampling: Int32 = 0, colorspace: Int32 = 0
    guard tjDecompressHeader3(jpeg, source, UInt(bytes.count), &width, &height, &subsampling, &colorspace) == 0 else {
      throw ImageError(path: path, message: "cannot read JPEG header: \(jpegMessage())")
    }
    guard width > 0, height > 0 else { throw ImageError(path: path, message: "JPEG has no pixels") }
    try checkSize(width: Int(width), height: Int(height), path: path)
    var outWidth = width, outHeight = height
    if let minimumSide {
      var count: Int32 = 0
      if let factors = tjGetScalingFactors(&count) {
        // Factors come largest first; keep the smallest that stays at least 2x the target.
        for i in 0..<Int(count) where factors[i].num < factors[i].denom {
          let w = CJPEG_scaled(width, factors[i]), h = CJPEG_scaled(height, factors[i])
          if w >= 2 * Int32(minimumSide), h >= 2 * Int32(minimumSide), w * h < outWidth * outHeight,
             factors[i].num == 1 {
            outWidth = w
            outHeight = h
          }
        }
      }
    }
    let count = Int(outWidth) * Int(outHeight)
    var status: Int32 = 0
    let pixels = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
      // STOPONWARNING: a truncated or corrupt file is an error, not a grey-filled image.
      status = tjDecompress2(jpeg, source, UInt(bytes.count), buffer.baseAddress, outWidth, 0, outHeight,
                             Int32(TJPF_GRAY.rawValue), CJPEG_flag_accurate_dct() | CJPEG_flag_stop_on_warning())
      initialized = count
    }
    guard status == 0 else { throw ImageError(path: path, message: "cannot decode JPEG: \(jpegMessage())") }
    return GrayImage(width: Int(outWidth), height: Int(outHeight), pixels: pixels)
  }

  /// The corresponding C functions are `png_image_begin_read_from_memory` and `png_image_finish_read`.
  private func decodePNG(_ bytes: UnsafeRawBufferPointer, path: String) throws(ImageError) -> GrayImage {
    var image = png_image()
    image.version = CPNG_image_version()
    defer { png_image_free(&image) }
    guard png_image_begin_read_from_memory(&image, bytes.baseAddress, bytes.count) != 0 else {
      throw ImageError(path: path, message: "cannot read PNG header: \(String(cString: CPNG_image_message(&image)))")
    }
    image.format = CPNG_format_gray()
    let width = Int(image.width), height = Int(image.height)
    guard width > 0, height > 0 else { throw ImageError(path: path, message: "PNG has no pixels") }
    try checkSize(width: width, height: height, path: path)
    var pixels = [UInt8](repeating: 0, count: width * height)  // black background under any alpha
    let ok = pixels.withUnsafeMutableBytes { png_image_finish_read(&image, nil, $0.baseAddress, 0, nil) }
    guard ok != 0 else {
      throw ImageError(path: path, message: "cannot decode PNG: \(String(cString: CPNG_image_message(&image)))")
    }
    return GrayImage(width: width, height: height, pixels: pixels)
  }
}

/// `path` opened for reading, and its size, when it is a regular file. The
/// open does not block, so a FIFO in its place is refused, not waited on.
func openRegularFile(_ path: String) throws(ImageError) -> (file: SystemFile, size: Int) {
  let file: SystemFile
  do { file = try SystemFile(opening: path, O_RDONLY | O_NONBLOCK) } catch {
    throw ImageError(path: path, message: "cannot open: \(error)")
  }
  let status: FileStatus
  do { status = try file.status() } catch { throw ImageError(path: path, message: "cannot stat: \(error)") }
  guard status.kind == .regular else { throw ImageError(path: path, message: "not a regular file") }
  file.makeBlocking()
  return (file, status.size)
}

/// The whole file, or an `ImageError` naming it. Only regular files are
/// read: a FIFO or device would block or never end.
public func readFileBytes(_ path: String) throws(ImageError) -> [UInt8] {
  let (file, size) = try openRegularFile(path)
  let bytes: [UInt8]
  do { bytes = try file.read(count: size, at: 0) } catch { throw ImageError(path: path, message: "cannot read: \(error)") }
  guard !bytes.isEmpty else { throw ImageError(path: path, message: "empty file") }
  return bytes
}
