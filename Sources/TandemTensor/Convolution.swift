/// Geometry of a 2-D convolution or pooling window over one `[channels, height, width]` image.
public struct ConvolutionGeometry: Sendable, Equatable {
  public var channels, height, width: Int
  public var kernelHeight, kernelWidth: Int
  public var stride, padding: Int

  public init(channels: Int, height: Int, width: Int,
              kernelHeight: Int, kernelWidth: Int, stride: Int = 1, padding: Int = 0) {
    invariant(channels > 0 && height > 0 && width > 0 && kernelHeight > 0 && kernelWidth > 0
                 && stride > 0 && padding >= 0,
                 "convolution geometry c=\(channels) h=\(height) w=\(width) k=\(kernelHeight)x\(kernelWidth) s=\(stride) p=\(padding)")
    self.channels = channels; self.height = height; self.width = width
    self.kernelHeight = kernelHeight; self.kernelWidth = kernelWidth
    self.stride = stride; self.padding = padding
  }

  public var outputHeight: Int { (height + 2 * padding - kernelHeight) / stride + 1 }
  public var outputWidth: Int { (width + 2 * padding - kernelWidth) / stride + 1 }
  /// Rows of the column matrix: one per (channel, kernel row, kernel column).
  public var patchSize: Int { channels * kernelHeight * kernelWidth }
  /// Columns of the column matrix: one per output pixel.
  public var outputPixels: Int { outputHeight * outputWidth }
}

/// im2col and col2im for one image: the column matrix is `[patchSize, outputPixels]`,
/// so a convolution becomes `W [outChannels, patchSize] · cols`.
public enum Im2Col {
  /// Fills `columns` from `image` (`[channels, height, width]`), zero outside the image.
  /// With `outputRows`, only the columns of those output rows: a
  /// `[patchSize, outputRows.count · outputWidth]` matrix (a band of the full one).
  public static func imageToColumns(
    _ image: UnsafePointer<Float>, _ g: ConvolutionGeometry, outputRows: Range<Int>? = nil,
    into columns: UnsafeMutablePointer<Float>
  ) {
    let ow = g.outputWidth
    forEachRow(g, outputRows: outputRows ?? 0..<g.outputHeight) { column, imageRow, kj, lo, hi in
      let out = columns + column
      guard let imageRow, lo < hi else {
        out.update(repeating: 0, count: ow)
        return
      }
      let src = image + imageRow
      if lo > 0 { out.update(repeating: 0, count: lo) }
      if g.stride == 1 {
        out.advanced(by: lo).update(from: src + (lo + kj - g.padding), count: hi - lo)
      } else {
        for ox in lo..<hi { out[ox] = src[ox * g.stride - g.padding + kj] }
      }
      if hi < ow { (out + hi).update(repeating: 0, count: ow - hi) }
    }
  }

  /// Adds each column entry back to the image pixel it came from (the adjoint of
  /// `imageToColumns`). `image` must be zeroed or hold a gradient to add to.
  /// With `outputRows`, `columns` is that band of the full matrix.
  ///
  /// Each pixel receives its entries in kernel-offset order. A pixel's entries
  /// from later output rows come from smaller kernel rows, so adding the bands
  /// from the last to the first gives every pixel the same additions in the
  /// same order as the full matrix: the same bits.
  public static func addColumnsToImage(
    _ columns: UnsafePointer<Float>, _ g: ConvolutionGeometry, outputRows: Range<Int>? = nil,
    into image: UnsafeMutablePointer<Float>
  ) {
    forEachRow(g, outputRows: outputRows ?? 0..<g.outputHeight) { column, imageRow, kj, lo, hi in
      guard let imageRow, lo < hi else { return }
      let src = columns + column, dst = image + imageRow
      if g.stride == 1 {
        let d = dst + (kj - g.padding)
        for ox in lo..<hi { d[ox] += src[ox] }
      } else {
        for ox in lo..<hi { dst[ox * g.stride - g.padding + kj] += src[ox] }
      }
    }
  }

  /// Visits each row of the column matrix (one per channel, kernel offset and
  /// output row of `outputRows`) in order, with its start, the start of the
  /// image row it reads (nil when that row lies in the padding), the kernel
  /// column `kj`, and the outputs `lo..<hi` whose input column lies inside the image.
  @inline(__always)
  static func forEachRow(_ g: ConvolutionGeometry, outputRows: Range<Int>,
                         _ body: (_ column: Int, _ imageRow: Int?, _ kj: Int, _ lo: Int, _ hi: Int) -> Void) {
    let ow = g.outputWidth, h = g.height, w = g.width
    var column = 0
    for c in 0..<g.channels {
      for ki in 0..<g.kernelHeight {
        for kj in 0..<g.kernelWidth {
          // Output columns ox whose input column ix = ox*s - p + kj lies inside [0, w).
          let (lo, hi) = validRange(offset: kj - g.padding, stride: g.stride, extent: w, outputs: ow)
          for oy in outputRows {
            let iy = oy * g.stride - g.padding + ki
            body(column + (oy - outputRows.lowerBound) * ow, iy < 0 || iy >= h ? nil : c * h * w + iy * w, kj, lo, hi)
          }
          column += outputRows.count * ow
        }
      }
    }
  }

  /// The half-open range of outputs `o` with `0 <= o*stride + offset < extent`.
  @inline(__always)
  static func validRange(offset: Int, stride: Int, extent: Int, outputs: Int) -> (Int, Int) {
    // Smallest o with o*stride + offset >= 0.
    let lo = offset >= 0 ? 0 : (-offset + stride - 1) / stride
    // Largest o with o*stride + offset <= extent - 1, plus one.
    let last = extent - 1 - offset
    let hi = last < 0 ? 0 : min(outputs, last / stride + 1)
    return (min(lo, outputs), max(min(lo, outputs), hi))
  }
}
