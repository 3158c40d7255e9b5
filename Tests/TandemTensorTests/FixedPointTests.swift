import Testing
import TandemTensor

/// The fixed-point kernels against the definition they replace:
/// `Int64((Double(v) · 2^e).rounded(.toNearestOrEven))`, exact in Double.
@Suite struct FixedPointTests {
  static func reference(_ values: [Float], exponent: Int) -> [Int64] {
    let scale = Double(sign: .plus, exponent: exponent, significand: 1)
    return values.map { Int64((Double($0) * scale).rounded(.toNearestOrEven)) }
  }

  static func kernel(_ values: [Float], exponent: Int, start: [Int64]? = nil) -> [Int64] {
    var sums = start ?? [Int64](repeating: 0, count: values.count)
    values.withUnsafeBufferPointer { v in
      sums.withUnsafeMutableBufferPointer { FixedPoint.accumulate(v, exponent: exponent, into: $0) }
    }
    return sums
  }

  /// Ties at every rounding position, subnormals, zeros of both signs, the
  /// largest allowed magnitude, and random values over many binades.
  static func cases(exponent: Int) -> [Float] {
    var values: [Float] = [0, -0, .leastNonzeroMagnitude, -.leastNonzeroMagnitude, .leastNormalMagnitude,
                           Float(sign: .minus, exponent: -127, significand: 1.5)]
    for shift in -30...4 {
      let unit = Float(sign: .plus, exponent: shift - exponent, significand: 1)  // one unit of the fixed point, shifted
      for k: Float in [0.5, 1.5, 2.5, 3.5, 0.49999997, 0.50000006, 1, 7, 1234.5] {
        values.append(k * unit); values.append(-k * unit)
      }
    }
    values.append(Float(sign: .plus, exponent: 62 - exponent, significand: 1))
    values.append(Float(sign: .minus, exponent: 61 - exponent, significand: 1.99999988))
    var rng = SeededGenerator(seed: 7)
    for _ in 0..<4099 {
      let binade = Int(rng.next() % 90) - 60
      values.append(Float(sign: rng.next() & 1 == 0 ? .plus : .minus, exponent: binade - exponent + 20,
                          significand: 1 + Float(rng.next() % (1 << 23)) / Float(1 << 23)))
    }
    return values
  }

  @Test(arguments: [40, 0, -20, 75])
  func vectorAndScalarPathsRoundLikeTheDefinition(exponent: Int) {
    let values = Self.cases(exponent: exponent)
    let expected = Self.reference(values, exponent: exponent)
    #expect(Self.kernel(values, exponent: exponent) == expected, "\(Numerics.pinnedKernel)")
    #expect(FixedPoint.withScalarPath { Self.kernel(values, exponent: exponent) } == expected)
    // Every offset and tail length of the vector loops, the widest one the
    // CPU has (AVX-512 takes 8 at a time), then AVX2's (4).
    for choice in [[:], ["TANDEM_PINNED_KERNEL": "avx2"]] {
      Numerics.applyKernelChoice(environment: choice)
      defer { Numerics.applyKernelChoice(environment: [:]) }
      #expect(Self.kernel(values, exponent: exponent) == expected, "\(Numerics.pinnedKernel)")
      for first in 0..<9 {
        let part = Array(values[first..<first + 19])
        #expect(Self.kernel(part, exponent: exponent) == Array(expected[first..<first + 19]))
      }
    }
  }

  @Test(arguments: [-40, 0, -75, -180])
  func backToFloatRoundsLikeSwiftsConversions(exponent: Int) {
    var rng = SeededGenerator(seed: UInt64(100 - exponent))
    var sums: [Int64] = [0, 1, -1, .max, .min + 1, 1 << 53 + 1, -(1 << 53) - 3, 1 << 62, (1 << 24) + 1, -(1 << 25) - 3]
    for _ in 0..<3_000 { sums.append(Int64(bitPattern: rng.next()) >> Int64(rng.next() % 63)) }
    let scale = Double(sign: .plus, exponent: exponent, significand: 1)
    let expected = sums.map { Float(Double($0) * scale) }
    for choice in [[:], ["TANDEM_PINNED_KERNEL": "avx2"]] {
      Numerics.applyKernelChoice(environment: choice)
      defer { Numerics.applyKernelChoice(environment: [:]) }
      for first in 0..<9 {
        var got = [Float](repeating: .nan, count: sums.count - first)
        sums[first...].withUnsafeBufferPointer { s in
          got.withUnsafeMutableBufferPointer { FixedPoint.toFloat(s, scale: scale, into: $0) }
        }
        #expect(got.map(\.bitPattern) == expected[first...].map(\.bitPattern), "\(Numerics.pinnedKernel), from \(first)")
      }
    }
  }

  @Test func accumulatesWithWrappingAddition() {
    let values: [Float] = [1, -2, 3, 0.5, 1.5]
    let start: [Int64] = [.max, .min, 10, -7, 0]
    let got = Self.kernel(values, exponent: 0, start: start)
    #expect(got == zip(start, Self.reference(values, exponent: 0)).map { $0 &+ $1 })
  }

  @Test func maximumMagnitudeCountsNaNAsInfinite() {
    var values = (0..<37).map { Float($0) * (($0 % 2 == 0) ? 1 : -1) / 8 }
    let largest = values.map(abs).max()!
    for path in [false, true] {
      let run = { (v: [Float]) in v.withUnsafeBufferPointer { FixedPoint.maximumMagnitude($0) } }
      let measure = { (v: [Float]) in path ? FixedPoint.withScalarPath { run(v) } : run(v) }
      #expect(measure(values) == largest)
      #expect(measure([]) == 0)
      values[13] = .nan
      #expect(measure(values) == .infinity)
      values[13] = -.infinity
      #expect(measure(values) == .infinity)
      values[13] = 0
    }
  }
}
