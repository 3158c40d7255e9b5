import CTandemKernels
import Foundation

/// Elementwise and reduction kernels over raw buffers. Written as plain counted
/// loops over pointers so the optimiser vectorises them; no closures per element.
public enum Kernels {
  /// `e^x` from IEEE operations alone (`PortableMath.exp`): libm's `expf`
  /// may pick another code path on another CPU or glibc, and then other bits.
  @inlinable
  public static func exp(_ x: Float) -> Float { Float(PortableMath.exp(Double(x))) }

  /// `1 / (1 + e^(−x))`, without overflow for large `|x|`.
  @inlinable
  public static func sigmoid(_ x: Float) -> Float {
    if x >= 0 { return 1 / (1 + exp(-x)) }
    let e = exp(x)
    return e / (1 + e)
  }

  /// `y[i] = max(x[i], 0)`. `x` and `y` may be the same buffer.
  @inlinable
  public static func relu(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
    var i = 0
    while i + 8 <= count {
      let v = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self)
      UnsafeMutableRawPointer(y + i).storeBytes(of: v.replacing(with: 0, where: v .< 0), as: SIMD8<Float>.self)
      i += 8
    }
    while i < count { y[i] = Swift.max(x[i], 0); i += 1 }
  }

  /// `dx[i] = y[i] > 0 ? dy[i] : 0`, where `y` is the ReLU's output.
  /// Written with SIMD masks: the scalar ternary does not vectorise.
  @inlinable
  public static func reluBackward(output y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
                                  _ dx: UnsafeMutablePointer<Float>, count: Int) {
    var i = 0
    while i + 8 <= count {
      let out = UnsafeRawPointer(y + i).loadUnaligned(as: SIMD8<Float>.self)
      let g = UnsafeRawPointer(dy + i).loadUnaligned(as: SIMD8<Float>.self)
      UnsafeMutableRawPointer(dx + i).storeBytes(of: g.replacing(with: 0, where: out .<= 0), as: SIMD8<Float>.self)
      i += 8
    }
    while i < count { dx[i] = y[i] > 0 ? dy[i] : 0; i += 1 }
  }

  /// `y[i] += alpha * x[i]`.
  @inlinable
  public static func axpy(_ alpha: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
    for i in 0..<count { y[i] += alpha * x[i] }
  }

  /// Adds `bias[c]` to every element of row `c` of a `[rows, columns]` matrix
  /// whose rows start `rowStride` apart (default: `columns`).
  @inlinable
  public static func addRowBias(_ bias: UnsafePointer<Float>, to m: UnsafeMutablePointer<Float>,
                                rows: Int, columns: Int, rowStride: Int? = nil) {
    for r in 0..<rows {
      let b = bias[r]
      let row = m + r * (rowStride ?? columns)
      for j in 0..<columns { row[j] += b }
    }
  }

  /// `m[r][j] = relu(m[r][j] + bias[r])`: `addRowBias` then `relu` (the same
  /// bits) in one pass over `m` instead of two.
  @inlinable
  public static func addRowBiasRelu(_ bias: UnsafePointer<Float>, to m: UnsafeMutablePointer<Float>,
                                    rows: Int, columns: Int, rowStride: Int? = nil) {
    for r in 0..<rows {
      let b = bias[r]
      let row = m + r * (rowStride ?? columns)
      var j = 0
      while j + 8 <= columns {
        let v = UnsafeRawPointer(row + j).loadUnaligned(as: SIMD8<Float>.self) + b
        UnsafeMutableRawPointer(row + j).storeBytes(of: v.replacing(with: 0, where: v .< 0), as: SIMD8<Float>.self)
        j += 8
      }
      while j < columns { let v = row[j] + b; row[j] = v < 0 ? 0 : v; j += 1 }
    }
  }

  /// Adds `bias[j]` to column `j` of every row of a `[rows, columns]` matrix.
  @inlinable
  public static func addColumnBias(_ bias: UnsafePointer<Float>, to m: UnsafeMutablePointer<Float>,
                                   rows: Int, columns: Int) {
    for r in 0..<rows {
      let row = m + r * columns
      for j in 0..<columns { row[j] += bias[j] }
    }
  }

  /// `sums[j] += m[r][j]` for r in ascending order: each column keeps its own
  /// sequential chain (the bits of the plain loop), eight columns at a time.
  @inlinable
  public static func addColumnSums(of m: UnsafePointer<Float>, rows: Int, columns: Int,
                                   to sums: UnsafeMutablePointer<Float>) {
    var j = 0
    while j + 8 <= columns {
      var acc = UnsafeRawPointer(sums + j).loadUnaligned(as: SIMD8<Float>.self)
      for r in 0..<rows { acc += UnsafeRawPointer(m + r * columns + j).loadUnaligned(as: SIMD8<Float>.self) }
      UnsafeMutableRawPointer(sums + j).storeBytes(of: acc, as: SIMD8<Float>.self)
      j += 8
    }
    while j < columns {
      var acc = sums[j]
      for r in 0..<rows { acc += m[r * columns + j] }
      sums[j] = acc
      j += 1
    }
  }

  /// Row b of `out` = row `rows[b]` of `table`, each `width` floats: a
  /// shuffled batch gathered with the rows ahead prefetched.
  public static func gatherRows(of table: UnsafePointer<Float>, width: Int, rows: [Int],
                                into out: UnsafeMutablePointer<Float>) {
    guard !rows.isEmpty else { return }
    rows.withUnsafeBufferPointer { r in
      r.baseAddress!.withMemoryRebound(to: CLong.self, capacity: r.count) {
        tandem_gather_rows(table, width, $0, r.count, out)
      }
    }
  }

  /// Sum of `count` floats, accumulated in eight lanes so the loop vectorises.
  @inlinable
  public static func sum(_ x: UnsafePointer<Float>, count: Int) -> Float {
    var acc = SIMD8<Float>()
    var i = 0
    while i + 8 <= count {
      acc += UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self)
      i += 8
    }
    var s = acc.sum()
    while i < count { s += x[i]; i += 1 }
    return s
  }

  /// Float64 sums of `streams` runs of `count` floats, run g at `x + g·stride`:
  /// each one chain of additions in element order, so the bits of the plain
  /// loop, with several runs summed side by side (one chain alone waits on
  /// each addition).
  public static func chainedSums(_ x: UnsafePointer<Float>, stride: Int, streams: Int, count: Int,
                                 into sums: UnsafeMutablePointer<Double>) {
    tandem_chained_sums(x, stride, streams, count, sums)
  }

  /// As `chainedSums` of `(Double(x) - means[g])²`, a product then an addition.
  public static func chainedCenteredSquares(_ x: UnsafePointer<Float>, stride: Int, streams: Int, count: Int,
                                            means: UnsafePointer<Double>, into sums: UnsafeMutablePointer<Double>) {
    tandem_chained_centered_squares(x, stride, streams, count, means, sums)
  }

  /// As `chainedSums` of `a`, and of the Float products `a·b` widened.
  public static func chainedSumsAndProducts(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, stride: Int,
                                            streams: Int, count: Int, sums: UnsafeMutablePointer<Double>,
                                            productSums: UnsafeMutablePointer<Double>) {
    tandem_chained_sums_and_products(a, b, stride, streams, count, sums, productSums)
  }

  /// 2x2 max pooling with stride 2 over `planes` planes of `[height, width]`.
  /// Writes the position (0...3) of each maximum to `argmax` for the backward pass;
  /// the first maximum wins ties, so the gradient goes to one input only.
  /// Odd trailing rows and columns are dropped, as in the usual floor convention.
  public static func maxPool2x2(
    _ x: UnsafePointer<Float>, planes: Int, height: Int, width: Int,
    _ y: UnsafeMutablePointer<Float>, argmax: UnsafeMutablePointer<UInt8>
  ) {
    tandem_max_pool_2x2(x, planes, height, width, y, argmax)
  }

  /// Routes each output gradient to the input that won the forward max; all
  /// of `dx` is written (+0 where no gradient goes). Given the forward
  /// output `reluMask`, windows whose maximum is <= 0 route +0: the backward
  /// mask of a ReLU just before the pooling, applied here for free (that
  /// ReLU's output is the pooling's input, and its gradient is nonzero only
  /// at each window's argmax, whose value is the window's maximum).
  public static func maxPool2x2Backward(
    _ dy: UnsafePointer<Float>, argmax: UnsafePointer<UInt8>, reluMask y: UnsafePointer<Float>? = nil,
    planes: Int, height: Int, width: Int, _ dx: UnsafeMutablePointer<Float>
  ) {
    tandem_max_pool_2x2_backward(dy, argmax, y, planes, height, width, dx)
  }

  /// Makes the pooling kernels take their scalar loops, which define them (tests).
  public static func forcePoolingScalar(_ on: Bool) { tandem_pooling_force_scalar(on ? 1 : 0) }
}
