import Foundation
import TandemCUDA
import TandemData
import TandemNN
import TandemTensor

/// The CPU path's answers for the CUDA harness (CUDA/harness/check.cu), which
/// runs without Swift on a GPU machine: one micro-batch of a model, with every
/// layer's output and input gradient, the loss and the parameter gradient.
///
/// A directory holds `reference.txt` (the layer program, sample shape, loss,
/// batch and normaliser, in the format CUDA/README.md defines) and raw
/// little-endian tensors: `input.f32`, `labels.i32`, `parameters.f32` (every
/// parameter in model order), `forward-K.f32` and `backward-K.f32` per layer K
/// (no `backward` for a first convolution, which computes no input gradient),
/// `loss.f64` and `gradients.f32`.
public enum CUDAReference {
  /// The image models `writeStandard` covers, between them every image layer kind.
  public static let imageModels: [ModelName] = [.xrayCNN, .xrayCNNGroupNorm, .xrayCNNDeep]

  /// The image side must be a multiple of this for every one of `imageModels`.
  public static var imageSizeMultiple: Int { imageModels.map(\.imageSizeMultiple).max() ?? 1 }

  /// `imageModels` on `imageSize`² images and churn-mlp on 46 features (every
  /// layer kind and both losses), each on a batch of `batch` seeded samples,
  /// in `directory`/MODEL.
  public static func writeStandard(to directory: String, imageSize: Int = 128, batch: Int = 3, seed: UInt64 = 1) throws -> [String] {
    var random = SeededGenerator(seed: seed)
    let pixels = Tensor(uncheckedShape: [batch, 1, imageSize, imageSize],
                        scalars: (0..<(batch * imageSize * imageSize)).map { _ in Float(random.nextUniform()) })
    let features = Tensor(uncheckedShape: [batch, 46], scalars: (0..<(batch * 46)).map { _ in Float(random.nextNormal()) })
    let labels = (0..<batch).map { Int32($0 % 2) }
    var written: [String] = []
    let models = try imageModels.map { (try Model.reference($0, imageSize: imageSize, seed: seed), pixels) }
      + [(try Model.reference(.churnMLP, features: 46, seed: seed), features)]
    for (model, input) in models {
      let path = directory + "/" + model.name
      try write(model, input: input, labels: labels, normalizer: 2 * batch, to: path)
      written.append(path)
    }
    return written
  }

  /// One model's reference, from the layers' own CPU forward and backward.
  public static func write(_ model: Model, input: Tensor, labels: [Int32], normalizer: Int, to directory: String) throws {
    _ = try CUDAModel.program(of: model)
    do { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
      throw DataError(path: directory, message: "cannot create the directory: \(error.localizedDescription)")
    }
    var outputs: [Tensor] = []
    var x = input
    for layer in model.layers {
      x = layer.forward(x)
      outputs.append(x)
    }
    var (loss, gradient) = model.loss.evaluate(logits: x, labels: labels, normalizer: normalizer)
    model.zeroGradients()
    var inputGradients: [Tensor?] = Array(repeating: nil, count: model.layers.count)
    for (k, layer) in model.layers.enumerated().reversed() {
      gradient = layer.backward(gradient)
      if let conv = layer as? Conv2D, !conv.computesInputGradient { continue }
      inputGradients[k] = gradient
    }

    let text = "# Tandem CUDA reference: \(model.name), written by the CPU path (numerics \(Numerics.identifier))\n"
      + (try CUDAModel.referenceDescription(of: model, batch: labels.count, normalizer: normalizer))

    func floats(_ values: [Float], _ name: String) throws {
      try AtomicFile.write(values.withUnsafeBytes { Data($0) }, to: directory + "/" + name)
    }
    try floats(input.scalars, "input.f32")
    try AtomicFile.write(labels.withUnsafeBytes { Data($0) }, to: directory + "/labels.i32")
    try floats(model.parameters.flatMap(\.value.scalars), "parameters.f32")
    for (k, output) in outputs.enumerated() {
      try floats(output.scalars, "forward-\(k).f32")
      if let g = inputGradients[k] { try floats(g.scalars, "backward-\(k).f32") }
    }
    try AtomicFile.write(withUnsafeBytes(of: loss) { Data($0) }, to: directory + "/loss.f64")
    try floats(model.parameters.flatMap(\.gradient.scalars), "gradients.f32")
    try AtomicFile.write(Data(text.utf8), to: directory + "/reference.txt")
  }
}
