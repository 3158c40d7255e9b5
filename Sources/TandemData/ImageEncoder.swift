import CJPEG
import CPNG
import Foundation

/// Writes images as JPEG (TurboJPEG `tjCompress2`) or PNG (libpng's
/// `png_image_write_to_file`). Ingest never encodes; this exists so tests and
/// tools can make real image files (1- or 3-channel, a changed pixel)
/// without another image library.
public enum ImageEncoder {
  /// JPEG bytes of `image`; with `rgb`, as a 3-channel (YCbCr) file whose
  /// channels all hold the gray value.
  public static func jpeg(_ image: GrayImage, quality: Int = 90, rgb: Bool = false) throws(ImageError) -> [UInt8] {
    guard let handle = tjInitCompress() else { throw ImageError(path: "<memory>", message: "tjInitCompress failed") }
    defer { tjDestroy(handle) }
    let source = rgb ? image.pixels.flatMap { [$0, $0, $0] } : image.pixels
    var output: UnsafeMutablePointer<UInt8>? = nil
    var size: UInt = 0
    let status = source.withUnsafeBufferPointer { src in
      tjCompress2(handle, src.baseAddress, Int32(image.width), 0, Int32(image.height),
                  Int32((rgb ? TJPF_RGB : TJPF_GRAY).rawValue), &output, &size,
                  Int32((rgb ? TJSAMP_444 : TJSAMP_GRAY).rawValue), Int32(quality), CJPEG_flag_accurate_dct())
    }
    defer { if let output { tjFree(output) } }
    guard status == 0, let output else {
      throw ImageError(path: "<memory>", message: "cannot encode JPEG: \(String(cString: tjGetErrorStr2(handle)))")
    }
    return Array(UnsafeBufferPointer(start: output, count: Int(size)))
  }

  /// Writes `image` to `path` as an 8-bit PNG, gray or (with `rgb`) RGB.
  public static func writePNG(_ image: GrayImage, to path: String, rgb: Bool = false) throws(ImageError) {
    try writePNG(rgb ? image.pixels.flatMap { [$0, $0, $0] } : image.pixels, width: image.width, height: image.height,
                 format: rgb ? CPNG_format_rgb() : CPNG_format_gray(), to: path)
  }

  /// Writes colour pixels `[height, width, 3]` (interleaved R, G, B, rows top
  /// to bottom) to `path` as an 8-bit RGB PNG, e.g. a heatmap overlay.
  public static func writePNG(rgbPixels: [UInt8], width: Int, height: Int, to path: String) throws(ImageError) {
    precondition(rgbPixels.count == width * height * 3, "RGB PNG \(width)x\(height) given \(rgbPixels.count) bytes")
    try writePNG(rgbPixels, width: width, height: height, format: CPNG_format_rgb(), to: path)
  }

  /// The corresponding C function is `png_image_write_to_file`.
  private static func writePNG(_ source: [UInt8], width: Int, height: Int, format: png_uint_32,
                               to path: String) throws(ImageError) {
    var png = png_image()
    png.version = CPNG_image_version()
    png.width = UInt32(width)
    png.height = UInt32(height)
    png.format = format
    let ok = source.withUnsafeBufferPointer { png_image_write_to_file(&png, path, 0, $0.baseAddress, 0, nil) }
    defer { png_image_free(&png) }
    guard ok != 0 else {
      throw ImageError(path: path, message: "cannot write PNG: \(String(cString: CPNG_image_message(&png)))")
    }
  }
}
