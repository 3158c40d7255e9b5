import TandemTensor

/// Which samples each rank trains on in one epoch.
///
/// The epoch's order is a seeded shuffle of the split's samples, cut into
/// global batches of `globalBatch`; each global batch is cut into `worldSize`
/// contiguous shares whose sizes differ by at most one. The plan depends only
/// on its inputs, so every rank derives the same plan without talking, and a
/// re-run sees the same batches.
///
/// Last-batch policy: when the sample count is not a multiple of the global
/// batch, the last global batch is smaller and is still trained on (no sample
/// is dropped or repeated), its loss normalised by its own size. A rank whose
/// share of it is empty contributes a zero gradient to the allreduce.
public struct ShardPlan: Equatable, Sendable {
  public let globalBatch: Int
  public let worldSize: Int
  /// The epoch's samples in training order.
  public let order: [Int]

  /// - Parameter samples: the sample indices of the split, in file order.
  public init(samples: [Int], globalBatch: Int, worldSize: Int, seed: UInt64, epoch: Int) {
    invariant(globalBatch > 0 && worldSize > 0 && epoch >= 0,
              "ShardPlan: globalBatch \(globalBatch), worldSize \(worldSize), epoch \(epoch)")
    self.globalBatch = globalBatch
    self.worldSize = worldSize
    var rng = SeededGenerator(seed: Self.epochSeed(seed, epoch))
    var order = samples
    rng.shuffle(&order)
    self.order = order
  }

  /// Distinct, well-mixed seeds per epoch from one run seed.
  static func epochSeed(_ seed: UInt64, _ epoch: Int) -> UInt64 {
    var g = SeededGenerator(seed: seed ^ 0x5DEE_CE66_D1CE_4E5B)
    for _ in 0...epoch { _ = g.next() }
    return g.next()
  }

  public var sampleCount: Int { order.count }
  public var stepCount: Int { (order.count + globalBatch - 1) / globalBatch }

  /// The samples of global batch `step`, `[globalBatch]` or fewer for the last.
  public func globalSamples(step: Int) -> ArraySlice<Int> {
    invariant(step >= 0 && step < stepCount, "step \(step) outside 0..<\(stepCount)")
    return order[step * globalBatch..<min(order.count, (step + 1) * globalBatch)]
  }

  /// Rank `rank`'s share of global batch `step`.
  ///
  /// With a `microBatch` size the global batch is first cut into micro-batches
  /// of that size (the last may be shorter), which do not depend on the world
  /// size, and each rank gets a contiguous, balanced run of whole
  /// micro-batches. That is what lets exact reduction give the same bits on
  /// any number of ranks.
  public func samples(rank: Int, step: Int, microBatch: Int? = nil) -> ArraySlice<Int> {
    invariant(rank >= 0 && rank < worldSize, "rank \(rank) outside 0..<\(worldSize)")
    let batch = globalSamples(step: step)
    let n = batch.count
    guard let microBatch else {
      return batch.dropFirst(rank * n / worldSize).prefix((rank + 1) * n / worldSize - rank * n / worldSize)
    }
    invariant(microBatch > 0, "micro-batch size must be positive, got \(microBatch)")
    let count = (n + microBatch - 1) / microBatch
    let first = rank * count / worldSize, last = (rank + 1) * count / worldSize
    return batch.dropFirst(min(n, first * microBatch)).prefix(max(0, min(n, last * microBatch) - first * microBatch))
  }
}
