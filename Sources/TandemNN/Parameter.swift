import TandemTensor

/// A trainable tensor and the gradient accumulated for it.
public final class Parameter {
  /// Stable name used in checkpoints, e.g. `conv1.weight`.
  public let name: String
  public var value: Tensor
  public var gradient: Tensor

  public init(name: String, value: Tensor) {
    self.name = name
    self.value = value
    self.gradient = Tensor(zeros: value.shape)
  }

  public var count: Int { value.count }

  public func zeroGradient() {
    gradient.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
  }
}
