import TandemNN

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
