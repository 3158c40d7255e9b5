import Foundation
import TandemDistributed
import TandemNN
import TandemRun
import TandemTensor

/// One batch: inputs `[batch] + sampleShape` and a class label per sample.
public struct Batch: Sendable {
  public var input: Tensor
  public var labels: [Int32]

  public init(input: Tensor, labels: [Int32]) {
    self.input = input
    self.labels = labels
  }

  public var count: Int { labels.count }

  /// Samples `range` of this batch.
  public func rows(_ range: Range<Int>) -> Batch {
    let per = input.count / max(count, 1)
    return Batch(input: Tensor(uncheckedShape: [range.count] + input.shape.dropFirst(),
                               scalars: Array(input.scalars[range.lowerBound * per..<range.upperBound * per])),
                 labels: Array(labels[range]))
  }

  /// The batch cut into consecutive pieces of `size` samples (the last may be shorter).
  public func split(every size: Int) -> [Batch] {
    stride(from: 0, to: count, by: size).map { rows($0..<min(count, $0 + size)) }
  }
}

/// Data-parallel SGD steps: each rank computes gradients on its part of the
/// global batch, gradients are summed across ranks in one fused collective,
/// and every rank applies the same update. With one rank and no communicator
/// this is plain single-process SGD.
public final class Trainer {
  public let model: Model
  public let optimizer: SGD
  public let settings: TrainingSettings
  private let communicator: (any Communicator)?
  private var fusion = GradientFusion()
  private var exactReducer = ExactReducer()

  public init(model: Model, settings: TrainingSettings, communicator: (any Communicator)? = nil) {
    self.model = model
    self.settings = settings
    self.communicator = communicator
    Memory.retainFreedBlocksForReuse()
    optimizer = SGD(for: model.parameters, learningRate: settings.learningRate,
                    momentum: settings.momentum, weightDecay: settings.weightDecay)
  }

  /// Where a step's time went, in seconds.
  public struct StepTimings: Sendable {
    public var compute = 0.0
    public var allreduce = 0.0
  }

  /// Trains on `localBatch` (this rank's share of a global batch of
  /// `globalCount` samples) and returns the global batch's mean loss.
  @discardableResult
  public func step(_ localBatch: Batch, globalCount: Int? = nil) throws -> Double {
    try timedStep(localBatch, globalCount: globalCount).loss
  }

  /// One step with exact reduction. `microBatches` are this rank's whole
  /// micro-batches of the global batch (see `ShardPlan.samples(rank:step:microBatch:)`):
  /// each one's gradient is computed on its own, so it has the same bits on
  /// whichever rank computes it, and the sum over all micro-batches is taken in
  /// 64-bit fixed point, where addition is exact and so order-free.
  /// `microBatchCount`, the global batch's number of micro-batches when the
  /// caller knows it, saves one collective a step.
  public func exactStep(_ microBatches: [Batch], globalCount: Int, microBatchCount: Int? = nil) throws -> (loss: Double, timings: StepTimings) {
    invariant(globalCount > 0, "a training step needs at least one sample in the global batch")
    var timings = StepTimings()
    let start = DispatchTime.now().uptimeNanoseconds
    var loss = 0.0
    try accumulateExactly(microBatches, globalCount: globalCount) { loss += $0 }
    let computed = DispatchTime.now().uptimeNanoseconds
    let total: Double
    do {
      total = try exactReducer.reduce(into: model.parameters, loss: loss, over: communicator, terms: microBatchCount)
    } catch ExactReductionError.nonFiniteGradient {
      // Every rank agreed on the non-finite maximum: report it as the
      // divergence it is, with the step, as the float path does.
      return (.nan, timings)
    }
    let reduced = DispatchTime.now().uptimeNanoseconds
    optimizer.step(model.parameters)
    let end = DispatchTime.now().uptimeNanoseconds
    timings.compute = Double(computed - start + end - reduced) / 1e9
    timings.allreduce = Double(reduced - computed) / 1e9
    return (total, timings)
  }

  /// The full-batch objective `LBFGS` minimises: the mean loss over the
  /// `globalCount` samples of which `microBatches` are this rank's (gradients
  /// summed exactly over ranks, as in `exactStep`), plus `l2 / 2 · Σ w²` over
  /// the weights (biases are not penalised, as in scikit-learn), with its
  /// gradient left in each parameter. NaN when a gradient is not finite.
  public func fullBatchObjective(_ microBatches: [Batch], globalCount: Int, l2: Float) throws -> Double {
    invariant(globalCount > 0, "a full-batch objective needs at least one sample")
    // The line search compares objective values, so the loss is summed
    // exactly too: each micro-batch's in fixed point at 2⁻⁴⁸, whichever rank has it.
    let lossScale = 0x1p48
    var loss: [Int64] = [0]
    var finite = true
    try accumulateExactly(microBatches, globalCount: globalCount) { part in
      if part.isFinite && abs(part) < 1e4 { loss[0] &+= Int64((part * lossScale).rounded(.toNearestOrEven)) } else { finite = false }
    }
    var flags: [Int64] = [finite ? 0 : 1]
    if let communicator, communicator.worldSize > 1 {
      try communicator.allreduce(&loss, .sum)
      try communicator.allreduce(&flags, .sum)
    }
    do {
      _ = try exactReducer.reduce(into: model.parameters, loss: 0, over: communicator)
    } catch ExactReductionError.nonFiniteGradient {
      return .nan
    }
    guard flags[0] == 0 else { return .nan }
    var total = Double(loss[0]) / lossScale
    for p in model.parameters where p.value.rank >= 2 {
      var penalty = 0.0
      p.value.withUnsafeBufferPointer { w in
        p.gradient.withUnsafeMutableBufferPointer { g in
          for i in 0..<w.count {
            penalty += Double(w[i]) * Double(w[i])
            g[i] += l2 * w[i]
          }
        }
      }
      total += Double(l2) / 2 * penalty
    }
    return total
  }

  /// Each micro-batch's gradient on its own, handed to the exact reducer;
  /// `loss` gets each micro-batch's loss (normalised by `globalCount`), in order.
  private func accumulateExactly(_ microBatches: [Batch], globalCount: Int, loss: (Double) -> Void) throws {
    exactReducer.begin(parameterCount: model.parameterCount)
    for batch in microBatches where batch.count > 0 {
      model.zeroGradients()
      loss(try model.accumulateGradients(batch.input, labels: batch.labels, normalizer: globalCount))
      exactReducer.add(model.parameters)
    }
  }

  /// `step`, also reporting compute and allreduce time. A rank with an empty
  /// share (the last, short global batch) still joins the allreduce.
  public func timedStep(_ localBatch: Batch?, globalCount: Int? = nil) throws -> (loss: Double, timings: StepTimings) {
    let total = globalCount ?? localBatch?.count ?? 0
    invariant(total > 0, "a training step needs at least one sample in the global batch")
    var timings = StepTimings()
    let start = DispatchTime.now().uptimeNanoseconds
    model.zeroGradients()
    var loss = [0.0]
    if let localBatch, localBatch.count > 0 {
      loss[0] = try model.accumulateGradients(localBatch.input, labels: localBatch.labels, normalizer: total)
    }
    let computed = DispatchTime.now().uptimeNanoseconds
    if let communicator, communicator.worldSize > 1 {
      try fusion.sumGradients(of: model.parameters, over: communicator)
      try communicator.allreduce(&loss, .sum)
    }
    let reduced = DispatchTime.now().uptimeNanoseconds
    optimizer.step(model.parameters)
    let end = DispatchTime.now().uptimeNanoseconds
    timings.compute = Double(computed - start + end - reduced) / 1e9
    timings.allreduce = Double(reduced - computed) / 1e9
    return (loss[0], timings)
  }
}
