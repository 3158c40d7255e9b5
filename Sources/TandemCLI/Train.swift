import ArgumentParser
import Foundation
import TandemMPI
import TandemNN
import TandemTensor
import TandemRun
import TandemSystem
import TandemTraining

extension Tandem {
  struct Train: ParsableCommand, UsageChecked {
    static let configuration = CommandConfiguration(
      abstract: "Train a model: data-parallel over MPI ranks from a run file, or in one process on generated data.",
      discussion: """
        mpirun -np N tandem train --config run.toml
        Trains on a Tandem HDF5 dataset as the TOML file describes (schema: docs/configuration.md). \
        Rank 0 prints progress and writes OUTPUT/RUN-ID/{config.toml,metrics.jsonl,model.h5,summary.json}.

        tandem train --architecture NAME --synthetic N
        Trains in one process on generated data with known structure: a linearly \
        separable table for the churn models, noisy images with or without a bright \
        disc for xray-cnn. Defaults follow REFERENCE_MODELS.md.
        """)

    @Option(help: "A run file (TOML) describing model, dataset, hyperparameters and output.")
    var config: String?
    @Option(help: "A run directory to continue from its newest valid checkpoint (on any number of ranks).")
    var resume: String?
    @Option(help: "Architecture to train on generated data (tandem architectures): \(ModelName.allCases.map(\.rawValue).joined(separator: ", ")).")
    var architecture: String?
    @Option(name: .customLong("set"), help: ArgumentHelp(
      "Override a run-file setting, as KEY=VALUE (repeatable); recorded in the run's config.toml and snapshot.",
      valueName: "key=value"))
    var overrides: [String] = []
    @Option(help: "Number of generated training samples (default 2048).") var synthetic: Int?
    @Option(help: "Training steps (default 50 on generated data; with --config, training.max_steps).") var steps: Int?
    @Option(name: .customLong("global-batch"), help: "Samples per step (default: the model's reference batch; with --config, training.global_batch).")
    var globalBatch: Int?
    @Option(name: .customLong("learning-rate"), help: "Learning rate (default: reference, scaled with the batch; with --config, training.learning_rate).")
    var learningRate: Float?
    @Option(help: "Seed for data and initial weights (default 1; with --config, seed).") var seed: UInt64?
    @Option(name: .customLong("image-size"), help: "Image side for xray-cnn on generated data (default 128).") var imageSize: Int?
    @Option(help: "Feature count for the churn models on generated data (default 46, as the Telco table).") var features: Int?
    @Option(name: .customLong("blas-threads"), help: "OpenBLAS threads (default 1; with --config, cluster.blas_threads).") var blasThreads: Int?
    @Option(name: .customLong("metrics-dir"), help: "Keep Prometheus textfile metrics of the run's progress in this directory (default: the run file's metrics_dir).")
    var metricsDirectory: String?

    func checkUsage() throws {
      guard [config, architecture, resume].compactMap({ $0 }).count == 1 else {
        throw ValidationError("give one of --config FILE, --resume RUN or --architecture NAME (with --synthetic N)")
      }
      if let synthetic, synthetic <= 0 { throw ValidationError("--synthetic must be positive, got \(synthetic)") }
      if let steps, steps <= 0 { throw ValidationError("--steps must be positive, got \(steps)") }
      if let globalBatch, globalBatch <= 0 { throw ValidationError("--global-batch must be positive, got \(globalBatch)") }
      if let learningRate, !(learningRate > 0) { throw ValidationError("--learning-rate must be positive, got \(learningRate)") }
      if let blasThreads, blasThreads <= 0 { throw ValidationError("--blas-threads must be positive, got \(blasThreads)") }
      // A flag that would change nothing is an error, never silence.
      let generatedOnly = [("--synthetic", synthetic != nil), ("--image-size", imageSize != nil), ("--features", features != nil)]
      if architecture == nil, let flag = generatedOnly.first(where: \.1)?.0 {
        throw ValidationError("\(flag) applies to generated data (--architecture NAME) only")
      }
      if architecture != nil, !overrides.isEmpty { throw ValidationError("--set applies to a run file (--config FILE) only") }
      if architecture != nil, metricsDirectory != nil { throw ValidationError("--metrics-dir applies to --config FILE or --resume RUN only") }
      if resume != nil, !runFileOverrides.isEmpty {
        throw ValidationError("a resumed run keeps the settings it started with; \(runFileOverrides.map { "--set \($0)" }.joined(separator: " ")) would change them")
      }
    }

    /// `--set` and the flags with a run-file key, as `KEY=VALUE`.
    private var runFileOverrides: [String] {
      var all = overrides
      if let seed { all.append("seed=\(seed)") }
      if let learningRate { all.append("training.learning_rate=\(learningRate)") }
      if let globalBatch { all.append("training.global_batch=\(globalBatch)") }
      if let steps { all.append("training.max_steps=\(steps)") }
      if let blasThreads { all.append("cluster.blas_threads=\(blasThreads)") }
      return all
    }

    func run() throws {
      if let config {
        try trainDistributed(configPath: config, resuming: nil)
      } else if let resume {
        let directory = resume.hasSuffix("/") ? String(resume.dropLast()) : resume
        try trainDistributed(configPath: directory + "/config.toml", resuming: directory)
      } else {
        try trainSynthetic()
      }
    }

    private func trainDistributed(configPath: String, resuming runDirectory: String?) throws {
      let faults = try FaultInjection(environment: ProcessInfo.processInfo.environment)
      try MPIWorld.run { world in
        // Every rank reads and checks the file; a problem is reported once.
        // Rank 0 reads the run file and sends its text: hosts without a
        // shared filesystem (scatter = true) need no copy of it.
        let overrides = runFileOverrides
        let read = try world.agree { () throws -> [UInt8] in
          world.rank == 0 ? Array(try RunConfiguration.readText(contentsOf: configPath).utf8) : []
        }
        let shared = String(decoding: try world.broadcast(bytes: read, root: 0), as: UTF8.self)
        let (configuration, text) = try world.agree { () throws -> (RunConfiguration, String) in
          try RunConfiguration.withText(shared, file: (configPath as NSString).lastPathComponent, overrides: overrides)
        }
        world.collectiveTimeout = configuration.cluster.collectiveTimeout
        let run = TrainingRun(configuration: configuration, configurationText: text, communicator: world,
                              faults: faults, resuming: runDirectory, log: printNow)
        run.onPhase = { world.phase = $0 }
        // After MPI_Init, whose launchers install handlers of their own.
        // Rank 0 alone says so: mpirun also sends SIGTERM to every rank when
        // one aborts, and their lines would bury that rank's error.
        let coordinator = world.rank == 0
        StopSignals.shared.install { signal in
          if coordinator { printError("tandem: \(signal): stopping after this step (again to stop at once)") }
        }
        run.stopRequested = { StopSignals.shared.requested }
        world.stopRequested = { StopSignals.shared.requested != nil }
        run.mpiVersion = MPICommunicator.libraryVersion
        run.metricsDirectory = metricsDirectory
        let summary = try run.run()
        if world.rank == 0 {
          let kept = summary.selectedEpoch.map { summary.validation[$0 - 1] } ?? summary.validation.last
          printNow(String(format: "done: %d steps in %.1f s (%.0f samples/s); model %@ accuracy %.4f, AUC %.4f",
                          summary.steps, summary.seconds, summary.samplesPerSecond,
                          configuration.training.validationSplit.description, kept?.accuracy ?? 0, kept?.rocAUC ?? 0))
          printNow("results: \(summary.runDirectory)/ (model.h5, metrics.jsonl, summary.json, config.toml)")
          if let snapshot = summary.snapshotID {
            printNow("snapshot: \(snapshot) (mpirun -np N tandem rerun \(snapshot) --store \(configuration.store))")
          }
        }
      }
    }

    private func trainSynthetic() throws {
      let name = try ModelName(parsing: architecture!)
      let seed = self.seed ?? 1, synthetic = self.synthetic ?? 2048, steps = self.steps ?? 50
      let imageSize = self.imageSize ?? 128, features = self.features ?? 46
      BLAS.threadCount = blasThreads ?? 1
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
