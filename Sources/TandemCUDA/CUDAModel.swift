import CTandemCUDA
import TandemNN
import TandemTensor

/// A model's forward and backward passes on a GPU. The host keeps the
/// parameters (the optimiser updates them there, after the exact reduction),
/// so each call uploads them first; the gradient comes back and is added to
/// each parameter's, as the CPU layers add theirs.
public final class CUDAModel: ComputeDevice {
  let device: CUDADevice
  let handle: OpaquePointer
  let parameterCount: Int
  private var values: [Float]
  private var gradient: [Float]

  /// Runs `model` on `device` from now on (sets `model.device`).
  @discardableResult
  public static func attach(_ model: Model, to device: CUDADevice) throws(CUDAError) -> CUDAModel {
    let runner = try CUDAModel(model, device: device)
    model.device = runner
    return runner
  }

  /// The backend's layer program for `model`, or why it has none.
  public static func program(of model: Model) throws(CUDAError) -> [tandem_cuda_layer] {
    try model.layers.map { (layer) throws(CUDAError) -> tandem_cuda_layer in
      var l = tandem_cuda_layer()
      switch layer {
      case let c as Conv2D:
        l.kind = Int32(TANDEM_CUDA_CONV2D)
        l.in_channels = Int32(c.inChannels); l.out_channels = Int32(c.outChannels)
        l.kernel = Int32(c.kernelSize); l.stride = Int32(c.stride); l.padding = Int32(c.padding)
        l.relu = c.activation == .relu ? 1 : 0
        l.input_gradient = c.computesInputGradient ? 1 : 0
      case is MaxPool2D: l.kind = Int32(TANDEM_CUDA_MAXPOOL2)
      case is GlobalAveragePool: l.kind = Int32(TANDEM_CUDA_GLOBAL_AVERAGE_POOL)
      case let d as Dense:
        l.kind = Int32(TANDEM_CUDA_DENSE)
        l.inputs = Int32(d.inputs); l.outputs = Int32(d.outputs)
      case is ReLU: l.kind = Int32(TANDEM_CUDA_RELU)
      case let g as GroupNorm:
        l.kind = Int32(TANDEM_CUDA_GROUP_NORM)
        l.in_channels = Int32(g.channels); l.groups = Int32(g.groups); l.epsilon = g.epsilon
      default:
        throw .unsupported("\(model.name) has layer \(layer.name) (\(type(of: layer))); the CUDA backend runs "
                           + "Conv2D, MaxPool2D, GlobalAveragePool, GroupNorm, Dense and ReLU")
      }
      return l
    }
  }

  /// How the harness reads a model and a batch (`reference.txt`, CUDA/README.md):
  /// `sample`, `loss` (kind, classes, optional class weights), `batch`,
  /// `normalizer`, then one `layer` line per layer with the program's fields.
  public static func referenceDescription(of model: Model, batch: Int, normalizer: Int) throws(CUDAError) -> String {
    var text = "sample " + model.sampleShape.map(String.init).joined(separator: " ") + "\n"
    let (loss, weights) = try lossKind(of: model)
    text += loss == Int32(TANDEM_CUDA_SOFTMAX_CROSS_ENTROPY) ? "loss softmax \(model.classes)" : "loss sigmoid 2"
    text += (weights.map { " " + $0.map { "\($0)" }.joined(separator: " ") } ?? "") + "\n"
    text += "batch \(batch)\nnormalizer \(normalizer)\n"
    for l in try program(of: model) {
      switch Int(l.kind) {
      case Int(TANDEM_CUDA_CONV2D):
        text += "layer conv2d \(l.in_channels) \(l.out_channels) \(l.kernel) \(l.stride) \(l.padding) \(l.relu) \(l.input_gradient)\n"
      case Int(TANDEM_CUDA_DENSE): text += "layer dense \(l.inputs) \(l.outputs)\n"
      case Int(TANDEM_CUDA_MAXPOOL2): text += "layer maxpool2\n"
      case Int(TANDEM_CUDA_GLOBAL_AVERAGE_POOL): text += "layer gap\n"
      case Int(TANDEM_CUDA_GROUP_NORM): text += "layer groupnorm \(l.in_channels) \(l.groups) \(l.epsilon)\n"
      default: text += "layer relu\n"
      }
    }
    return text
  }

  /// The backend's loss for `model` and its class weights.
  static func lossKind(of model: Model) throws(CUDAError) -> (loss: Int32, weights: [Float]?) {
    switch model.loss {
    case let l as SoftmaxCrossEntropy: return (Int32(TANDEM_CUDA_SOFTMAX_CROSS_ENTROPY), l.classWeights)
    case let l as SigmoidBinaryCrossEntropy: return (Int32(TANDEM_CUDA_SIGMOID_BINARY_CROSS_ENTROPY), l.classWeights)
    default: throw .unsupported("\(model.name)'s loss \(type(of: model.loss)) has no CUDA kernel")
    }
  }

  private init(_ model: Model, device: CUDADevice) throws(CUDAError) {
    let program = try Self.program(of: model)
    let (loss, weights) = try Self.lossKind(of: model)
    if let weights, weights.count != model.classes {
      throw .failed("\(model.name) has \(weights.count) class weights for \(model.classes) classes")
    }
    let shape = model.sampleShape.map(Int32.init)
    var created: OpaquePointer?
    let backend = device.backend
    try CUDABackend.call(CUDAError.failed) { error, size in
      program.withUnsafeBufferPointer { layers in
        shape.withUnsafeBufferPointer { sample in
          func create(_ w: UnsafePointer<Float>?) -> Int32 {
            backend.modelCreate(device.context, layers.baseAddress!, Int32(layers.count), sample.baseAddress!, Int32(sample.count),
                                loss, Int32(model.classes), w, &created, error, size)
          }
          if let weights { return weights.withUnsafeBufferPointer { create($0.baseAddress) } }
          return create(nil)
        }
      }
    }
    guard let created else { throw .failed("tandem_cuda_model_create returned no model") }
    self.device = device
    self.handle = created
    parameterCount = backend.parameterCount(created)
    guard parameterCount == model.parameterCount else {
      backend.modelDestroy(created)
      throw .failed("the backend counts \(parameterCount) parameters in \(model.name), Tandem \(model.parameterCount)")
    }
    values = [Float](repeating: 0, count: parameterCount)
    gradient = values
  }

  deinit { device.backend.modelDestroy(handle) }

  private func upload(_ model: Model) throws(ModelError) {
    var offset = 0
    values.withUnsafeMutableBufferPointer { flat in
      for p in model.parameters {
        p.value.withUnsafeBufferPointer { flat.baseAddress!.advanced(by: offset).update(from: $0.baseAddress!, count: $0.count) }
        offset += p.count
      }
    }
    let backend = device.backend, handle = handle
    try Self.modelCall { error, size in values.withUnsafeBufferPointer { backend.setParameters(handle, $0.baseAddress!, error, size) } }
  }

  private static func modelCall(_ body: (CUDABackend.ErrorBuffer, Int) -> Int32) throws(ModelError) {
    do { try CUDABackend.call(CUDAError.failed, body) } catch { throw .device(error.description) }
  }

  public func forward(_ model: Model, _ input: Tensor) throws(ModelError) -> Tensor {
    try upload(model)
    let batch = input.shape[0], logits = model.loss.logitCount(classes: model.classes)
    let backend = device.backend, handle = handle
    var output = [Float](repeating: 0, count: batch * logits)
    try Self.modelCall { error, size in
      input.withUnsafeBufferPointer { x in
        output.withUnsafeMutableBufferPointer { backend.forward(handle, x.baseAddress!, Int32(batch), $0.baseAddress!, error, size) }
      }
    }
    return Tensor(uncheckedShape: [batch, logits], scalars: output)
  }

  public func accumulateGradients(_ model: Model, _ input: Tensor, labels: [Int32], normalizer: Int?) throws(ModelError) -> Double {
    try upload(model)
    let batch = input.shape[0]
    let backend = device.backend, handle = handle
    var loss = 0.0
    try Self.modelCall { error, size in
      input.withUnsafeBufferPointer { x in
        labels.withUnsafeBufferPointer { y in
          gradient.withUnsafeMutableBufferPointer { g in
            backend.gradients(handle, x.baseAddress!, y.baseAddress!, Int32(batch), Int32(normalizer ?? batch), &loss,
                              g.baseAddress!, error, size)
          }
        }
      }
    }
    var offset = 0
    for p in model.parameters {
      gradient.withUnsafeBufferPointer { g in
        p.gradient.withUnsafeMutableBufferPointer { target in
          for i in 0..<target.count { target[i] += g[offset + i] }
        }
      }
      offset += p.count
    }
    return loss
  }
}
