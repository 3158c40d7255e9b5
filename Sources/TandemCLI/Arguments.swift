import ArgumentParser
import TandemCUDA
import TandemData
import TandemNN
import TandemRun
import TandemTensor

// Domain values parsed straight from the command line, so a bad one is a
// usage error (exit 64) that lists the choices.

extension NumericPath: ExpressibleByArgument {}
extension RunConfiguration.ComputeDeviceKind: ExpressibleByArgument {}

/// `--device cpu|cuda` for commands that score a trained model: where its
/// forward passes run (training takes `[cluster] device` from the run file).
struct DeviceOption: ParsableArguments {
  @Option(help: "Where the model's forward passes run: cpu (default) or cuda (one GPU per rank; docs/cuda.md).")
  var device = RunConfiguration.ComputeDeviceKind.cpu

  /// Moves `model`'s passes to this rank's GPU when asked.
  func place(_ model: Model) throws {
    guard device == .cuda else { return }
    try CUDAModel.attach(model, to: try CUDADevice.open())
  }
}

extension Split: ExpressibleByArgument {
  public init?(argument: String) { self.init(name: argument) }
  public static var allValueStrings: [String] { names }
  public var defaultValueDescription: String { description }
}
