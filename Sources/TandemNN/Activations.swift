import TandemTensor

/// `y = max(x, 0)` elementwise, any shape.
public final class ReLU: Layer {
  public let name: String
  private var output = Tensor(zeros: [0])
  public var activationPattern: [UInt8] { output.scalars.map { $0 > 0 ? 1 : 0 } }

  /// Set by `Model` when a max pooling follows and applies this mask in its
  /// own backward (`MaxPool2D.appliesReLUMask`): backward passes the gradient on.
  public internal(set) var receivesMaskedGradient = false

  public init(name: String = "relu") { self.name = name }

  public func outputShape(forSample inputShape: [Int]) -> [Int] { inputShape }

  public func forward(_ input: Tensor) -> Tensor {
    output = Tensor(uninitializedShape: input.shape) { y in
      input.withUnsafeBufferPointer { x in
        Kernels.relu(x.baseAddress!, y.baseAddress!, count: x.count)
      }
    }
    return output
  }

  public func backward(_ dy: Tensor) -> Tensor {
    invariant(dy.shape == output.shape, "\(name) backward: gradient \(dy.shape) vs output \(output.shape)")
    if receivesMaskedGradient { return dy }
    return Tensor(uninitializedShape: dy.shape) { dx in
      output.withUnsafeBufferPointer { y in
        dy.withUnsafeBufferPointer { g in
          Kernels.reluBackward(output: y.baseAddress!, g.baseAddress!, dx.baseAddress!, count: dx.count)
        }
      }
    }
  }
}
