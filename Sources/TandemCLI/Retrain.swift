import ArgumentParser
import Foundation
import TandemTraining
import TandemMonitoring
import TandemRun

extension Tandem {
  struct Retrain: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Scheduled retraining: check drift, retrain on the new data when due, evaluate, promote through the gates.",
      discussion: """
        tandem retrain --config retrain.toml
        tandem retrain --config retrain.toml --json --metrics-dir /var/lib/node_exporter/textfile

        The retrain file's schema: docs/configuration.md, "Retraining".

        Takes an exclusive lock per model in STORE/locks/; a second retrain of the same model \
        started meanwhile exits 0 at once, saying so. Retraining is due when the model has no \
        production version yet or `tandem monitor` finds drift in the new data. When due, trains \
        with the launcher (mpirun by default), evaluates on the test split, registers the new \
        version and promotes it if it passes its gates. Every decision, including "not due", is \
        recorded in the registry (tandem models show NAME lists them).

        Exit status: 0 done (promoted, not due, or another retrain running); 2 retrained, but the \
        gates refused the new version (production unchanged); 75 the training was stopped on \
        request (SIGTERM, preemption) before it finished; 1 error.
        """)

    @Option(help: "The retrain file (TOML).") var config: String

    @Flag(help: "Print the recorded decision as one JSON document (progress goes to standard error; schema: docs/json.md).")
    var json = false

    @Option(name: .customLong("metrics-dir"), help: "Keep Prometheus textfile metrics of this retrain and its training here (default: the retrain file's metrics_dir).")
    var metricsDirectory: String?

    func run() throws {
      var settings = try RetrainConfiguration(contentsOf: config)
      settings.metricsDirectory = metricsDirectory ?? settings.metricsDirectory
      if let directory = settings.metricsDirectory { try PrometheusTextfile.checkDirectory(directory) }
      let started = Date(timeIntervalSinceNow: -1)
      let status: Int32
      do {
        try retrain(settings, started: started)
        status = 0
      } catch let exit as ExitCode {
        status = exit.rawValue
        try? RetrainMetrics.write(settings: settings, started: started, exitStatus: status)
        throw exit
      } catch {
        try? RetrainMetrics.write(settings: settings, started: started, exitStatus: 1)
        throw error
      }
      try RetrainMetrics.write(settings: settings, started: started, exitStatus: status)
    }

    private func retrain(_ settings: RetrainConfiguration, started: Date) throws {
      var retraining = try Retraining(settings: settings, launch: Self.launch)
      let toStandardError = json
      retraining.say = { line in if toStandardError { printError(line) } else { printNow(line) } }
      let outcome: Retraining.Outcome
      do {
        outcome = try retraining.run(tandem: Bundle.main.executablePath ?? CommandLine.arguments[0])
      } catch RetrainError.trainingFailed(let status, let runFile) where status == TrainingStopped.exitStatus {
        // Preempted, not broken: the scheduler may run the retrain again.
        printError("tandem: the training stopped on request (exit 75) before it finished; nothing was registered; run file \(runFile)")
        throw ExitCode(TrainingStopped.exitStatus)
      }
      if json, let decision = try retraining.store.registry.retrainDecisions(model: retraining.settings.model)
        .last(where: { $0.startedAt >= started }) {
        try JSONOutput.print("tandem.retrain", ["decision": decision])
        if case .refused = outcome { throw ExitCode(2) }
        return
      }
      switch outcome {
      case .skipped(let detail): printNow("\(detail); nothing to do")
      case .notDue, .promoted: return
      case .refused: throw ExitCode(2)
      }
    }

    /// Runs `arguments` with `environment` added, its output passed through.
    static func launch(_ arguments: [String], environment: [String: String]) throws -> Int32 {
      let process = Process()
      process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
      process.arguments = arguments
      process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
      try process.run()
      process.waitUntilExit()
      return process.terminationStatus
    }
  }
}
