import TandemNN
import TandemTensor

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

/// How gradients are summed across ranks.
public enum GradientReduction: String, Sendable, Codable, CaseIterable {
  /// One Float32 allreduce: fastest; the sum's rounding depends on the world size.
  case float
  /// Per micro-batch gradients in 64-bit fixed point, summed with an integer
  /// allreduce: the same bits on any number of ranks.
  case exact
}

/// The learning rate of each step: an optional linear warm-up from 0, then
/// constant or a cosine decay to a fraction of the base rate at the last step.
/// A function of the global step only, so every rank, a resumed run and a
/// re-run from a snapshot use the same rate.
public struct LearningRateSchedule: Sendable, Equatable {
  public enum Shape: String, Sendable, Codable, CaseIterable {
    case constant, cosine
  }

  public var shape: Shape
  public var base: Float
  public var warmupSteps: Int
  public var totalSteps: Int
  public var finalFraction: Double

  public init(shape: Shape, base: Float, warmupSteps: Int, totalSteps: Int, finalFraction: Double) {
    self.shape = shape
    self.base = base
    self.warmupSteps = warmupSteps
    self.totalSteps = max(1, totalSteps)
    self.finalFraction = finalFraction
  }

  /// The rate for `step` (0-based).
  public func rate(step: Int) -> Float {
    if step < warmupSteps { return Float(Double(base) * Double(step + 1) / Double(warmupSteps)) }
    switch shape {
    case .constant:
      return base
    case .cosine:
      let span = max(1, totalSteps - warmupSteps - 1)
      let progress = min(1, Double(step - warmupSteps) / Double(span))
      let factor = finalFraction + (1 - finalFraction) * 0.5 * (1 + PortableMath.cos(Double.pi * progress))
      return Float(Double(base) * factor)
    }
  }
}

/// Which epoch's parameters a run keeps as its model.
public enum ModelSelection: String, Sendable, Codable, CaseIterable {
  /// The last epoch's.
  case last
  /// The epoch with the highest validation ROC AUC (the earliest on a tie).
  case bestAUC = "best-auc"

  /// The 1-based epoch with the highest validation AUC, the earliest on a tie; nil for no epochs.
  public static func bestEpoch(_ history: [ClassificationMetrics]) -> Int? {
    var best: Int?
    for (i, m) in history.enumerated() where best.map({ m.rocAUC > history[$0 - 1].rocAUC }) ?? true { best = i + 1 }
    return best
  }
}
