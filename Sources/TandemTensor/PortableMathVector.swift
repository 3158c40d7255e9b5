/// `PortableMath.exp` and `log` on eight values at once: lane by lane the
/// very operations of the scalar functions, in the same order, so the same
/// bits; several chains in flight instead of one. Lanes outside the plain
/// domain (NaN, infinities, overflow, zero, negatives, subnormals) are handed
/// to the scalar functions.
extension PortableMath {
  public static func exp(_ x: SIMD8<Double>) -> SIMD8<Double> {
    let k = (x * log2OfE).rounded(.toNearestOrEven)
    let r = (x - k * naturalLogOfTwoHigh) - k * naturalLogOfTwoLow
    var p = SIMD8<Double>(repeating: exponentialLeadingCoefficient)
    for c in exponentialCoefficients { p = p * r + c }
    // 2^k in the scalar function's two factors, built from their bits
    // (|k| ≤ 1075 in the plain domain, so each factor is a normal number).
    // k is integral: adding 1.5 · 2^52 puts it in the low bits of the
    // significand, with no conversion to trap on the lanes left to the scalar path.
    let whole = unsafeBitCast(k + 0x1.8p52, to: SIMD8<Int64>.self) &- 0x4338_0000_0000_0000
    let half = whole / 2
    let first = unsafeBitCast((half &+ 1023) &<< 52, to: SIMD8<Double>.self)
    let second = unsafeBitCast((whole &- half &+ 1023) &<< 52, to: SIMD8<Double>.self)
    var result = p * first * second
    let plain = (x .<= expOverflowBound) .& (x .>= expUnderflowBound)
    if !all(plain) {
      for lane in 0..<8 where !plain[lane] { result[lane] = exp(x[lane]) }
    }
    return result
  }

  public static func log(_ x: SIMD8<Double>) -> SIMD8<Double> {
    let bits = unsafeBitCast(x, to: SIMD8<UInt64>.self)
    let biased = SIMD8<Int64>(truncatingIfNeeded: (bits &>> 52) & 0x7ff)
    // `x.significand` and `x.exponent` of a normal x, from its bits.
    var m = unsafeBitCast((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000, to: SIMD8<Double>.self)
    var e = SIMD8<Double>(biased &- 1023)
    let upper = m .> squareRootOfTwo
    m.replace(with: m * 0.5, where: upper)
    e.replace(with: e + 1, where: upper)
    let f = (m - 1) / (m + 1)
    let f2 = f * f
    var term = f, sum = SIMD8<Double>(repeating: 0)
    var k = 1.0
    while k <= logSeriesLastPower {
      sum += term / k
      term *= f2
      k += 2
    }
    var result = 2 * sum + e * naturalLogOfTwo
    // Positive (sign bit clear), normal, finite: biased exponent 1 to 2046.
    let plain = (bits &>> 63 .== 0) .& (biased .> 0) .& (biased .< 0x7ff)
    if !all(plain) {
      for lane in 0..<8 where !plain[lane] { result[lane] = log(x[lane]) }
    }
    return result
  }
}
