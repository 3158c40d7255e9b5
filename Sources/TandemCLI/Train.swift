import ArgumentParser
import Foundation
import TandemNN
import TandemTensor
import TandemTraining

extension Tandem {
  struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Train a reference model in one process and report the loss per step.",
      discussion: """
        Trains on generated in-memory data with known structure (--synthetic N): a
        linearly separable table for the churn models, noisy images with or without a
        bright disc for xray-cnn. Defaults follow REFERENCE_MODELS.md.
        """)

    @Option(help: "Model: \(ModelName.allCases.map(\.rawValue).joined(separator: ", ")).")
    var model: String
    @Option(help: "Number of generated training samples.") var synthetic = 2048
    @Option(help: "Training steps.") var steps = 50
    @Option(name: .customLong("global-batch"), help: "Samples per step (default: the model's reference batch).")
    var globalBatch: Int?
    @Option(name: .customLong("learning-rate"), help: "Learning rate (default: reference, scaled with the batch).")
    var learningRate: Float?
    @Option(help: "Seed for data and initial weights.") var seed: UInt64 = 1
    @Option(name: .customLong("image-size"), help: "Image side for xray-cnn.") var imageSize = 128
    @Option(help: "Feature count for the churn models.") var features = 45
    @Option(name: .customLong("blas-threads"), help: "OpenBLAS threads.") var blasThreads = 1

    func validate() throws {
      guard synthetic > 0 else { throw ValidationError("--synthetic must be positive, got \(synthetic)") }
      guard steps > 0 else { throw ValidationError("--steps must be positive, got \(steps)") }
      if let globalBatch, globalBatch <= 0 { throw ValidationError("--global-batch must be positive, got \(globalBatch)") }
      if let learningRate, !(learningRate > 0) { throw ValidationError("--learning-rate must be positive, got \(learningRate)") }
      guard blasThreads > 0 else { throw ValidationError("--blas-threads must be positive, got \(blasThreads)") }
    }

    func run() throws {
      let name = try ModelName(parsing: model)
      BLAS.threadCount = blasThreads
      var settings = TrainingSettings.reference(for: name, globalBatch: globalBatch)
      if let learningRate { settings.learningRate = learningRate }
      let network = try Model.reference(name, features: features, imageSize: imageSize, seed: seed)
      let data = name.isImageModel
        ? SyntheticData.images(count: synthetic, size: imageSize, seed: seed &+ 1)
        : SyntheticData.separableRows(count: synthetic, features: features, seed: seed &+ 1)
      let trainer = Trainer(model: network, settings: settings)
      printNow("training \(name.rawValue) (\(network.parameterCount) parameters) on \(synthetic) synthetic samples, "
               + "batch \(settings.globalBatch), lr \(settings.learningRate), seed \(seed)")
      let batch = min(settings.globalBatch, synthetic)
      var cursor = 0
      let start = Date()
      for step in 1...steps {
        if cursor + batch > synthetic { cursor = 0 }
        let loss = try trainer.step(SyntheticData.slice(data, cursor..<cursor + batch))
        cursor += batch
        let elapsed = Date().timeIntervalSince(start)
        let rate = Double(step * batch) / elapsed
        let eta = elapsed / Double(step) * Double(steps - step)
        printNow(String(format: "step %d/%d  loss %.4f  %.0f samples/s  ETA %.0fs", step, steps, loss, rate, eta))
      }
    }
  }
}
