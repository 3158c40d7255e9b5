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
  /// One buffer per micro-batch of the step, kept for the next step.
  private var gradients: [[Float]] = []
  private var used = 0
  private var sums: [Int64] = []
  private var localMaximum: Float = 0
  private var parameterCount = 0

  public init() {}

  /// Starts a step for a model of `parameterCount` scalars.
  public mutating func begin(parameterCount: Int) {
    if parameterCount != self.parameterCount { gradients.removeAll() }
    self.parameterCount = parameterCount
    used = 0
    localMaximum = 0
  }

  /// Records the gradient of one micro-batch (the parameters' current gradients).
  public mutating func add(_ parameters: [Parameter]) {
    if used == gradients.count { gradients.append([Float](repeating: 0, count: parameterCount)) }
    var offset = 0
    gradients[used].withUnsafeMutableBufferPointer { flat in
      for p in parameters {
        invariant(offset + p.count <= parameterCount, "exact reduction: more gradient scalars than \(parameterCount)")
        p.gradient.withUnsafeBufferPointer { g in
          (flat.baseAddress! + offset).update(from: g.baseAddress!, count: g.count)
          // A NaN counts as infinite, so the agreed maximum says the step diverged on every rank.
          localMaximum = max(localMaximum, FixedPoint.maximumMagnitude(g))
        }
        offset += p.count
      }
    }
    invariant(offset == parameterCount, "exact reduction: \(offset) gradient scalars, expected \(parameterCount)")
    used += 1
  }

  /// Writes the exact sum over every rank's micro-batches into the parameters'
  /// gradients, and returns the summed loss (each rank's in fixed point at
  /// 2⁻⁴⁰; for reports). `terms`, when the caller knows it, is the number of
  /// micro-batches over all ranks, which saves a collective.
  public mutating func reduce(into parameters: [Parameter], loss: Double,
                              over communicator: (any Communicator)?, terms: Int? = nil) throws -> Double {
    let distributed = (communicator?.worldSize ?? 1) > 1
    var maximum = Double(localMaximum), count = used
    if let communicator, distributed {
      var agreed = [maximum]
      try communicator.allreduce(&agreed, .max)
      maximum = agreed[0]
      if let terms {
        count = terms
      } else {
        var counts = [Int64(used)]
        try communicator.allreduce(&counts, .sum)
        count = Int(counts[0])
      }
    }
    guard maximum.isFinite else { throw ExactReductionError.nonFiniteGradient }
    let exponent = Self.scaleExponent(maximum: maximum, terms: count)

    // Two more slots: the loss, and how many ranks' losses did not fit it.
    if sums.count != parameterCount + 2 { sums = [Int64](repeating: 0, count: parameterCount + 2) }
    let lossScale = 0x1p40
    let representable = loss.isFinite && abs(loss) < 1e6
    let localLoss = representable ? Int64((loss * lossScale).rounded(.toNearestOrEven)) : 0
    sums.withUnsafeMutableBufferPointer { acc in
      acc.update(repeating: 0)
      for g in gradients.prefix(used) {
        g.withUnsafeBufferPointer { FixedPoint.accumulate($0, exponent: exponent, into: acc) }
      }
      acc[parameterCount] = localLoss
      acc[parameterCount + 1] = representable ? 0 : 1
    }
    if let communicator, distributed {
      try communicator.allreduce(&sums, .sum)
    }
    let inverse = Double(sign: .plus, exponent: -exponent, significand: 1)
    var offset = 0
    sums.withUnsafeBufferPointer { total in
      for p in parameters {
        p.gradient.withUnsafeMutableBufferPointer { g in
          FixedPoint.toFloat(UnsafeBufferPointer(rebasing: total[offset..<offset + g.count]), scale: inverse, into: g)
        }
        offset += p.count
      }
    }
    // A loss the fixed point cannot hold (a diverging step) is summed as it
    // is, on every rank alike, so each reports the same value.
    if let communicator, distributed, sums[parameterCount + 1] != 0 {
      var total = [loss]
      try communicator.allreduce(&total, .sum)
      return total[0]
    }
    return representable ? Double(sums[parameterCount]) / lossScale : loss
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
