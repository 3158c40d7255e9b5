import ArgumentParser
import Foundation
import TandemData
import TandemMonitoring
import TandemStore
import TandemTraining

extension Tandem {
  struct Retrain: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Scheduled retraining: check drift, retrain on the new data when due, evaluate, promote through the gates.",
      discussion: """
        tandem retrain --config retrain.toml   (schema: docs/configuration.md, "Retraining")

        Takes an exclusive lock per model in STORE/locks/; a second retrain of the same model
        started meanwhile exits 0 at once, saying so. Retraining is due when the model has no
        production version yet or `tandem monitor` finds drift in the new data. When due, trains
        with the launcher (mpirun by default), evaluates on the test split, registers the new
        version and promotes it if it passes its gates. Every decision, including "not due", is
        recorded in the registry (tandem models show NAME lists them).
        Exit status: 0 done (promoted, not due, or another retrain running), 2 retrained but the
        gates refused the new version (production unchanged), 1 error.
        """)

    @Option(help: "The retrain file (TOML).") var config: String

    func run() throws {
      let settings = try RetrainConfiguration(contentsOf: config)
      guard settings.model.utf8.allSatisfy({ (97...122).contains($0) || (48...57).contains($0) || $0 == 45 }) else {
        throw ValidationError("model name '\(settings.model)' must be lower-case letters, digits and '-'")
      }
      let store = try Store(root: settings.store)
      let started = Date()
      try FileManager.default.createDirectory(atPath: store.root + "/locks", withIntermediateDirectories: true)
      let lockPath = store.root + "/locks/retrain-\(settings.model).lock"
      // The training a retrain launches holds this second lock itself, so a
      // retrain killed mid-training does not let the next one train alongside.
      let trainingLockPath = store.root + "/locks/retrain-\(settings.model).training.lock"
      guard let lock = try FileLock.attempt(path: lockPath), try !FileLock.isHeld(path: trainingLockPath) else {
        printNow("another retrain of \(settings.model) (or the training it launched) is running (locks \(lockPath), "
                 + "\(trainingLockPath)); nothing to do")
        try? store.registry.record(RetrainDecision(model: settings.model, startedAt: started, outcome: "skipped",
                                                   detail: "another retrain of the model was running"))
        return
      }
      lock.recordOwner()
      setenv(TrainingRun.heldLockVariable, trainingLockPath, 1)
      defer { withExtendedLifetime(lock) {} }
      do {
        try retrain(settings, store: store, started: started)
      } catch let exit as ExitCode {
        throw exit
      } catch {
        try? store.registry.record(RetrainDecision(model: settings.model, startedAt: started, outcome: "failed", detail: "\(error)"))
        throw error
      }
    }

    private func retrain(_ settings: RetrainConfiguration, store: Store, started: Date) throws {
      let registry = try store.registry
      let hasProduction = try registry.productionPromotion(name: settings.model) != nil
      if hasProduction {
        let report = try TandemMonitoring.Monitor.check(
          store: store, model: settings.model, data: settings.data,
          thresholds: MonitorThresholds(psi: settings.psiThreshold, labelShift: settings.labelShiftThreshold,
                                        metricDrop: settings.metricDrop))
        guard report.retrainDue else {
          let detail = String(format: "no drift in %@: max PSI %.4f <= %.4f", settings.data, report.maxPSI, settings.psiThreshold)
          printNow("not due: \(detail)")
          try registry.record(RetrainDecision(model: settings.model, startedAt: started, outcome: "not due", detail: detail))
          return
        }
        for reason in report.reasons { printNow("due: \(reason)") }
      } else {
        printNow("due: \(settings.model) has no production version yet")
      }

      // Train through the launcher, as a scheduler would start any job.
      let runFile = store.root + "/retrain/\(settings.model)-\(TrainingRun.timestamp()).toml"
      try FileManager.default.createDirectory(atPath: store.root + "/retrain", withIntermediateDirectories: true)
      try settings.runFile().write(toFile: runFile, atomically: true, encoding: .utf8)
      let tandem = Bundle.main.executablePath ?? CommandLine.arguments[0]
      let arguments = settings.launcherArguments + [tandem, "train", "--config", runFile]
      printNow("training: \(arguments.joined(separator: " "))")
      let (status, output) = try Self.launch(arguments)
      guard status == 0, let line = output.split(separator: "\n").last(where: { $0.hasPrefix("results: ") }) else {
        throw RetrainError.trainingFailed(status: status, runFile: runFile)
      }
      let runDirectory = String(line.dropFirst("results: ".count).split(separator: " ")[0].dropLast())

      let runLock = try RunLock.take(run: runDirectory)
      defer { withExtendedLifetime(runLock) {} }
      let evaluation = try Evaluation.evaluate(runDirectory: runDirectory, split: "test")
      try evaluation.write(to: Evaluation.path(run: runDirectory, split: "test"))
      let version = try Evaluate.register(evaluation, runDirectory: runDirectory, store: settings.store)
      printNow("registered \(version.name) version \(version.version) from run \(version.runID)")
      do {
        try registry.promote(name: settings.model, version: version.version)
      } catch let refusal as StoreError {
        printNow("\(refusal)")
        try registry.record(RetrainDecision(model: settings.model, startedAt: started, outcome: "refused",
                                            detail: "version \(version.version): \(refusal.message)", runID: version.runID))
        throw ExitCode(2)
      }
      printNow("\(settings.model) version \(version.version) is in production")
      try registry.record(RetrainDecision(model: settings.model, startedAt: started, outcome: "promoted",
                                          detail: "version \(version.version)", runID: version.runID))
    }

    /// Runs `arguments`, passing its output through and keeping it.
    static func launch(_ arguments: [String]) throws -> (Int32, String) {
      let process = Process()
      process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
      process.arguments = arguments
      let pipe = Pipe()
      process.standardOutput = pipe
      try process.run()
      var output = Data()
      while true {
        let chunk = pipe.fileHandleForReading.availableData
        if chunk.isEmpty { break }
        output.append(chunk)
        FileHandle.standardOutput.write(chunk)
      }
      process.waitUntilExit()
      return (process.terminationStatus, String(decoding: output, as: UTF8.self))
    }
  }
}

/// A runtime failure (exit 1), not a usage error: launchers and schedulers
/// read 64 as "called wrongly".
enum RetrainError: Error, CustomStringConvertible {
  case trainingFailed(status: Int32, runFile: String)
  var description: String {
    switch self {
    case .trainingFailed(let status, let runFile): return "training failed (exit \(status)); run file \(runFile)"
    }
  }
}
