import ArgumentParser
import Foundation
import TandemData
import TandemDistributed
import TandemSystem
import TandemTensor

@main
struct Tandem: ParsableCommand {
  static let version = "0.1.0"

  static let configuration = CommandConfiguration(
    commandName: "tandem",
    abstract: "Distributed data-parallel training on MPI workers, with auditable runs.",
    version: version,
    subcommands: [Train.self, Rerun.self, Evaluate.self, Explain.self, Report.self, Models.self, Monitor.self, Retrain.self, Predict.self, Audit.self, Architectures.self, Export.self, Bench.self, Diagnose.self, Ingest.self, Dataset.self, Snapshot.self, Runs.self])

  /// Exit status: 0 success; 64 usage (a parse or `validate()` error, printed
  /// by ArgumentParser with the usage line); 1 any failure while running, as
  /// one line `tandem: <what>`; 4 when the numerics cannot be reproduced here;
  /// 75 when training stopped on SIGTERM or SIGINT after writing a checkpoint.
  static func main() {
    // A file-size limit must surface as a write error naming the file, not as
    // a silent kill by SIGXFSZ.
    signal(SIGXFSZ, SIG_IGN)
    SystemProcess.ignoreBrokenPipes()
    var command: any ParsableCommand
    do {
      command = try parseAsRoot()
    } catch {
      exit(withError: error)
    }
    do {
      // Before anything computes: a CPU or build that miscomputes the pinned
      // arithmetic must not train, score or verify (about a millisecond).
      Numerics.applyKernelChoice(environment: ProcessInfo.processInfo.environment)
      try Numerics.selfTest()
      // Files from outside are first read by a child process, where a crash
      // of libhdf5 on corrupt metadata harms nobody.
      HDF5Isolation.enable(command: [Bundle.main.executablePath ?? CommandLine.arguments[0], "dataset", "isolated-hash"],
                           environment: ProcessInfo.processInfo.environment)
      try command.run()
    } catch let error as DistinctExitStatus {
      printError("tandem: \(error)")
      Foundation.exit(error.exitStatus)
    } catch let error as ValidationError {
      // Usage was checked when parsing; a ValidationError from running is a
      // runtime failure like any other (exit 1, not the usage code 64).
      printError("tandem: \(error.message)")
      Foundation.exit(1)
    } catch let error as ExitCode {
      exit(withError: error)
    } catch let error as CleanExit {
      exit(withError: error)
    } catch where exitCode(for: error) == .success {
      // `tandem CMD --help` and `tandem help CMD` come back from run() as a help request.
      exit(withError: error)
    } catch {
      printError("tandem: \(ErrorText.line(error))")
      Foundation.exit(1)
    }
  }
}
