import TandemNN
import TandemTensor

/// A layer or loss with no ONNX form in this exporter (a new architecture must add one).
public struct ExportError: Error, CustomStringConvertible {
  public let description: String
}

extension ModelExport {
  /// The model as an ONNX file (opset 17): input `input`, what `tandem
  /// predict` has after decoding (`[N, 1, S, S]` pixels in [0, 1], or `[N, d]`
  /// raw encoded features); the training normalisation, every layer, and the
  /// probability of the positive class, output `probability` `[N]`.
  public func onnx() throws(ExportError) -> [UInt8] {
    var graph = GraphBuilder()
    let batch = ONNX.Dimension.symbol("N")
    let input = ONNX.Value(name: "input", dims: [batch] + model.sampleShape.map { .value($0) }, doc: metadata.first { $0.key == "input" }!.value)
    // Pixels are one channel: their statistics broadcast as [1]; features have one each.
    let statisticsShape = model.sampleShape.count == 3 ? [1] : [mean.count]
    graph.constant("mean", dims: statisticsShape, floats: mean)
    graph.constant("std", dims: statisticsShape, floats: std)
    var x = graph.node("Sub", ["input", "mean"], name: "normalise_centre")
    x = graph.node("Div", [x, "std"], name: "normalise_scale")

    for layer in model.layers {
      switch layer {
      case let conv as Conv2D:
        graph.constant(conv.weight)
        graph.constant(conv.bias)
        x = graph.node("Conv", [x, conv.weight.name, conv.bias.name], name: conv.name, attributes: [
          .ints("kernel_shape", [conv.kernelSize, conv.kernelSize]), .ints("strides", [conv.stride, conv.stride]),
          .ints("pads", Array(repeating: conv.padding, count: 4)), .ints("dilations", [1, 1]), .int("group", 1),
        ])
        if conv.activation == .relu { x = graph.node("Relu", [x], name: conv.name + ".relu") }
      case let pool as MaxPool2D:
        x = graph.node("MaxPool", [x], name: pool.name, attributes: [.ints("kernel_shape", [2, 2]), .ints("strides", [2, 2])])
      case let pool as GlobalAveragePool:
        x = graph.node("GlobalAveragePool", [x], name: pool.name)
        x = graph.node("Flatten", [x], name: pool.name + ".flatten", attributes: [.int("axis", 1)])
      case let dense as Dense:
        graph.constant(dense.weight)
        graph.constant(dense.bias)
        x = graph.node("Gemm", [x, dense.weight.name, dense.bias.name], name: dense.name, attributes: [.int("transB", 1)])
      case let relu as ReLU:
        x = graph.node("Relu", [x], name: relu.name)
      case let norm as GroupNorm:
        x = groupNorm(norm, x, &graph)
      default:
        throw ExportError(description: "layer '\(layer.name)' (\(type(of: layer))) has no ONNX form in this exporter")
      }
    }

    switch model.loss {
    case is SoftmaxCrossEntropy:
      x = graph.node("Softmax", [x], name: "softmax", attributes: [.int("axis", 1)])
      graph.constant("positive_class", dims: [], int64s: [model.classes - 1])
      graph.node("Gather", [x, "positive_class"], name: "probability", output: "probability", attributes: [.int("axis", 1)])
    case is SigmoidBinaryCrossEntropy:
      x = graph.node("Sigmoid", [x], name: "sigmoid")
      graph.constant("logit_axis", dims: [1], int64s: [1])
      graph.node("Squeeze", [x, "logit_axis"], name: "probability", output: "probability")
    default:
      throw ExportError(description: "loss \(type(of: model.loss)) has no ONNX probability head in this exporter")
    }

    var onnx = ONNX.Model(graphName: architecture.rawValue, doc: "Tandem \(architecture.rawValue) for \(task.rawValue), "
                            + "exported from \(source)", producerVersion: metadata.first { $0.key == "tandem.version" }!.value)
    onnx.nodes = graph.nodes
    onnx.initializers = graph.initializers
    onnx.inputs = [input]
    onnx.outputs = [ONNX.Value(name: "probability", dims: [batch], doc: "probability of '\(classNames[1])'")]
    onnx.metadata = metadata
    return onnx.serialized()
  }

  /// GroupNorm (an operator only from opset 18) as opset 17 has it: the
  /// groups standardised by InstanceNormalization over `[N, groups, rest]`,
  /// then the per-channel scale and shift.
  private func groupNorm(_ norm: GroupNorm, _ x: String, _ graph: inout GraphBuilder) -> String {
    let g = norm.groups, c = norm.channels
    graph.constant(norm.name + ".grouped_shape", dims: [3], int64s: [0, g, -1])
    graph.constant(norm.name + ".ones", dims: [g], floats: [Float](repeating: 1, count: g))
    graph.constant(norm.name + ".zeros", dims: [g], floats: [Float](repeating: 0, count: g))
    graph.constant(norm.name + ".scale", dims: [c, 1, 1], floats: norm.scale.value.scalars)
    graph.constant(norm.name + ".shift", dims: [c, 1, 1], floats: norm.shift.value.scalars)
    let shape = graph.node("Shape", [x], name: norm.name + ".shape")
    var y = graph.node("Reshape", [x, norm.name + ".grouped_shape"], name: norm.name + ".group")
    y = graph.node("InstanceNormalization", [y, norm.name + ".ones", norm.name + ".zeros"], name: norm.name + ".standardise",
                   attributes: [.float("epsilon", norm.epsilon)])
    y = graph.node("Reshape", [y, shape], name: norm.name + ".ungroup")
    y = graph.node("Mul", [y, norm.name + ".scale"], name: norm.name + ".scale_channels")
    return graph.node("Add", [y, norm.name + ".shift"], name: norm.name + ".shift_channels")
  }
}

/// Nodes in order, each output named after its node.
private struct GraphBuilder {
  var nodes: [ONNX.Node] = []
  var initializers: [ONNX.Tensor] = []
  private var used: Set<String> = []

  /// Appends a node; a name already taken (layers such as ReLU share one) gets a number.
  @discardableResult
  mutating func node(_ op: String, _ inputs: [String], name: String, output: String? = nil,
                     attributes: [ONNX.Attribute] = []) -> String {
    var unique = name, n = 1
    while used.contains(unique) { n += 1; unique = "\(name)_\(n)" }
    used.insert(unique)
    let out = output ?? unique + ".out"
    nodes.append(ONNX.Node(op: op, inputs: inputs, outputs: [out], name: unique, attributes: attributes))
    return out
  }

  mutating func constant(_ parameter: Parameter) {
    initializers.append(ONNX.Tensor(name: parameter.name, dims: parameter.value.shape, floats: parameter.value.scalars))
  }

  mutating func constant(_ name: String, dims: [Int], floats: [Float]) {
    initializers.append(ONNX.Tensor(name: name, dims: dims, floats: floats))
  }

  mutating func constant(_ name: String, dims: [Int], int64s: [Int]) {
    initializers.append(ONNX.Tensor(name: name, dims: dims, int64s: int64s))
  }
}
