import Foundation
import TandemCUDA
import TandemRun
import TandemData
import TandemStore
import TandemTensor

/// Rank 0's record of a run in the store: the dataset stored by content hash,
/// the snapshot the run starts from, and its row in the run registry, kept up
/// to date after each epoch and at the end.
///
/// A resumed run keeps its snapshot and row (the registry already has them);
/// its later epochs replace what the interrupted run recorded for them.
struct RunRecording {
  let store: Store
  let runID: String
  let snapshotID: String
  let heartbeat: Heartbeat

  /// Stores the dataset and the snapshot, and records the run's start, or
  /// finds the row of the run being resumed.
  static func begin(storeRoot: String, configuration: RunConfiguration, configurationText: String,
                    reader: DatasetReader, worldSize: Int, runDirectory: String, mpiVersion: String,
                    gpu: CUDADevice? = nil, resuming: Bool) throws -> RunRecording {
    let store = try Store(root: storeRoot)
    let runID = (runDirectory as NSString).lastPathComponent
    if resuming, let existing = try store.registry.run(id: runID) {
      try store.registry.recordResume(runID: runID)
      return RunRecording(store: store, runID: runID, snapshotID: existing.snapshotID, heartbeat: Heartbeat(store: store, runID: runID))
    }
    try store.storeDataset(at: configuration.dataset, contentSHA256: reader.contentSHA256)
    var environment = EnvironmentInfo.current(blasConfig: BLAS.configuration, blasCore: BLAS.coreName,
                                              blasThreads: configuration.cluster.blasThreads,
                                              numerics: Numerics.identifier(of: configuration.cluster.numerics),
                                              numericKernel: Numerics.pinnedKernel, mpiVersion: mpiVersion)
    environment.gpu = gpu.map(EnvironmentInfo.GPU.init)
    let code = CodeVersion.current()
    let manifest = SnapshotManifest(
      datasetSHA256: reader.contentSHA256, datasetFileName: configuration.dataset, configTOML: configurationText,
      resolvedConfig: configuration.resolved(), seed: configuration.seed, worldSize: worldSize,
      code: code, environment: environment)
    let snapshotID = try store.saveSnapshot(manifest)
    let reference = { (split: Split) in
      RunRecord.DataReference(path: configuration.dataset, sha256: reader.contentSHA256, split: split)
    }
    try store.registry.recordStart(RunRecord(
      id: runID, snapshotID: snapshotID, codeVersion: code.summary, configuration: configurationText,
      environment: environment, trainData: reference(configuration.training.trainSplit),
      validationData: reference(configuration.training.validationSplit), featureStatistics: FeatureStatistics(mean: reader.mean, std: reader.std),
      worldSize: worldSize, runDirectory: Self.absolute(runDirectory)))
    return RunRecording(store: store, runID: runID, snapshotID: snapshotID, heartbeat: Heartbeat(store: store, runID: runID))
  }

  func epoch(_ epoch: Int, metrics: ClassificationMetrics) throws {
    try store.registry.record(RunRecord.Epoch(runID: runID, epoch: epoch, metrics: metrics))
  }

  func finish(parametersFile: String) throws {
    heartbeat.stop()
    try store.registry.recordFinish(runID: runID, status: .finished, parametersSHA256: try parametersSHA256(file: parametersFile),
                                    parametersFile: Self.absolute(parametersFile))
  }

  /// Best effort, as for `fail`: the checkpoint is what a resume needs.
  func preempt(_ reason: String) {
    heartbeat.stop()
    try? store.registry.recordFinish(runID: runID, status: .preempted(reason: reason), parametersSHA256: nil, parametersFile: nil)
  }

  /// Best effort: the error that ended the run matters more than recording it.
  func fail(_ error: any Error) {
    heartbeat.stop()
    let reason = "\(error)".split(separator: "\n").first.map(String.init) ?? "unknown error"
    try? store.registry.recordFinish(runID: runID, status: .failed(reason: reason), parametersSHA256: nil, parametersFile: nil)
  }

  private static func absolute(_ path: String) -> String {
    path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
  }
}

/// Rank 0's sign of life in the registry, from a timer thread, so a long
/// step or evaluation still beats; a dead process stops beating and its row
/// reads back as failed (`RunRecord.checkedForHeartbeat`). Best effort: a
/// store that refuses a heartbeat fails the run's next real write anyway.
final class Heartbeat: @unchecked Sendable {
  private let timer: any DispatchSourceTimer

  init(store: Store, runID: String) {
    timer = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "tandem.heartbeat"))
    let interval = ProcessInfo.processInfo.environment["TANDEM_HEARTBEAT_SECONDS"].flatMap(Double.init) ?? RunRecord.heartbeatInterval
    timer.schedule(deadline: .now() + interval, repeating: interval)
    timer.setEventHandler { try? store.registry.heartbeat(runID: runID) }
    timer.resume()
  }

  func stop() { timer.cancel() }

  deinit { timer.cancel() }
}

extension EnvironmentInfo.GPU {
  /// What the snapshot records of a rank's opened GPU.
  init(_ device: CUDADevice) {
    self.init(name: device.info.name, computeCapability: device.info.computeCapability,
              multiprocessors: device.info.multiprocessors, driver: device.info.driver,
              cudaRuntime: device.info.runtime, cublas: device.info.cublas)
  }
}
