import TandemTensor

/// A fully connected layer: `y = x · Wᵀ + b`.
/// `x` is `[batch, inputs]`, `W` is `[outputs, inputs]`, `b` is `[outputs]`.
public final class Dense: Layer {
  public let name: String
  public let inputs, outputs: Int
  public let weight: Parameter
  public let bias: Parameter
  private var input = Tensor(zeros: [0, 0])

  public init(name: String, inputs: Int, outputs: Int) {
    invariant(inputs > 0 && outputs > 0, "Dense \(name): inputs=\(inputs) outputs=\(outputs)")
    self.name = name
    self.inputs = inputs; self.outputs = outputs
    weight = Parameter(name: "\(name).weight", value: Tensor(zeros: [outputs, inputs]))
    bias = Parameter(name: "\(name).bias", value: Tensor(zeros: [outputs]))
  }

  public var parameters: [Parameter] { [weight, bias] }

  public func outputShape(forSample s: [Int]) -> [Int] {
    invariant(s == [inputs], "\(name) expects [\(inputs)] per sample, got \(s)")
    return [outputs]
  }

  public func forward(_ x: Tensor) -> Tensor {
    invariant(x.rank == 2 && x.shape[1] == inputs, "\(name) expects [batch, \(inputs)], got \(x.shape)")
    input = x
    var y = Tensor.product(x, weight.value, transposeB: true)
    y.withUnsafeMutableBufferPointer { ys in
      bias.value.withUnsafeBufferPointer { b in
        Kernels.addColumnBias(b.baseAddress!, to: ys.baseAddress!, rows: x.shape[0], columns: outputs)
      }
    }
    return y
  }

  public func backward(_ dy: Tensor) -> Tensor {
    invariant(dy.shape == [input.shape[0], outputs], "\(name) backward: gradient \(dy.shape) for input \(input.shape)")
    Tensor.gemm(dy, input, into: &weight.gradient, transposeA: true, accumulate: true)   // dW += dyᵀ·x
    bias.gradient.withUnsafeMutableBufferPointer { db in                        // db += Σ_batch dy
      dy.withUnsafeBufferPointer { g in
        Kernels.addColumnSums(of: g.baseAddress!, rows: dy.shape[0], columns: outputs, to: db.baseAddress!)
      }
    }
    return Tensor.product(dy, weight.value)                                     // dx = dy·W
  }
}
