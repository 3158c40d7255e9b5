import TandemTensor

/// The reference architectures of REFERENCE_MODELS.md, by their published names.
public enum ModelName: String, CaseIterable, Sendable, Codable {
  case xrayCNN = "xray-cnn"
  /// xray-cnn with group normalisation before each convolution's ReLU: the
  /// same convolutions, 480 more parameters, made for X-rays from other machines.
  case xrayCNNGroupNorm = "xray-cnn-gn"
  /// xray-cnn-gn with a fifth block (pool, then 128 -> 256 channels): twice
  /// the receptive field (78 pixels against 38 at any input size), so the
  /// pooled features see a lung region, not a patch of texture.
  case xrayCNNDeep = "xray-cnn-deep"
  case churnLogreg = "churn-logreg"
  case churnMLP = "churn-mlp"

  /// Parses a name from a user, with the known names in the error.
  public init(parsing text: String) throws(ModelError) {
    guard let name = ModelName(rawValue: text) else {
      throw .unknownModel(text, known: ModelName.allCases.map(\.rawValue))
    }
    self = name
  }

  public var isImageModel: Bool { self == .xrayCNN || self == .xrayCNNGroupNorm || self == .xrayCNNDeep }

  /// What the image side must be a multiple of: one halving per pooling layer.
  public var imageSizeMultiple: Int { self == .xrayCNNDeep ? 16 : 8 }
}

extension Model {
  /// Builds a reference model with He-normal weights drawn from `seed`.
  ///
  /// - `xray-cnn`: input `[1, imageSize, imageSize]`, `classes` outputs, softmax CE.
  /// - `churn-logreg`, `churn-mlp`: input `[features]`, one logit, sigmoid BCE.
  public static func reference(
    _ name: ModelName, features: Int = 45, imageSize: Int = 128, classes: Int = 2,
    classWeights: [Float]? = nil, seed: UInt64
  ) throws(ModelError) -> Model {
    let model: Model
    switch name {
    case .xrayCNN:
      guard imageSize >= 8, imageSize % 8 == 0 else {
        throw .invalidArchitecture("xray-cnn needs an image size that is a positive multiple of 8, got \(imageSize)")
      }
      guard classes >= 2 else { throw .invalidArchitecture("xray-cnn needs at least 2 classes, got \(classes)") }
      model = Model(
        name: name.rawValue, sampleShape: [1, imageSize, imageSize], classes: classes,
        layers: [
          Conv2D(name: "conv1", inChannels: 1, outChannels: 16, activation: .relu, computesInputGradient: false),
          MaxPool2D(name: "pool1"),
          Conv2D(name: "conv2", inChannels: 16, outChannels: 32, activation: .relu), MaxPool2D(name: "pool2"),
          Conv2D(name: "conv3", inChannels: 32, outChannels: 64, activation: .relu), MaxPool2D(name: "pool3"),
          Conv2D(name: "conv4", inChannels: 64, outChannels: 128, activation: .relu),
          GlobalAveragePool(),
          Dense(name: "fc1", inputs: 128, outputs: 64), ReLU(),
          Dense(name: "fc2", inputs: 64, outputs: classes),
        ],
        loss: SoftmaxCrossEntropy(classWeights: classWeights))
    case .xrayCNNGroupNorm, .xrayCNNDeep:
      let multiple = name.imageSizeMultiple
      guard imageSize >= multiple, imageSize % multiple == 0 else {
        throw .invalidArchitecture("\(name.rawValue) needs an image size that is a positive multiple of \(multiple), got \(imageSize)")
      }
      guard classes >= 2 else { throw .invalidArchitecture("\(name.rawValue) needs at least 2 classes, got \(classes)") }
      // Groups of 4 channels: statistics per sample (so ranks cannot
      // differ), yet fine enough to keep the contrast between channels.
      func block(_ n: Int, _ input: Int, _ output: Int, pool: Bool) -> [any Layer] {
        [Conv2D(name: "conv\(n)", inChannels: input, outChannels: output, activation: .identity, computesInputGradient: n > 1),
         GroupNorm(name: "norm\(n)", channels: output, groups: output / 4), ReLU()] + (pool ? [MaxPool2D(name: "pool\(n)")] : [])
      }
      let deep = name == .xrayCNNDeep
      let width = deep ? 256 : 128
      let convolutions = block(1, 1, 16, pool: true) + block(2, 16, 32, pool: true) + block(3, 32, 64, pool: true)
        + block(4, 64, 128, pool: deep) + (deep ? block(5, 128, 256, pool: false) : [])
      model = Model(
        name: name.rawValue, sampleShape: [1, imageSize, imageSize], classes: classes,
        layers: convolutions
          + [GlobalAveragePool(), Dense(name: "fc1", inputs: width, outputs: 64), ReLU(), Dense(name: "fc2", inputs: 64, outputs: classes)],
        loss: SoftmaxCrossEntropy(classWeights: classWeights))
    case .churnLogreg, .churnMLP:
      guard features > 0 else { throw .invalidArchitecture("\(name.rawValue) needs at least one feature, got \(features)") }
      guard classes == 2 else { throw .invalidArchitecture("\(name.rawValue) is binary, got \(classes) classes") }
      let layers: [any Layer] = name == .churnLogreg
        ? [Dense(name: "fc", inputs: features, outputs: 1)]
        : [Dense(name: "fc1", inputs: features, outputs: 64), ReLU(),
           Dense(name: "fc2", inputs: 64, outputs: 32), ReLU(),
           Dense(name: "fc3", inputs: 32, outputs: 1)]
      model = Model(name: name.rawValue, sampleShape: [features], classes: 2, layers: layers,
                    loss: SigmoidBinaryCrossEntropy(classWeights: classWeights))
    }
    Initialization.heNormal(model.parameters, seed: seed)
    return model
  }
}
