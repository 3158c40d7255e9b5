import TandemData
import TandemTensor

/// A grayscale image with a heatmap blended over it in a red-to-yellow
/// colormap, written as an RGB PNG.
public enum HeatmapOverlay {
  /// Largest opacity of the colour, at the hottest pixel: the X-ray stays
  /// readable beneath it.
  public static let maximumAlpha: Float = 0.6

  /// Interleaved RGB pixels `[height, width, 3]`. Heat is scaled by its
  /// maximum; pixels at or below 0 (occlusion did not lower the score) keep
  /// their gray, hotter ones shade from red to yellow with rising opacity.
  public static func render(_ image: GrayImage, heat: [Float]) -> [UInt8] {
    invariant(heat.count == image.width * image.height,
              "heatmap of \(heat.count) values for a \(image.width)x\(image.height) image")
    let top = heat.max() ?? 0
    var rgb = [UInt8](repeating: 0, count: heat.count * 3)
    for i in heat.indices {
      let gray = Float(image.pixels[i])
      let t = top > 0 ? min(max(heat[i] / top, 0), 1) : 0
      let alpha = maximumAlpha * t
      let colour: (Float, Float, Float) = (255, 255 * t, 0)
      rgb[3 * i] = UInt8((gray * (1 - alpha) + colour.0 * alpha).rounded())
      rgb[3 * i + 1] = UInt8((gray * (1 - alpha) + colour.1 * alpha).rounded())
      rgb[3 * i + 2] = UInt8((gray * (1 - alpha) + colour.2 * alpha).rounded())
    }
    return rgb
  }

  /// Renders and writes `path` atomically (temporary file, then rename).
  public static func write(_ image: GrayImage, heat: [Float], to path: String) throws {
    let output = try AtomicOutput(path: path, replacing: true)
    do {
      try ImageEncoder.writePNG(rgbPixels: render(image, heat: heat), width: image.width, height: image.height,
                                to: output.temporaryPath)
    } catch {
      throw ImageError(path: path, message: error.message)  // name the output, not its temporary file
    }
    try output.commit()
  }
}
