import TandemTensor

/// Stochastic gradient descent with momentum and L2 weight decay, in the
/// convention of PyTorch's `torch.optim.SGD`:
///
///     g ← ∇ + weightDecay · w
///     v ← momentum · v + g
///     w ← w − learningRate · v
///
/// One velocity buffer per parameter, in the model's parameter order.
public final class SGD {
  public var learningRate: Float
  public let momentum: Float
  public let weightDecay: Float
  public private(set) var velocities: [[Float]]

  public init(for parameters: [Parameter], learningRate: Float, momentum: Float = 0.9, weightDecay: Float = 1e-4) {
    invariant(learningRate >= 0, "learning rate must be non-negative, got \(learningRate)")
    invariant(momentum >= 0 && momentum < 1, "momentum must be in [0, 1), got \(momentum)")
    invariant(weightDecay >= 0, "weight decay must be non-negative, got \(weightDecay)")
    self.learningRate = learningRate
    self.momentum = momentum
    self.weightDecay = weightDecay
    velocities = parameters.map { [Float](repeating: 0, count: $0.count) }
  }

  /// Replaces the momentum buffers (for resuming from a checkpoint).
  public func restoreVelocities(_ saved: [[Float]]) {
    invariant(saved.map(\.count) == velocities.map(\.count),
                 "velocity sizes \(saved.map(\.count)) do not match \(velocities.map(\.count))")
    velocities = saved
  }

  /// Applies one update to every parameter from its accumulated gradient.
  public func step(_ parameters: [Parameter]) {
    invariant(parameters.count == velocities.count,
                 "SGD built for \(velocities.count) parameters, stepped with \(parameters.count)")
    let lr = learningRate, mu = momentum, wd = weightDecay
    for (index, parameter) in parameters.enumerated() {
      invariant(parameter.count == velocities[index].count,
                   "\(parameter.name): \(parameter.count) values, velocity has \(velocities[index].count)")
      parameter.gradient.withUnsafeBufferPointer { g in
        parameter.value.withUnsafeMutableBufferPointer { w in
          velocities[index].withUnsafeMutableBufferPointer { v in
            for i in 0..<w.count {
              let d = g[i] + wd * w[i]
              v[i] = mu * v[i] + d
              w[i] -= lr * v[i]
            }
          }
        }
      }
    }
  }
}
