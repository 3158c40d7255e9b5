import Foundation
import TandemData
import TandemRun
import TandemStore

/// An evaluated run entered in the model registry: its parameters copied into
/// the store and checked against the run's record, and, when a production
/// version exists, that version scored on the very same samples so the
/// promotion compares like with like.
public enum ModelRegistration {
  /// Registers an evaluated run as the next version of the model named after its task.
  public static func register(_ evaluation: Evaluation, runDirectory directory: String, store: String?) throws -> ModelVersion {
    let m = evaluation.metrics
    let split = evaluation.split
    let trained = try TrainedModel(runDirectory: directory)
    let storeRoot = store ?? trained.configuration.store
    guard !storeRoot.isEmpty else {
      throw StoreError(path: directory, message: "the run keeps no store (store = \"\"); pass --store DIR or --no-register")
    }
    let opened = try Store(root: storeRoot, create: false)
    guard let record = try opened.registry.run(id: evaluation.run), record.status == .finished,
          let hash = record.parametersSHA256 else {
      throw StoreError(path: opened.registryPath, message: "run \(evaluation.run) is not recorded as finished in this store")
    }
    let file = try opened.storeModel(at: directory + "/model.h5", parametersSHA256: hash)
    // The production version on the very same samples, for the promotion's comparison.
    var champion: GatedMetrics.Champion?
    if let live = try opened.registry.productionVersion(name: evaluation.task.rawValue), live.runID != evaluation.run {
      let reader = try DatasetReader(path: trained.configuration.dataset)
      let indices = reader.indices(in: split, task: trained.labelTask)
      let c = try VersionScoring.metrics(store: opened, version: live, data: trained.configuration.dataset, indices: indices)
      champion = .init(version: live.version, accuracy: c.accuracy, recall: c.recall, rocAUC: c.rocAUC)
    }
    let release = trained.configuration.release
    return try opened.registry.register(ModelVersion(
      name: evaluation.task.rawValue, version: 0, runID: evaluation.run, snapshotID: record.snapshotID, parametersSHA256: hash,
      parametersFile: URL(fileURLWithPath: file).standardizedFileURL.path, runDirectory: record.runDirectory,
      threshold: evaluation.threshold,
      thresholdPolicy: evaluation.thresholdPolicy,
      metrics: GatedMetrics(split: split, accuracy: m.accuracy, recall: m.recall, precision: m.precision, f1: m.f1,
                            rocAUC: m.rocAUC, falseNegatives: evaluation.falseNegatives, champion: champion),
      gates: release.gates))
  }
}
