import ArgumentParser
import Foundation
import TandemData
import TandemExport

extension Tandem {
  struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Write a model for use outside Tandem: ONNX (graph and weights) or safetensors (weights).",
      discussion: """
        tandem export churn@2 --format onnx --out churn.onnx
        tandem export runs/20261201-... --format safetensors --out model.safetensors

        SOURCE is a run directory (evaluated: the threshold comes from its evaluation) or a \
        registered NAME[@VERSION] (default: the production version). The ONNX model (opset 17) \
        takes what `tandem predict` has after decoding: images as float pixels in [0, 1], \
        [N, 1, S, S]; tables as the raw encoded feature vector [N, d] (numbers as in the CSV, \
        categories one-hot). The training normalisation is inside the graph; the output \
        `probability` [N] is the positive class's. Metadata: class names, threshold, feature \
        names, snapshot id, dataset hash. safetensors holds the float32 weights under PyTorch's \
        module names and the same metadata. docs/interop.md shows both in use.
        """)

    enum Format: String, ExpressibleByArgument, CaseIterable { case onnx, safetensors }

    @OptionGroup var storeOption: StoreOption
    @Argument(help: "A run directory, or a registered NAME[@VERSION].") var source: String
    @Option(help: "onnx or safetensors.") var format: Format
    @Option(help: "The file to write.") var out: String

    func run() throws {
      let export: ModelExport
      if FileManager.default.fileExists(atPath: source + "/config.toml") {
        export = try ModelExport(runDirectory: source)
      } else {
        guard let reference = ModelReference(argument: source) else {
          throw ValidationError("'\(source)' is neither a run directory nor NAME[@VERSION]")
        }
        let store = try storeOption.open()
        export = try ModelExport(store: store, version: try store.registry.modelVersion(name: reference.name, version: reference.version))
      }
      let bytes = format == .onnx ? try export.onnx() : export.safetensors()
      try AtomicFile.write(Data(bytes), to: out)
      printNow("wrote \(out): \(export.architecture.rawValue) for \(export.task.rawValue) from \(export.source) as \(format.rawValue) "
               + "(\(bytes.count) bytes, \(export.model.parameterCount) parameters, threshold \(String(format: "%.4f", export.threshold)))")
    }
  }
}
