import Foundation
import TandemDistributed
import TandemNN
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
}

/// Hyperparameters of SGD training; defaults are REFERENCE_MODELS.md's.
public struct TrainingSettings: Sendable, Equatable, Codable {
  public var globalBatch: Int
  public var learningRate: Float
  public var momentum: Float
  public var weightDecay: Float

  public init(globalBatch: Int, learningRate: Float, momentum: Float = 0.9, weightDecay: Float = 1e-4) {
    self.globalBatch = globalBatch
    self.learningRate = learningRate
    self.momentum = momentum
    self.weightDecay = weightDecay
  }

  /// The reference defaults: xray-cnn 0.01 at batch 64, churn 0.05 at 256, both
  /// scaled linearly when another global batch is asked for.
  public static func reference(for model: ModelName, globalBatch: Int? = nil) -> TrainingSettings {
    let (baseBatch, baseRate): (Int, Float) = model.isImageModel ? (64, 0.01) : (256, 0.05)
    let batch = globalBatch ?? baseBatch
    return TrainingSettings(globalBatch: batch, learningRate: baseRate * Float(batch) / Float(baseBatch))
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

  public init(model: Model, settings: TrainingSettings, communicator: (any Communicator)? = nil) {
    self.model = model
    self.settings = settings
    self.communicator = communicator
    Memory.retainFreedBlocksForReuse()
    optimizer = SGD(for: model.parameters, learningRate: settings.learningRate,
                    momentum: settings.momentum, weightDecay: settings.weightDecay)
  }

  /// Trains on `localBatch` (this rank's share of a global batch of
  /// `globalCount` samples) and returns the global batch's mean loss.
  @discardableResult
  public func step(_ localBatch: Batch, globalCount: Int? = nil) throws -> Double {
    let total = globalCount ?? localBatch.count
    model.zeroGradients()
    var loss = [try model.accumulateGradients(localBatch.input, labels: localBatch.labels, normalizer: total)]
    if let communicator, communicator.worldSize > 1 {
      try fusion.sumGradients(of: model.parameters, over: communicator)
      try communicator.allreduce(&loss, .sum)
    }
    optimizer.step(model.parameters)
    return loss[0]
  }
}
