import TandemNN
import TandemTensor

/// Sums gradients over micro-batches and ranks exactly, in 64-bit fixed point.
///
/// Floating-point addition is not associative, so a Float allreduce gives
/// bits that depend on how the sum was grouped, i.e. on the world size. Here
/// every micro-batch's gradient is scaled by 2^e and rounded to an integer,
/// where e is agreed from a max-reduction of |gradient| over all ranks (max is
/// exact), chosen so that the total of all micro-batches cannot overflow.
/// Integer addition is exact and associative: an `Int64` allreduce gives the
/// same sum whatever the grouping. Each micro-batch's rounding depends only on
/// its own gradient and the agreed scale, so the result is the same bits on 1,
/// 2 or 4 ranks. Resolution is `max|g|·M/2^62` (M micro-batches), about 1e-18
/// of the largest gradient: far below Float32's own.
public struct ExactReducer {
  private var gradients: [[Float]] = []
  private var localMaximum: Float = 0
  private var parameterCount = 0

  public init() {}

  /// Starts a step for a model of `parameterCount` scalars.
  public mutating func begin(parameterCount: Int) {
    self.parameterCount = parameterCount
    gradients.removeAll(keepingCapacity: true)
    localMaximum = 0
  }

  /// Records the gradient of one micro-batch (the parameters' current gradients).
  public mutating func add(_ parameters: [Parameter]) {
    var flat = [Float]()
    flat.reserveCapacity(parameterCount)
    for p in parameters { flat.append(contentsOf: p.gradient.scalars) }
    invariant(flat.count == parameterCount, "exact reduction: \(flat.count) gradient scalars, expected \(parameterCount)")
    // `max` would drop a NaN (every comparison with it is false); count it as
    // infinite, so the agreed maximum says the step diverged on every rank.
    for v in flat {
      let magnitude = abs(v)
      if !(magnitude <= localMaximum) { localMaximum = magnitude.isNaN ? .infinity : magnitude }
    }
    gradients.append(flat)
  }

  /// Writes the exact sum over every rank's micro-batches into the parameters'
  /// gradients, and returns the summed loss (reduced in Float64; for reports).
  public mutating func reduce(into parameters: [Parameter], loss: Double,
                              over communicator: (any Communicator)?) throws -> Double {
    // Agree on the largest magnitude and the number of micro-batches.
    var header: [Double] = [Double(localMaximum), Double(gradients.count)]
    var totalLoss = [loss]
    if let communicator, communicator.worldSize > 1 {
      var maximum = [header[0]]
      try communicator.allreduce(&maximum, .max)
      var count = [Int64(gradients.count)]
      try communicator.allreduce(&count, .sum)
      header = [maximum[0], Double(count[0])]
    }
    guard header[0].isFinite else { throw ExactReductionError.nonFiniteGradient }
    let exponent = Self.scaleExponent(maximum: header[0], terms: Int(header[1]))
    let scale = Double(sign: .plus, exponent: exponent, significand: 1)

    var sums = [Int64](repeating: 0, count: parameterCount)
    sums.withUnsafeMutableBufferPointer { acc in
      for g in gradients {
        g.withUnsafeBufferPointer { src in
          for i in 0..<acc.count { acc[i] &+= Int64((Double(src[i]) * scale).rounded(.toNearestOrEven)) }
        }
      }
    }
    if let communicator, communicator.worldSize > 1 {
      try communicator.allreduce(&sums, .sum)
      try communicator.allreduce(&totalLoss, .sum)
    }
    let inverse = Double(sign: .plus, exponent: -exponent, significand: 1)
    var offset = 0
    for p in parameters {
      p.gradient.withUnsafeMutableBufferPointer { g in
        for i in 0..<g.count { g[i] = Float(Double(sums[offset + i]) * inverse) }
      }
      offset += p.count
    }
    return totalLoss[0]
  }

  /// The largest e with `terms · maximum · 2^e ≤ 2^62`, so no partial sum can
  /// overflow an Int64. Computed from exponents only: the same on every rank.
  static func scaleExponent(maximum: Double, terms: Int) -> Int {
    guard maximum > 0, terms > 0 else { return 0 }
    // maximum < 2^(exponent+1) and terms ≤ 2^(bits), so the sum < 2^(exponent+1+bits+e).
    let bits = Int.bitWidth - (terms - 1).leadingZeroBitCount
    return 62 - (Int(maximum.exponent) + 1) - bits
  }
}

public enum ExactReductionError: Error, CustomStringConvertible {
  case nonFiniteGradient
  public var description: String { "a gradient is not finite (NaN or infinity): training diverged; lower training.learning_rate" }
}
