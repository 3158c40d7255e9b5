import ArgumentParser
import TandemNN
import TandemTraining

extension Tandem {
  struct Architectures: ParsableCommand {
    static let configuration = CommandConfiguration(
      commandName: "architectures",
      abstract: "List the architectures, their parameter counts and the cost of a training step.",
      discussion: """
        tandem architectures --image-size 224

        The step cost is measured here, on one thread: one forward, backward and SGD update of \
        16 synthetic samples, the best of 3, per sample. xray-cnn is the reference model every \
        benchmark quotes; xray-cnn-gn adds group normalisation before each convolution's ReLU, and \
        xray-cnn-deep a fifth block (twice the receptive field).
        """)

    @Option(help: "Feature count for the churn models (the Telco table has 46).") var features = 46
    @Option(name: .customLong("image-size"), help: "Image side for the X-ray models.") var imageSize = 128
    @Flag(help: "Skip the step-cost measurement.") var noTiming = false

    func run() throws {
      for name in ModelName.allCases {
        let model = try Model.reference(name, features: features, imageSize: imageSize, seed: 0)
        let input = model.sampleShape.map(String.init).joined(separator: "x")
        var line = "\(name.rawValue)\tinput \(input)\t\(model.parameterCount) parameters"
        if !noTiming {
          let ms = try KernelBenchmark.stepMilliseconds(name, features: features, imageSize: imageSize)
          line += "\tstep \(ms < 0.1 ? String(format: "%.4f", ms) : String(format: "%.2f", ms)) ms per sample"
        }
        printNow(line)
      }
    }
  }
}
