import CTandemKernels

/// The exact reduction's conversions between Float and 64-bit fixed point
/// (kernels in CTandemKernels/fixed_point.c: the same integers on the AVX2
/// path and the scalar one).
public enum FixedPoint {
  /// `sums[i] &+= round(values[i] · 2^exponent)`, ties to even. Every value
  /// must be finite with `|value| · 2^exponent ≤ 2^62`.
  public static func accumulate(_ values: UnsafeBufferPointer<Float>, exponent: Int,
                                into sums: UnsafeMutableBufferPointer<Int64>) {
    invariant(values.count <= sums.count, "fixed point: \(values.count) values into \(sums.count) sums")
    guard let source = values.baseAddress, let target = sums.baseAddress else { return }
    tandem_fixed_accumulate(source, values.count, Int32(exponent), target)
  }

  /// `values[i] = Float(Double(sums[i]) · scale)`, as Swift's conversions
  /// round (nearest-even), for `min(sums.count, values.count)` elements.
  public static func toFloat(_ sums: UnsafeBufferPointer<Int64>, scale: Double,
                             into values: UnsafeMutableBufferPointer<Float>) {
    guard let source = sums.baseAddress, let target = values.baseAddress else { return }
    tandem_fixed_to_float(source, min(sums.count, values.count), scale, target)
  }

  /// The largest magnitude in `values`: +infinity when one is infinite or NaN.
  public static func maximumMagnitude(_ values: UnsafeBufferPointer<Float>) -> Float {
    guard let source = values.baseAddress else { return 0 }
    return tandem_abs_max(source, values.count)
  }

  /// Runs the scalar paths instead of the vector ones while `body` runs (tests).
  public static func withScalarPath<T>(_ body: () throws -> T) rethrows -> T {
    tandem_fixed_point_force_scalar(1)
    defer { tandem_fixed_point_force_scalar(0) }
    return try body()
  }
}
