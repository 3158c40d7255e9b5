import TandemTensor

/// A feed-forward network: layers applied in order, then a loss on the logits.
///
/// Entry points check what comes from outside (input shape, labels) and throw
/// `ModelError`; between layers, shapes are ours and checked by `precondition`.
public final class Model {
  public let name: String
  /// One sample's input shape, e.g. `[1, 128, 128]` or `[45]`.
  public let sampleShape: [Int]
  public let classes: Int
  public let layers: [any Layer]
  public let loss: any Loss
  /// All trainable parameters, in the fixed order used by allreduce and checkpoints.
  public let parameters: [Parameter]
  /// Where forward and backward run; nil: the layers' own CPU code.
  public var device: (any ComputeDevice)?

  public init(name: String, sampleShape: [Int], classes: Int, layers: [any Layer], loss: any Loss) {
    self.name = name
    self.sampleShape = sampleShape
    self.classes = classes
    self.layers = layers
    self.loss = loss
    self.parameters = layers.flatMap(\.parameters)
    let out = layers.reduce(sampleShape) { $1.outputShape(forSample: $0) }
    invariant(out == [loss.logitCount(classes: classes)],
                 "\(name): layers end in \(out), loss needs [\(loss.logitCount(classes: classes))]")
    // A ReLU just before a max pooling: the pooling's backward applies the
    // ReLU's mask (the same bits), sparing a pass over the ReLU's output.
    for (before, after) in zip(layers, layers.dropFirst()) {
      guard let pool = after as? MaxPool2D else { continue }
      if let conv = before as? Conv2D, conv.activation == .relu {
        conv.receivesMaskedGradient = true
        pool.appliesReLUMask = true
      } else if let relu = before as? ReLU {
        relu.receivesMaskedGradient = true
        pool.appliesReLUMask = true
      }
    }
  }

  public var parameterCount: Int { parameters.reduce(0) { $0 + $1.count } }

  /// Logits `[batch, logits]` for a batch `[batch] + sampleShape`.
  public func forward(_ input: Tensor) throws(ModelError) -> Tensor {
    try validate(input)
    if let device { return try device.forward(self, input) }
    return layers.reduce(input) { $1.forward($0) }
  }

  /// Runs forward and backward on one batch, *adding* to every parameter's
  /// gradient, and returns the loss. See `Loss` for `normalizer`.
  @discardableResult
  public func accumulateGradients(_ input: Tensor, labels: [Int32], normalizer: Int? = nil) throws(ModelError) -> Double {
    try validate(input)
    guard labels.count == input.shape[0] else {
      throw .labelCount(model: name, labels: labels.count, batch: input.shape[0])
    }
    if let bad = labels.firstIndex(where: { $0 < 0 || Int($0) >= classes }) {
      throw .labelOutOfRange(model: name, label: labels[bad], row: bad, classes: classes)
    }
    if let device { return try device.accumulateGradients(self, input, labels: labels, normalizer: normalizer) }
    let logits = layers.reduce(input) { $1.forward($0) }
    let (value, gradient) = loss.evaluate(logits: logits, labels: labels, normalizer: normalizer)
    _ = layers.reversed().reduce(gradient) { $1.backward($0) }
    return value
  }

  /// Class probabilities `[batch, classes]`.
  public func probabilities(_ input: Tensor) throws(ModelError) -> Tensor {
    loss.probabilities(logits: try forward(input), classes: classes)
  }

  public func zeroGradients() {
    for p in parameters { p.zeroGradient() }
  }

  private func validate(_ input: Tensor) throws(ModelError) {
    guard input.rank == sampleShape.count + 1, Array(input.shape.dropFirst()) == sampleShape, input.shape[0] > 0 else {
      throw .inputShape(model: name, expected: sampleShape, actual: input.shape)
    }
  }
}

/// Runs a model's forward and backward passes somewhere other than the
/// layers' own CPU code (an accelerator backend). Inputs and labels arrive
/// checked; the device must compute what the layers and loss define, add the
/// batch's gradient into each parameter's `gradient`, and leave parameter
/// values to the host's optimiser.
public protocol ComputeDevice: AnyObject {
  func forward(_ model: Model, _ input: Tensor) throws(ModelError) -> Tensor
  func accumulateGradients(_ model: Model, _ input: Tensor, labels: [Int32], normalizer: Int?) throws(ModelError) -> Double
}

public enum ModelError: Error, Equatable, CustomStringConvertible {
  case unknownModel(String, known: [String])
  case inputShape(model: String, expected: [Int], actual: [Int])
  case labelCount(model: String, labels: Int, batch: Int)
  case labelOutOfRange(model: String, label: Int32, row: Int, classes: Int)
  case invalidArchitecture(String)
  /// The compute device failed or cannot run this model.
  case device(String)

  public var description: String {
    switch self {
    case .unknownModel(let name, let known):
      return "unknown model '\(name)' (known: \(known.joined(separator: ", ")))"
    case .inputShape(let model, let expected, let actual):
      return "\(model): input must be [batch>0] + \(expected), got \(actual)"
    case .labelCount(let model, let labels, let batch):
      return "\(model): \(labels) labels for a batch of \(batch)"
    case .labelOutOfRange(let model, let label, let row, let classes):
      return "\(model): label \(label) at row \(row) is outside 0..<\(classes)"
    case .invalidArchitecture(let why), .device(let why):
      return why
    }
  }
}
