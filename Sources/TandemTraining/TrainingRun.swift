import Foundation
import TandemCUDA
import TandemData
import TandemDistributed
import TandemNN
import TandemRun
import TandemSystem
import TandemTensor

/// One data-parallel training run on every rank of `communicator`.
///
/// Rank 0 is the coordinator: it checks the dataset, decides the facts every
/// rank plans from (splits, labels, shapes) and broadcasts them with the
/// initial parameters; it alone prints progress and writes the run's files.
/// Each epoch's shard plan follows from (seed, epoch), so ranks agree on it
/// without talking. Workers read their rows (or receive them, in scatter
/// mode), compute gradients, sum them in one fused allreduce and apply the
/// same SGD update. After each epoch the validation split is evaluated with
/// every sample counted exactly once, and the metrics are reduced across ranks.
public final class TrainingRun {
  let configuration: RunConfiguration
  let configurationText: String
  let communicator: any Communicator
  let faults: FaultInjection
  let log: (String) -> Void
  /// An existing run directory to continue from its newest valid checkpoint.
  let resumeDirectory: String?
  /// Called with a one-line phase ("epoch 2 step 17") before each step, for stall reports.
  public var onPhase: (String) -> Void = { _ in }
  /// This rank's pending stop request (a signal's number), polled between steps.
  public var stopRequested: () -> Int32? = { nil }
  /// The MPI library's version line for the snapshot (only TandemMPI asks MPI).
  public var mpiVersion = "none"
  /// Where rank 0 keeps a Prometheus textfile of progress (`--metrics-dir`, else the run file's `metrics_dir`).
  public var metricsDirectory: String?
  private var metrics: TrainingMetrics?
  private var rank: Int { communicator.rank }
  private var world: Int { communicator.worldSize }
  /// The run file's settings with the reference defaults filled in.
  private let settings: TrainingSettings

  public init(configuration: RunConfiguration, configurationText: String, communicator: any Communicator,
              faults: FaultInjection = .none, resuming runDirectory: String? = nil, log: @escaping (String) -> Void) {
    self.configuration = configuration
    settings = configuration.settings()
    self.configurationText = configurationText
    self.communicator = communicator
    self.faults = faults
    self.resumeDirectory = runDirectory
    self.log = log
  }

  /// Every rank must train the same run: ranks whose run files resolve
  /// differently would issue different collectives and fail obscurely (or,
  /// worse, train a model the snapshot does not describe). Rank 0's settings
  /// are the reference; the lowest differing rank names the first key. The
  /// dataset's path may differ between nodes; its content hash is checked later.
  static func checkSettingsAgree(_ config: RunConfiguration, over comm: any Communicator) throws {
    guard comm.worldSize > 1 else { return }
    let mine = config.resolved()
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    let reference = try comm.broadcast(bytes: Array(try encoder.encode(mine)), root: 0)
    try comm.agree {
      let theirs = try JSONDecoder().decode([String: String].self, from: Data(reference))
      guard let key = RunConfiguration.differingKeys(mine, theirs, ignoring: ["dataset"]).first else { return }
      throw ConfigurationError(file: "run file",
                               "'\(key)' is \(mine[key] ?? "unset") here but \(theirs[key] ?? "unset") on rank 0; every rank must train the same run")
    }
  }

  /// A resumed run must continue the same run: the data and every setting
  /// but the dataset's path (and the collective timeout, a property of the
  /// cluster rather than the model) as the checkpoint recorded them.
  static func checkResumable(_ checkpoint: Checkpoint, config: RunConfiguration, datasetSHA256: String,
                             checkpoints: String) throws {
    if let recorded = checkpoint.datasetSHA256, recorded != datasetSHA256 {
      throw DataError(path: config.dataset, message: "its content hash is \(datasetSHA256.prefix(12))… but the run trained on "
                      + "\(recorded.prefix(12))… (\(checkpoints)): resume continues the same data only; train a new run on the new data")
    }
    let then = try RunConfiguration(toml: checkpoint.configTOML, file: "checkpoint").resolved()
    let now = config.resolved()
    if let key = RunConfiguration.differingKeys(then, now, ignoring: ["dataset", "cluster.collective_timeout"]).first {
      throw ConfigurationError(file: "run file", "'\(key)' is \(now[key] ?? "unset") now but was \(then[key] ?? "unset") "
                               + "when the checkpoint was written (\(checkpoints)): resume continues the same run only; start a new run to change it")
    }
  }

  public func run() throws -> RunSummary {
    let comm = communicator, config = configuration, name = configuration.model
    let task = config.task.labels
    let trainSplit = config.training.trainSplit, validationSplit = config.training.validationSplit
    BLAS.threadCount = config.cluster.blasThreads
    Numerics.path = config.cluster.numerics
    try Self.checkSettingsAgree(config, over: comm)
    // device = "cuda": each rank opens its GPU before any data is read, so a
    // machine without one (or without the backend) stops every rank at once.
    let gpu = try comm.agree { () throws -> CUDADevice? in
      config.cluster.device == .cuda ? try CUDADevice.open() : nil
    }

    // Every rank that reads data opens the file and checks it; any failure on
    // any rank (a path that exists on one node only) stops all of them.
    let readsData = !config.cluster.scatter || rank == 0
    let (reader, localFacts) = try comm.agree { () throws -> (DatasetReader?, DatasetFacts?) in
      guard readsData else { return (nil, nil) }
      let reader = try DatasetReader(path: config.dataset)
      try Self.check(reader, for: name, task: task, file: config.dataset)
      let facts = DatasetFacts(reader: reader, task: task, trainSplit: trainSplit, validationSplit: validationSplit)
      guard !facts.trainIndices.isEmpty else {
        throw DataError(path: config.dataset, message: "the \(trainSplit) split has no samples for task \(config.task)")
      }
      guard !facts.validationIndices.isEmpty else {
        throw DataError(path: config.dataset, message: "the \(validationSplit) split has no samples for task \(config.task)")
      }
      return (reader, facts)
    }
    let facts = try (localFacts ?? DatasetFacts(sampleShape: [], trainIndices: [], validationIndices: [], labels: [],
                                                classCounts: [], contentSHA256: "")).broadcast(over: comm)
    // With a shared filesystem every rank must be reading the very same data.
    try comm.agree {
      if let localFacts, localFacts.contentSHA256 != facts.contentSHA256 {
        throw DataError(path: config.dataset, message: "content hash \(localFacts.contentSHA256.prefix(12)) differs from rank 0's \(facts.contentSHA256.prefix(12))")
      }
    }

    let model = try Model.reference(
      name, features: facts.sampleShape.last ?? 1, imageSize: name.isImageModel ? facts.sampleShape[1] : 128,
      classes: 2, classWeights: config.training.classWeights, seed: config.seed)
    try broadcastParameters(model, over: comm)
    if let gpu {
      try comm.agree { _ = try CUDAModel.attach(model, to: gpu) }
      if rank == 0 { log("device: rank 0 computes on GPU \(gpu.info.ordinal) of \(gpu.info.visibleDevices), \(gpu.summary)") }
    }
    if rank == 0, config.cluster.numerics == .openBLAS, let core = BLAS.coreTypeForThisCPU {
      log("warning: OpenBLAS runs its \(BLAS.coreName) kernel, without FMA, on this CPU; OPENBLAS_CORETYPE=\(core) runs the one it can")
    }
    let trainer = Trainer(model: model, settings: settings, communicator: comm)
    let source = BatchSource(reader: reader, task: task, scatter: config.cluster.scatter, sampleShape: facts.sampleShape,
                             augmentation: config.augmentation, seed: config.seed)

    // Rank 0 holds RUN/.lock while the run trains: a second `train --resume`
    // of it (or a report writer) waits for nobody and is refused at once.
    let (runDirectory, runLock, heldLock) = try comm.agree { () throws -> (String, FileLock?, FileLock?) in
      guard rank == 0 else { return ("", nil, nil) }
      let held = try ProcessInfo.processInfo.environment[TrainingHandoff.heldLockVariable].map {
        try FileLock(path: $0, waiting: false, busy: "another training holds this retrain lock")
      }
      let directory = try resumeDirectory ?? createRunDirectory(name: name)
      let lock = try RunLock.take(run: directory, busy: "run \((directory as NSString).lastPathComponent) is being trained by another process")
      if let file = ProcessInfo.processInfo.environment[TrainingHandoff.runDirectoryFileVariable] {
        try AtomicFile.write(Data(URL(fileURLWithPath: directory).standardizedFileURL.path.utf8), to: file)
      }
      if resumeDirectory != nil, FileManager.default.fileExists(atPath: RunSummary.path(run: directory)) {
        throw DataError(path: directory, message: "the run has finished (summary.json): nothing to resume; "
                        + "start a new run with tandem train --config")
      }
      return (directory, lock, held)
    }
    defer { withExtendedLifetime((runLock, heldLock)) {} }
    let checkpoints = CheckpointDirectory(run: runDirectory)
    var validation: [ClassificationMetrics] = []
    // Position to start from: (epoch, steps done in it, global step).
    var position: [Int64] = [0, 0, 0]
    if resumeDirectory != nil {
      let restored = try comm.agree { () throws -> (Checkpoint, [ClassificationMetrics])? in
        guard rank == 0 else { return nil }
        guard let checkpoint = try checkpoints.newestValid(warn: log) else {
          throw DataError(path: checkpoints.path, message: "no valid checkpoint to resume from")
        }
        guard checkpoint.parameters.map(\.name) == model.parameters.map(\.name),
              checkpoint.parameters.map(\.value.shape) == model.parameters.map(\.value.shape) else {
          throw DataError(path: checkpoints.path, message: "checkpoint parameters do not match \(name.rawValue)")
        }
        try Self.checkResumable(checkpoint, config: config, datasetSHA256: facts.contentSHA256, checkpoints: checkpoints.path)
        do {
          return (checkpoint, try JSONDecoder().decode([ClassificationMetrics].self, from: Data(checkpoint.validationJSON.utf8)))
        } catch {
          throw DataError(path: checkpoints.path, message: "the newest checkpoint's validation history is not readable JSON: \(error)")
        }
      }
      var state = restored.map(\.0).map { c in c.parameters.flatMap(\.value.scalars) + c.velocities.flatMap { $0 } }
        ?? [Float](repeating: 0, count: 2 * model.parameterCount)
      try comm.broadcast(&state, root: 0)
      if let (restored, history) = restored {
        position = [Int64(restored.epoch), Int64(restored.stepInEpoch), Int64(restored.globalStep)]
        validation = history
        log("resuming \((runDirectory as NSString).lastPathComponent) at epoch \(restored.epoch + 1), step \(restored.stepInEpoch) "
            + "(global step \(restored.globalStep)) on \(world) rank(s)")
      }
      try comm.broadcast(&position, root: 0)
      var offset = 0
      var velocities: [[Float]] = []
      for p in model.parameters {
        p.value = Tensor(uncheckedShape: p.value.shape, scalars: Array(state[offset..<offset + p.count]))
        offset += p.count
      }
      for p in model.parameters {
        velocities.append(Array(state[offset..<offset + p.count]))
        offset += p.count
      }
      trainer.optimizer.restoreVelocities(velocities)
    }
    // Snapshot and registry row before the first step; a store that cannot
    // take them stops the run before any work is done.
    let metricsDirectory = self.metricsDirectory ?? config.metricsDirectory
    try comm.agree {
      guard rank == 0, let metricsDirectory else { return }
      try PrometheusTextfile.checkDirectory(metricsDirectory)
      metrics = TrainingMetrics(directory: metricsDirectory, run: (runDirectory as NSString).lastPathComponent,
                                configuration: config, worldSize: world, log: log)
    }
    let recording = try comm.agree { () throws -> RunRecording? in
      guard rank == 0, !config.store.isEmpty, let reader else { return nil }
      return try RunRecording.begin(storeRoot: config.store, configuration: config, configurationText: configurationText,
                                    reader: reader, worldSize: world, runDirectory: runDirectory,
                                    mpiVersion: mpiVersion, gpu: gpu, resuming: resumeDirectory != nil)
    }
    do {
      return try train(model: model, trainer: trainer, source: source, facts: facts, runDirectory: runDirectory,
                       position: position, validation: validation, recording: recording)
    } catch let stopped as AgreedFailure where stopped.exitStatus == TrainingStopped.exitStatus {
      metrics?.state = .preempted
      metrics?.write(force: true)
      throw stopped  // recorded as preempted, not failed
    } catch {
      recording?.fail(error)
      metrics?.state = .failed
      metrics?.write(force: true)
      throw error
    }
  }

  private func train(model: Model, trainer: Trainer, source: BatchSource, facts: DatasetFacts, runDirectory: String,
                     position: [Int64], validation: [ClassificationMetrics], recording: RunRecording?) throws -> RunSummary {
    let comm = communicator, config = configuration, name = configuration.model
    let validationSplit = config.training.validationSplit
    let checkpoints = CheckpointDirectory(run: runDirectory)
    var validation = validation
    let metricsLog = rank == 0 ? try MetricsLog(path: runDirectory + "/metrics.jsonl") : nil
    if resumeDirectory != nil {
      try metricsLog?.write(resumeAt: Int(position[0]) + 1, stepInEpoch: Int(position[1]), globalStep: Int(position[2]), worldSize: world)
    }
    let saveCheckpoint = { (epoch: Int, stepInEpoch: Int, globalStep: Int) throws in
      guard self.rank == 0 else { return }
      let start = DispatchTime.now().uptimeNanoseconds
      let json = String(decoding: try JSONEncoder().encode(validation), as: UTF8.self)
      let checkpoint = Checkpoint(parameters: model.parameters.map { ($0.name, $0.value) },
                                  velocities: trainer.optimizer.velocities, epoch: epoch, stepInEpoch: stepInEpoch,
                                  globalStep: globalStep, seed: config.seed, configTOML: self.configurationText,
                                  validationJSON: json, datasetSHA256: facts.contentSHA256)
      try checkpoints.save(checkpoint, keep: config.training.keepCheckpoints)
      let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
      try metricsLog?.write(checkpointAt: globalStep, seconds: seconds, path: checkpoints.fileName(globalStep: globalStep))
      self.metrics?.lastCheckpoint = Date()
      self.metrics?.write(force: true)
    }
    if rank == 0 {
      log("run \((runDirectory as NSString).lastPathComponent): \(name.rawValue) (\(model.parameterCount) parameters), task \(config.task), "
          + "\(facts.trainIndices.count) train / \(facts.validationIndices.count) \(validationSplit) samples, "
          + "\(world) rank(s), global batch \(settings.globalBatch), lr \(settings.learningRate), seed \(config.seed), "
          + "numerics \(Numerics.identifier)")
      if config.cluster.numerics == .pinned && Numerics.pinnedKernel == "scalar-fmaf" {
        log("note: this CPU has no AVX2/FMA: the pinned numerics run their scalar reference (the same bits, many times slower)")
      }
      if let recording { log("snapshot \(recording.snapshotID) in \(config.store)") }
    }

    let stepsPerEpoch = (facts.trainIndices.count + settings.globalBatch - 1) / settings.globalBatch
    let maxSteps = config.training.maxSteps > 0 ? config.training.maxSteps : Int.max
    let totalSteps = min(stepsPerEpoch * config.epochs, maxSteps)
    let progress = ProgressReporter(enabled: rank == 0, totalSteps: totalSteps - Int(position[2]), unit: name.isImageModel ? "img" : "rows", log: log)
    let schedule = LearningRateSchedule(shape: config.training.schedule, base: settings.learningRate,
                                        warmupSteps: Int((config.training.warmupEpochs * Double(stepsPerEpoch)).rounded()),
                                        totalSteps: totalSteps, finalFraction: config.training.finalLearningRate)
    var step = Int(position[2])
    let start = Date()
    var trainedSamples = 0
    // The best epoch follows from the validation history; its parameters wait in best-model.h5.
    let bestFile = runDirectory + "/best-model.h5"
    var stoppedEarly: String?

    if config.training.solver == .lbfgs {
      let fitted = try fitFullBatch(model: model, trainer: trainer, source: source, facts: facts)
      step = fitted.iterations
      trainedSamples = fitted.evaluations * facts.trainIndices.count
      onPhase("epoch 1 evaluation")
      let metrics = try evaluate(model, source: source, facts: facts, threshold: config.training.threshold)
      validation.append(metrics)
      if rank == 0 {
        log(String(format: "lbfgs: %d iterations (%d passes), objective %.6f, %@; %@ loss %.4f  accuracy %.4f  AUC %.4f",
                   fitted.iterations, fitted.evaluations, fitted.objectives.last ?? .nan,
                   fitted.converged ? "converged" : "stopped at max_iterations", config.training.validationSplit.description,
                   metrics.loss, metrics.accuracy, metrics.rocAUC))
        try metricsLog?.write(epoch: 1, firstStep: 0, losses: Array(fitted.objectives.dropFirst()),
                              timings: [Double](repeating: 0, count: fitted.iterations * world * 3), worldSize: world,
                              validation: metrics)
        try recording?.epoch(1, metrics: metrics)
      }
      try saveCheckpoint(0, fitted.iterations, step)
    } else {
      epochs: for epoch in Int(position[0])..<config.epochs {
        let firstStep = epoch == Int(position[0]) ? Int(position[1]) : 0
        let plan = ShardPlan(samples: facts.trainIndices, globalBatch: settings.globalBatch, worldSize: world,
                             seed: config.seed, epoch: epoch)
        let micro = config.cluster.reduction == .exact ? config.microBatchSize() : nil
        let shares = { (s: Int) in (0..<self.world).map { plan.samples(rank: $0, step: s, microBatch: micro) } }
        var timings: [Double] = Array(repeating: 0, count: plan.stepCount * world * 3)
        var losses: [Double] = [], learningRates: [Double] = []
        let remaining = maxSteps == Int.max ? plan.stepCount : maxSteps - step
        let epochSteps = min(plan.stepCount, firstStep + remaining)
        if epochSteps <= 0 { break epochs }
        // A checkpoint taken after the epoch's evaluation resumes at the next epoch.
        if firstStep >= epochSteps { continue epochs }
        source.prefetch(global: plan.globalSamples(step: firstStep), share: shares(firstStep)[rank], rank: rank, epoch: epoch)
        for s in firstStep..<epochSteps {
          onPhase("epoch \(epoch + 1) step \(s + 1)")
          try faults.trigger(rank: rank, step: step)
          let global = plan.globalSamples(step: s)
          let (batch, wait) = try source.batch(global: global, shares: shares(s), rank: rank, epoch: epoch, communicator: comm)
          if s + 1 < epochSteps {
            source.prefetch(global: plan.globalSamples(step: s + 1), share: shares(s + 1)[rank], rank: rank, epoch: epoch)
          }
          trainer.optimizer.learningRate = schedule.rate(step: step)
          learningRates.append(Double(trainer.optimizer.learningRate))
          let (loss, t) = try micro.map {
            try trainer.exactStep(batch?.split(every: $0) ?? [], globalCount: global.count,
                                  microBatchCount: (global.count + $0 - 1) / $0)
          }
            ?? trainer.timedStep(batch, globalCount: global.count)
          guard loss.isFinite else { throw TrainingError.diverged(epoch: epoch + 1, step: s + 1, loss: loss) }
          losses.append(loss)
          let slot = (s * world + rank) * 3
          timings[slot] = t.compute; timings[slot + 1] = wait; timings[slot + 2] = t.allreduce
          step += 1
          trainedSamples += global.count
          let rates = progress.update(epoch: epoch + 1, epochs: config.epochs, step: s + 1, stepsInEpoch: epochSteps,
                                      globalStep: step - Int(position[2]), loss: loss, samples: trainedSamples)
          if let exporter = self.metrics, let rates {
            exporter.epoch = epoch + 1; exporter.step = step; exporter.totalSteps = totalSteps; exporter.loss = loss
            exporter.samplesPerSecond = rates.samplesPerSecond; exporter.etaSeconds = rates.eta
            exporter.write()
          }
          let checkpointed = config.training.checkpointEvery > 0 && step % config.training.checkpointEvery == 0 && s + 1 < epochSteps
          if checkpointed { try saveCheckpoint(epoch, s + 1, step) }
          // At the same steps on every rank (a signal may reach only some);
          // never at an epoch's last step, whose evaluation comes first.
          if step % stopCheckInterval == 0 && s + 1 < epochSteps {
            var signal: [Int64] = [Int64(stopRequested() ?? 0)]
            try comm.allreduce(&signal, .max)
            if signal[0] != 0 {
              // A checkpoint of this very step may have just been written: not twice.
              try stop(signal: StopSignals.name(Int32(signal[0])), epoch: epoch, stepInEpoch: s + 1, globalStep: step,
                       save: checkpointed ? nil : saveCheckpoint, recording: recording, runDirectory: runDirectory)
            }
          }
        }
        onPhase("epoch \(epoch + 1) evaluation")
        try comm.allreduce(&timings, .sum)
        let metrics = try evaluate(model, source: source, facts: facts, threshold: config.training.threshold)
        validation.append(metrics)
        if rank == 0 {
          progress.finishEpoch()
          log(String(format: "epoch %d/%d  train loss %.4f  %@ loss %.4f  accuracy %.4f  AUC %.4f  precision %.3f  recall %.3f",
                     epoch + 1, config.epochs, losses.reduce(0, +) / Double(max(losses.count, 1)),
                     validationSplit.description, metrics.loss, metrics.accuracy, metrics.rocAUC, metrics.precision, metrics.recall))
          try metricsLog?.write(epoch: epoch + 1, firstStep: firstStep, losses: losses, learningRates: learningRates,
                                timings: timings, worldSize: world, validation: metrics)
          try recording?.epoch(epoch + 1, metrics: metrics)
          self.metrics?.validationAUC = metrics.rocAUC
          self.metrics?.write(force: true)
          if config.training.selection == .bestAUC, ModelSelection.bestEpoch(validation) == validation.count {
            try ParameterFile.write(model.parameters, to: bestFile, attributes: ["epoch": String(validation.count)])
          }
        }
        try saveCheckpoint(epoch, epochSteps, step)
        // Rank 0 alone holds the whole history after a resume, so it decides.
        var stop: [Int64] = [0]
        if rank == 0, config.training.patience > 0, let bestEpoch = ModelSelection.bestEpoch(validation),
           validation.count - bestEpoch >= config.training.patience, epoch + 1 < config.epochs {
          stop[0] = 1
        }
        try comm.broadcast(&stop, root: 0)
        if stop[0] == 1 {
          stoppedEarly = "no better validation AUC in \(config.training.patience) epoch(s)"
          if rank == 0 { log("stopping after epoch \(epoch + 1): \(stoppedEarly!)") }
          break epochs
        }
      }
    }

    let seconds = Date().timeIntervalSince(start)
    var summary = RunSummary(runDirectory: runDirectory, model: name, task: config.task, worldSize: world,
                          epochs: config.epochs, steps: step, trainSamples: facts.trainIndices.count,
                          validation: validation, seconds: seconds,
                          samplesPerSecond: Double(trainedSamples) / max(seconds, 1e-9),
                          snapshotID: recording?.snapshotID, numerics: Numerics.identifier(of: config.cluster.numerics))
    summary.stoppedEarly = stoppedEarly
    if rank == 0, config.training.selection == .bestAUC, let best = ModelSelection.bestEpoch(validation) {
      summary.selectedEpoch = best
      // The last epoch's parameters are in the model already; an earlier best is read back.
      if best < validation.count {
        for (p, saved) in zip(model.parameters, try ParameterFile.read(bestFile)) { p.value = saved.value }
      }
      log("model: epoch \(best), the best validation AUC (\(String(format: "%.4f", validation[best - 1].rocAUC)))")
    }
    try comm.agree {
      guard rank == 0 else { return }
      try ParameterFile.write(model.parameters, to: runDirectory + "/model.h5",
                              attributes: ["model": name.rawValue, "task": config.task.rawValue, "seed": String(config.seed),
                                           "dataset_sha256": facts.contentSHA256,
                                           "sample_shape": facts.sampleShape.map(String.init).joined(separator: "x")])
      try recording?.finish(parametersFile: runDirectory + "/model.h5")
      let encoder = JSONEncoder()
      encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
      let written = try encoder.encode(summary)
      try AtomicFile.write(written, to: RunSummary.path(run: runDirectory))
      if let copy = ProcessInfo.processInfo.environment[TrainingHandoff.resultFileVariable] {
        try AtomicFile.write(written, to: copy)
      }
      metrics?.state = .finished
      metrics?.step = step
      metrics?.etaSeconds = 0
      metrics?.write(force: true)
    }
    return summary
  }

  /// Steps between polls of the stop request: a poll is one small
  /// collective, negligible beside an image step but not beside a table
  /// model's sub-millisecond one.
  private var stopCheckInterval: Int { configuration.model.isImageModel ? 1 : 32 }

  /// A stop request seen by some rank: rank 0 writes a checkpoint of the
  /// step just finished and records the run as preempted, and every rank
  /// ends with `TrainingStopped` (exit 75), which `tandem train --resume` continues.
  private func stop(signal: String, epoch: Int, stepInEpoch: Int, globalStep: Int, save: ((Int, Int, Int) throws -> Void)?,
                    recording: RunRecording?, runDirectory: String) throws -> Never {
    onPhase("stopping: writing a checkpoint")
    try communicator.agree { () throws -> Void in
      let stopped = TrainingStopped(signal: signal, epoch: epoch + 1, stepInEpoch: stepInEpoch, globalStep: globalStep,
                                    runDirectory: runDirectory)
      if rank == 0 {
        try save?(epoch, stepInEpoch, globalStep)
        recording?.preempt(stopped.description)
      }
      throw stopped
    }
    fatalError("agree rethrows the stop on every rank")
  }

  /// `training.solver = "lbfgs"`: the whole training split in one global
  /// batch, read once, cut into micro-batches as exact reduction cuts a
  /// step's, and L-BFGS on the full-batch objective. Each rank holds its
  /// share of the rows; every evaluation is one pass and two integer
  /// allreduces, so the iterates are the same bits on any number of ranks.
  private func fitFullBatch(model: Model, trainer: Trainer, source: BatchSource, facts: DatasetFacts) throws -> LBFGS.Result {
    let config = configuration
    let plan = ShardPlan(samples: facts.trainIndices, globalBatch: facts.trainIndices.count, worldSize: world, seed: config.seed, epoch: 0)
    let micro = config.microBatchSize()
    let shares = (0..<world).map { plan.samples(rank: $0, step: 0, microBatch: micro) }
    onPhase("reading the training split")
    let (batch, _) = try source.batch(global: plan.globalSamples(step: 0), shares: shares, rank: rank, communicator: communicator)
    let microBatches = batch?.split(every: micro) ?? []
    let solver = LBFGS(tolerance: config.training.tolerance)
    var evaluation = 0
    return try solver.minimize(model.parameters, maxIterations: config.training.maxIterations) {
      evaluation += 1
      onPhase("lbfgs evaluation \(evaluation)")
      return try trainer.fullBatchObjective(microBatches, globalCount: facts.trainIndices.count, l2: settings.weightDecay)
    }
  }

  /// Every rank starts from rank 0's parameters, bit for bit.
  private func broadcastParameters(_ model: Model, over comm: some Communicator) throws {
    var flat = model.parameters.flatMap(\.value.scalars)
    try comm.broadcast(&flat, root: 0)
    var offset = 0
    for p in model.parameters {
      p.value = Tensor(uncheckedShape: p.value.shape, scalars: Array(flat[offset..<offset + p.count]))
      offset += p.count
    }
  }

  /// Validation with each sample counted once: the split is cut into global
  /// chunks, each rank scores its contiguous share, and the scores are summed
  /// into one array over all ranks (every slot is written by exactly one rank).
  func evaluate(_ model: Model, source: BatchSource, facts: DatasetFacts, threshold: Double) throws -> ClassificationMetrics {
    let comm = communicator
    let indices = facts.validationIndices
    let chunk = 64 * comm.worldSize
    var scores = [Float](repeating: 0, count: indices.count)
    var lossSum = [0.0]
    var position = 0
    while position < indices.count {
      let global = indices[position..<min(indices.count, position + chunk)]
      let n = global.count
      let shares = (0..<comm.worldSize).map { r in global.dropFirst(r * n / comm.worldSize).prefix((r + 1) * n / comm.worldSize - r * n / comm.worldSize) }
      let (batch, _) = try source.batch(global: global, shares: shares, rank: comm.rank, communicator: comm)
      if let batch {
        let logits = try model.forward(batch.input)
        lossSum[0] += model.loss.evaluate(logits: logits, labels: batch.labels, normalizer: 1).loss
        let probabilities = model.loss.probabilities(logits: logits, classes: model.classes)
        let offset = position + comm.rank * n / comm.worldSize
        for i in 0..<batch.count { scores[offset + i] = probabilities.scalars[i * model.classes + 1] }
      }
      position += n
    }
    try comm.allreduce(&scores, .sum)
    try comm.allreduce(&lossSum, .sum)
    let labels = indices.map { facts.labels[$0] }
    return ClassificationMetrics(scores: scores, labels: labels, loss: lossSum[0] / Double(max(indices.count, 1)),
                                 threshold: threshold)
  }

  static func check(_ reader: DatasetReader, for model: ModelName, task: LabelTask, file: String) throws {
    switch (model.isImageModel, reader.kind) {
    case (true, .table):
      throw DataError(path: file, message: "holds a table, but \(model.rawValue) trains on images")
    case (false, .images):
      throw DataError(path: file, message: "holds images, but \(model.rawValue) trains on a table")
    default: break
    }
    if let (row, column) = try reader.firstNonFiniteFeature() {
      throw DataError(path: file, message: "/features[\(row), \(column)] is not finite: the table cannot be trained on")
    }
    if model.isImageModel {
      let s = reader.sampleShape
      let multiple = model.imageSizeMultiple
      guard s.count == 3, s[0] == 1, s[1] == s[2], s[1] % multiple == 0 else {
        throw DataError(path: file, message: "images of shape \(s) do not fit \(model.rawValue) (square, side a multiple of \(multiple))")
      }
    }
  }

  private func createRunDirectory(name: ModelName) throws -> String {
    let base = "\(configuration.output)/\(name.rawValue)-\(RunID.timestamp())"
    var path = base
    var n = 1
    let fm = FileManager.default
    // createDirectory without intermediates fails if the path exists, so two
    // runs starting in the same second get distinct directories.
    try fm.createDirectory(atPath: configuration.output, withIntermediateDirectories: true)
    while true {
      do {
        try fm.createDirectory(atPath: path, withIntermediateDirectories: false)
        break
      } catch where fm.fileExists(atPath: path) {
        n += 1
        path = "\(base)-\(n)"
      } catch {
        throw DataError(path: path, message: "cannot create the run directory: \(error.localizedDescription)")
      }
    }
    try AtomicFile.write(Data(configurationText.utf8), to: path + "/config.toml")
    return path
  }
}

/// The run stopped on request (SIGTERM, SIGINT) after writing a checkpoint.
public struct TrainingStopped: DistinctExitStatus, CustomStringConvertible {
  /// EX_TEMPFAIL: try again later, here by resuming.
  public static let exitStatus: Int32 = 75
  public var exitStatus: Int32 { Self.exitStatus }
  public let signal: String
  public let epoch: Int
  public let stepInEpoch: Int
  public let globalStep: Int
  public let runDirectory: String

  public var description: String {
    "stopped by \(signal) at epoch \(epoch) step \(stepInEpoch) (global step \(globalStep)) with a checkpoint; "
      + "continue with: tandem train --resume \(runDirectory)"
  }
}

public enum TrainingError: Error, CustomStringConvertible {
  case diverged(epoch: Int, step: Int, loss: Double)

  public var description: String {
    switch self {
    case .diverged(let epoch, let step, let loss):
      return "training diverged at epoch \(epoch) step \(step): loss is \(loss); lower training.learning_rate"
    }
  }
}
