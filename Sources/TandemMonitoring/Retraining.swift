import Foundation
import TandemData
import TandemRun
import TandemScoring
import TandemStore

/// One scheduled retrain of a registered model: under the model's retrain
/// lock, check drift; when due, train through the launcher (as a scheduler
/// starts any job), evaluate on the test split, register and promote through
/// the gates. Every decision, "not due" included, goes to the registry.
public struct Retraining {
  /// How a retrain ended, for the exit status and the registry.
  public enum Outcome: Equatable, Sendable {
    case skipped(String), notDue(String), promoted(version: Int, runID: String), refused(version: Int, runID: String, reason: String)

    /// The row the registry keeps for this outcome.
    func decision(model: String, startedAt: Date) -> RetrainDecision {
      switch self {
      case .skipped(let detail): return RetrainDecision(model: model, startedAt: startedAt, outcome: .skipped, detail: detail)
      case .notDue(let detail): return RetrainDecision(model: model, startedAt: startedAt, outcome: .notDue, detail: detail)
      case .promoted(let version, let runID):
        return RetrainDecision(model: model, startedAt: startedAt, outcome: .promoted, detail: "version \(version)", runID: runID)
      case .refused(let version, let runID, let reason):
        return RetrainDecision(model: model, startedAt: startedAt, outcome: .refused, detail: "version \(version): \(reason)",
                               runID: runID)
      }
    }
  }

  public let settings: RetrainConfiguration
  public let store: Store
  /// Lines for the person or log watching (the CLI prints them).
  public var say: (String) -> Void = { _ in }
  /// Starts `arguments` (the launcher, then `tandem train --config FILE`)
  /// with `environment` added, and returns its exit status.
  public var launch: (_ arguments: [String], _ environment: [String: String]) throws -> Int32

  public init(settings: RetrainConfiguration, launch: @escaping ([String], [String: String]) throws -> Int32) throws {
    self.settings = settings
    store = try Store(root: settings.store)
    self.launch = launch
  }

  public func run(tandem executable: String) throws -> Outcome {
    let started = Date(), model = settings.model
    try FileManager.default.createDirectory(atPath: store.root + "/locks", withIntermediateDirectories: true)
    let lockPath = store.root + "/locks/retrain-\(model).lock"
    // The training holds this second lock itself, so a retrain killed
    // mid-training does not let the next one train alongside it.
    let trainingLockPath = store.root + "/locks/retrain-\(model).training.lock"
    guard let lock = try FileLock.attempt(path: lockPath), try !FileLock.isHeld(path: trainingLockPath) else {
      let skipped = Outcome.skipped(
        "another retrain of \(model) (or the training it launched) is running (locks \(lockPath), \(trainingLockPath))")
      try store.registry.record(skipped.decision(model: model, startedAt: started))
      return skipped
    }
    lock.recordOwner()
    defer { withExtendedLifetime(lock) {} }
    do {
      let outcome = try retrain(trainingLock: trainingLockPath, tandem: executable)
      try store.registry.record(outcome.decision(model: model, startedAt: started))
      return outcome
    } catch {
      // The failure itself is what the caller must see; a registry that
      // cannot take its record is said, not thrown over it.
      do { try store.registry.record(RetrainDecision(model: model, startedAt: started, outcome: .failed, detail: "\(error)")) } catch let unrecorded {
        say("the failure was not recorded: \(unrecorded)")
      }
      throw error
    }
  }

  private func retrain(trainingLock: String, tandem: String) throws -> Outcome {
    let registry = try store.registry, model = settings.model
    if try registry.productionPromotion(name: model) != nil {
      let report = try Monitor.check(store: store, model: model, data: settings.data, thresholds: settings.thresholds)
      guard report.retrainDue else {
        let detail = String(format: "no drift in %@: max PSI %.4f <= %.4f", settings.data, report.maxPSI, settings.thresholds.psi)
        say("not due: \(detail)")
        return .notDue(detail)
      }
      for reason in report.reasons { say("due: \(reason)") }
    } else {
      say("due: \(model) has no production version yet")
    }

    let folder = store.root + "/retrain", stem = folder + "/\(model)-\(RunID.timestamp())"
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    let runFile = stem + ".toml", resultFile = stem + ".summary.json"
    try AtomicFile.write(Data(try settings.runFile().utf8), to: runFile)
    let arguments = settings.launcherArguments + [tandem, "train", "--config", runFile]
    say("training: \(arguments.joined(separator: " "))")
    let status = try launch(arguments, [TrainingHandoff.heldLockVariable: trainingLock, TrainingHandoff.resultFileVariable: resultFile])
    guard status == 0 else { throw RetrainError.trainingFailed(status: status, runFile: runFile) }
    let summary: RunSummary
    do { summary = try JSONDecoder().decode(RunSummary.self, from: Data(contentsOf: URL(fileURLWithPath: resultFile))) } catch {
      throw DataError(path: resultFile, message: "the training exited 0 but left no readable summary here: \(error.localizedDescription)")
    }

    let runLock = try RunLock.take(run: summary.runDirectory)
    defer { withExtendedLifetime(runLock) {} }
    let evaluation = try Evaluation.evaluate(runDirectory: summary.runDirectory, split: .test)
    try evaluation.write(to: Evaluation.path(run: summary.runDirectory, split: .test))
    let version = try ModelRegistration.register(evaluation, runDirectory: summary.runDirectory, store: settings.store)
    say("registered \(version.name) version \(version.version) from run \(version.runID)")
    do {
      try registry.promote(name: model, version: version.version)
    } catch let refusal as StoreError {
      say("\(refusal)")
      return .refused(version: version.version, runID: version.runID, reason: refusal.message)
    }
    say("\(model) version \(version.version) is in production")
    return .promoted(version: version.version, runID: version.runID)
  }
}

/// The launched training failed: a runtime failure (exit 1), not a usage
/// error; launchers and schedulers read 64 as "called wrongly".
public enum RetrainError: Error, CustomStringConvertible {
  case trainingFailed(status: Int32, runFile: String)
  public var description: String {
    switch self {
    case .trainingFailed(let status, let runFile): return "training failed (exit \(status)); run file \(runFile)"
    }
  }
}

/// A model's retrains as Prometheus textfile metrics,
/// `DIR/tandem_retrain_MODEL.prom`, rewritten after each `tandem retrain`
/// from the registry's decisions: the last outcome, its time and exit status,
/// the last success, and the production version.
public enum RetrainMetrics {
  public static func write(settings: RetrainConfiguration, started: Date, exitStatus: Int32, now: Date = Date()) throws {
    guard let directory = settings.metricsDirectory else { return }
    let store = try Store(root: settings.store, create: false)
    let decisions = try store.registry.retrainDecisions(model: settings.model)
    let labels = [("model", settings.model)]
    var file = PrometheusTextfile()
    // This retrain's decision; an error before one was recorded counts as failed.
    let last = decisions.last(where: { $0.startedAt >= started })
    let outcome = last?.outcome ?? .failed
    for o in [RetrainDecision.Outcome.promoted, .refused, .notDue, .skipped, .failed] {
      file.gauge("tandem_retrain_last_outcome", "1 for the last retrain's outcome, 0 for the others.", o == outcome ? 1 : 0,
                 labels: labels + [("outcome", o.rawValue)])
    }
    file.gauge("tandem_retrain_last_exit_code", "Exit status of the last tandem retrain (0 done, 2 refused, 75 stopped, 1 error).",
               Double(exitStatus), labels: labels)
    file.gauge("tandem_retrain_last_timestamp_seconds", "Unix time the last retrain ended.",
               (last?.endedAt ?? now).timeIntervalSince1970, labels: labels)
    file.gauge("tandem_retrain_last_duration_seconds", "Seconds the last retrain took.",
               (last?.endedAt ?? now).timeIntervalSince(last?.startedAt ?? started), labels: labels)
    if let success = decisions.last(where: { $0.outcome == .promoted || $0.outcome == .notDue }) {
      file.gauge("tandem_retrain_last_success_timestamp_seconds", "Unix time of the newest retrain that promoted a version or found none due.",
                 success.endedAt.timeIntervalSince1970, labels: labels)
    }
    if let production = try store.registry.productionVersion(name: settings.model) {
      file.gauge("tandem_model_production_version", "The version in production.", Double(production.version), labels: labels)
    }
    try file.write(directory: directory, name: "tandem_retrain_\(settings.model)")
  }
}
