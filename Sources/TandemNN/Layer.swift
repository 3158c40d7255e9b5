import TandemTensor

/// One stage of a network, with hand-written forward and backward passes.
///
/// `forward` keeps what `backward` needs (the input, a ReLU's output, pooling
/// argmax); `backward` *adds* into each parameter's gradient and returns the
/// gradient with respect to the input. Calls alternate: one `forward`, then at
/// most one `backward` for it.
public protocol Layer: AnyObject {
  /// Name used to prefix parameter names (`conv1`, `fc2`, ...).
  var name: String { get }
  /// Trainable parameters, in the order used for allreduce and checkpoints.
  var parameters: [Parameter] { get }
  /// Shape of one sample's output for one sample's input shape (no batch axis).
  func outputShape(forSample inputShape: [Int]) -> [Int]
  func forward(_ input: Tensor) -> Tensor
  /// Returns dL/d(input) given dL/d(output), accumulating dL/d(parameters).
  func backward(_ outputGradient: Tensor) -> Tensor
  /// Which linear piece the last `forward` was on (ReLU signs, max-pool winners);
  /// empty for smooth layers. Two inputs with equal patterns lie on one piece,
  /// which is how gradient checks tell a kink from a wrong gradient.
  var activationPattern: [UInt8] { get }
}

extension Layer {
  public var parameters: [Parameter] { [] }
  public var activationPattern: [UInt8] { [] }
}
