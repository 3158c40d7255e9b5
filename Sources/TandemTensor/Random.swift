/// A seeded generator that gives the same numbers on every platform:
/// xoshiro256** (Blackman and Vigna), seeded through SplitMix64.
///
/// Normal variates use Marsaglia's polar method with a logarithm written here
/// from IEEE-754 basic operations only (+, −, ×, ÷ and sqrt are correctly
/// rounded everywhere), so initial weights do not depend on the C library's
/// `log`. That is what lets a run be re-created bit for bit on another machine.
public struct SeededGenerator: RandomNumberGenerator, Sendable, Equatable {
  public private(set) var state: (UInt64, UInt64, UInt64, UInt64)

  public init(seed: UInt64) {
    var s = seed
    func splitMix() -> UInt64 {
      s &+= 0x9E37_79B9_7F4A_7C15
      var z = s
      z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
      z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
      return z ^ (z >> 31)
    }
    state = (splitMix(), splitMix(), splitMix(), splitMix())
  }

  /// Restores a generator from a saved `state` (checkpoints).
  public init(state: (UInt64, UInt64, UInt64, UInt64)) {
    invariant(state != (0, 0, 0, 0), "xoshiro256** state must not be all zero")
    self.state = state
  }

  public static func == (a: SeededGenerator, b: SeededGenerator) -> Bool { a.state == b.state }

  public mutating func next() -> UInt64 {
    let result = rotate(state.1 &* 5, 7) &* 9
    let t = state.1 << 17
    state.2 ^= state.0
    state.3 ^= state.1
    state.1 ^= state.2
    state.0 ^= state.3
    state.2 ^= t
    state.3 = rotate(state.3, 45)
    return result
  }

  /// A uniform double in [0, 1) with 53 random bits.
  public mutating func nextUniform() -> Double {
    Double(next() >> 11) * 0x1.0p-53
  }

  /// A uniform integer in `0..<bound`, without modulo bias (Lemire's method).
  public mutating func nextInt(below bound: Int) -> Int {
    invariant(bound > 0, "nextInt(below:) needs a positive bound, got \(bound)")
    let b = UInt64(bound)
    var m = next().multipliedFullWidth(by: b)
    if m.low < b {
      let threshold = (0 &- b) % b
      while m.low < threshold { m = next().multipliedFullWidth(by: b) }
    }
    return Int(m.high)
  }

  /// Shuffles `array` in place with Fisher–Yates. Written here rather than
  /// using the standard library's `shuffle(using:)`, whose algorithm is not
  /// promised to stay the same, so a seed means the same order in every release.
  // Specialised for the sample indices every epoch shuffles: the generic
  // version swaps through value witnesses, 6 % of a short table run.
  @_specialize(exported: true, where T == Int)
  public mutating func shuffle<T>(_ array: inout [T]) {
    guard array.count > 1 else { return }
    for i in stride(from: array.count - 1, to: 0, by: -1) {
      array.swapAt(i, nextInt(below: i + 1))
    }
  }

  /// A standard normal variate (mean 0, variance 1).
  public mutating func nextNormal() -> Double {
    while true {
      let u = 2 * nextUniform() - 1
      let v = 2 * nextUniform() - 1
      let s = u * u + v * v
      if s > 0 && s < 1 {
        return u * (-2 * PortableMath.log(s) / s).squareRoot()
      }
    }
  }

  @inline(__always)
  private func rotate(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }
}

/// Elementary functions built from correctly rounded IEEE operations only.
public enum PortableMath {
  /// Natural logarithm of a positive finite `x`, accurate to a few ulps.
  ///
  /// `x = m · 2^e` with `m` in [√½, √2); `log m = 2·atanh(f)` with
  /// `f = (m − 1)/(m + 1)`, `|f| < 0.172`, summed as an odd series to f^41.
  /// Edge cases follow IEEE `log`: NaN for NaN or negative `x`, −∞ at 0, +∞ at +∞.
  public static func log(_ x: Double) -> Double {
    if x.isNaN || x < 0 { return .nan }
    if x == 0 { return -.infinity }
    if x == .infinity { return .infinity }
    if x.isSubnormal { return log(x * 0x1p52) - 52 * naturalLogOfTwo }
    var m = x.significand          // [1, 2)
    var e = Double(x.exponent)
    if m > squareRootOfTwo { m *= 0.5; e += 1 }
    let f = (m - 1) / (m + 1)
    let f2 = f * f
    var term = f, sum = 0.0
    var k = 1.0
    while k <= logSeriesLastPower {
      sum += term / k
      term *= f2
      k += 2
    }
    return 2 * sum + e * naturalLogOfTwo
  }

  /// `e^x`, within about one ulp of Float64 and correctly rounded to Float32
  /// in all but rare ties: `x = k·ln 2 + r` (Cody–Waite, |r| ≤ ln 2 / 2),
  /// `e^r` by its Taylor series to r¹³ (truncation below 2⁻⁵⁸), then `· 2^k`.
  public static func exp(_ x: Double) -> Double {
    if x.isNaN { return x }
    if x > expOverflowBound { return .infinity }
    if x < expUnderflowBound { return 0 }
    let k = (x * log2OfE).rounded(.toNearestOrEven)
    let r = (x - k * naturalLogOfTwoHigh) - k * naturalLogOfTwoLow
    var p = exponentialLeadingCoefficient
    for c in exponentialCoefficients { p = p * r + c }
    // 2^k in two factors so that results in the subnormal range stay exact.
    let half = Int(k) / 2
    return p * Double(sign: .plus, exponent: half, significand: 1)
             * Double(sign: .plus, exponent: Int(k) - half, significand: 1)
  }

  /// Sine of a finite `x`: reduced to [−π, π] by a whole number of turns,
  /// then its Taylor series to x³⁹ (truncation below 2⁻⁵⁵ there).
  public static func sin(_ x: Double) -> Double { taylor(reduced(x), first: 1) }

  /// Cosine of a finite `x`, like `sin`.
  public static func cos(_ x: Double) -> Double { taylor(reduced(x), first: 0) }

  private static func reduced(_ x: Double) -> Double {
    let turn = 6.283185307179586
    return x - (x / turn).rounded(.toNearestOrEven) * turn
  }

  /// Σ (−1)^k x^(2k+first) / (2k+first)!, summed from the smallest term up.
  private static func taylor(_ x: Double, first: Int) -> Double {
    var terms: [Double] = []
    var term = first == 0 ? 1.0 : x
    var n = first
    while n <= 40 {
      terms.append(term)
      term *= -x * x / Double((n + 1) * (n + 2))
      n += 2
    }
    return terms.reversed().reduce(0, +)
  }

  // The constants `exp` and `log` share with their eight-lane versions
  // (PortableMathVector.swift), which must compute the same bits.
  static let expOverflowBound = 709.782712893384, expUnderflowBound = -745.1332191019412
  static let log2OfE = 1.4426950408889634
  /// ln 2 in two parts (Cody–Waite), the first with trailing zero bits so that `k ·` it is exact.
  static let naturalLogOfTwoHigh = 0.6931471803691238, naturalLogOfTwoLow = 1.9082149292705877e-10
  static let naturalLogOfTwo = 0.6931471805599453
  static let squareRootOfTwo = 1.4142135623730951
  /// The last odd power of `log`'s atanh series.
  static let logSeriesLastPower = 41.0
  /// 1/13!, where `exp`'s Horner scheme starts.
  static let exponentialLeadingCoefficient = 1.0 / 6227020800

  /// 1/12!, 1/11!, ..., 1/1!, 1/0! for `exp`'s Horner scheme.
  static let exponentialCoefficients: [Double] = (0...12).reversed().map { n in
    1 / (1...max(n, 1)).reduce(1.0) { $0 * Double($1) }
  }
}
