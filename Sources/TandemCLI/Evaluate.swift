import ArgumentParser
import Foundation
import TandemData
import TandemMonitoring
import TandemStore
import TandemTensor
import TandemTraining

extension Tandem {
  struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Evaluate a finished run on a split, tune its threshold, and register it as a model version.",
      discussion: """
        The decision threshold is tuned on the run's validation split: for task pneumonia, the
        highest threshold whose recall reaches release.target_recall (default 0.95); for
        pneumonia-type, the most accurate one; churn keeps 0.5. The split named here is then
        scored at that threshold: accuracy, ROC AUC, precision, recall, F1, confusion matrix,
        calibration. Writes RUN/evaluation-SPLIT.json, and registers the run as the next version
        of the model named after its task (pneumonia, pneumonia-type, churn), its parameters
        copied into the store; `tandem models promote` then checks the gates.
        """)

    @Argument(help: "The run directory.") var runDirectory: String
    @Option(help: "The split to measure: test (default), val or train.") var split = "test"
    @Option(help: "The store (default: the run file's store).") var store: String?
    @Flag(help: "Only evaluate; do not register a model version.") var noRegister = false

    /// Registers an evaluated run as the next version of the model named after its task.
    static func register(_ evaluation: Evaluation, runDirectory directory: String, store: String?) throws -> ModelVersion {
      let m = evaluation.metrics
      let split = evaluation.split
      let trained = try TrainedModel(runDirectory: directory)
      let storeRoot = store ?? trained.configuration.store
      guard !storeRoot.isEmpty else {
        throw ValidationError("the run keeps no store (store = \"\"); pass --store DIR or --no-register")
      }
      let opened = try Store(root: storeRoot, create: false)
      guard let record = try opened.registry.run(id: evaluation.run), record.status == "finished",
            let hash = record.parametersSHA256 else {
        throw StoreError(path: opened.registryPath, message: "run \(evaluation.run) is not recorded as finished in this store")
      }
      let file = try opened.storeModel(at: directory + "/model.h5", parametersSHA256: hash)
      // The production version on the very same samples, for the promotion's comparison.
      var champion: GatedMetrics.Champion?
      if let live = try? opened.registry.modelVersion(name: evaluation.task), live.runID != evaluation.run {
        let reader = try DatasetReader(path: trained.configuration.dataset)
        let indices = reader.indices(in: Split(name: split)!, task: trained.labelTask)
        let c = try TandemMonitoring.Monitor.score(store: opened, version: live, data: trained.configuration.dataset, indices: indices)
        champion = .init(version: live.version, accuracy: c.accuracy, recall: c.recall, rocAUC: c.rocAUC)
      }
      let release = trained.configuration.release
      return try opened.registry.register(ModelVersion(
        name: evaluation.task, version: 0, runID: evaluation.run, snapshotID: record.snapshotID, parametersSHA256: hash,
        parametersFile: URL(fileURLWithPath: file).standardizedFileURL.path, runDirectory: record.runDirectory,
        threshold: evaluation.threshold,
        thresholdPolicy: evaluation.thresholdPolicy,
        metrics: GatedMetrics(split: split, accuracy: m.accuracy, recall: m.recall, precision: m.precision, f1: m.f1,
                              rocAUC: m.rocAUC, falseNegatives: evaluation.falseNegatives, champion: champion),
        gates: QualityGates(minRecall: release.minRecall, minAccuracy: release.minAccuracy, minAUC: release.minAUC,
                            tolerance: release.tolerance)))
    }

    func run() throws {
      let directory = runDirectory.hasSuffix("/") ? String(runDirectory.dropLast()) : runDirectory
      let lock = try RunLock.take(run: directory)
      defer { withExtendedLifetime(lock) {} }
      let previousPath = Evaluation.path(run: directory, split: split)
      if FileManager.default.fileExists(atPath: previousPath), let previous = try? Evaluation.read(previousPath),
         case .notReproducible(let why) = Numerics.reproducibility(of: previous.numerics) {
        printError("tandem: note: \(previousPath) cannot be reproduced bit for bit on this machine (\(why)); "
                   + "this evaluation computes with \(Numerics.identifier) and replaces it")
      }
      let evaluation = try Evaluation.evaluate(runDirectory: directory, split: split)
      try evaluation.write(to: Evaluation.path(run: directory, split: split))
      let m = evaluation.metrics
      printNow("\(evaluation.run): \(evaluation.model), task \(evaluation.task), \(m.count) \(split) samples")
      printNow(String(format: "threshold %.4f (%@); on val: recall %.4f, accuracy %.4f",
                      evaluation.threshold, evaluation.thresholdPolicy, evaluation.validation.recall, evaluation.validation.accuracy))
      printNow(String(format: "%@: accuracy %.4f  ROC AUC %.4f  precision %.4f  recall %.4f  F1 %.4f  false negatives %d  ECE %.4f",
                      split, m.accuracy, m.rocAUC, m.precision, m.recall, m.f1, evaluation.falseNegatives,
                      evaluation.expectedCalibrationError))
      let names = evaluation.classNames.count == 2 ? evaluation.classNames : ["0", "1"]
      printNow("confusion (rows true, columns predicted): \(names[0]) \(m.confusion[0]), \(names[1]) \(m.confusion[1])")
      printNow("wrote \(Evaluation.path(run: directory, split: split)) (numerics \(Numerics.identifier))")
      guard !noRegister else { return }

      let version = try Self.register(evaluation, runDirectory: directory, store: store)
      printNow("registered \(version.name) version \(version.version) (run \(version.runID), snapshot \(version.snapshotID.prefix(12))…)")
    }
  }
}
