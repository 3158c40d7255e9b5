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
    subcommands: [Train.self, Rerun.self, Evaluate.self, Explain.self, Report.self, Models.self, Monitor.self, Retrain.self, Predict.self, Audit.self, Architectures.self, Export.self, Launch.self, Bench.self, Diagnose.self, Ingest.self, Dataset.self, Snapshot.self, Runs.self])

  /// Exit status: 0 success; 64 usage (a parse or `checkUsage()` error, as
  /// `tandem: <what>` and the command's usage line); 1 any failure while running, as
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
      usageExit(error, command: nil)
    }
    // After parsing, so an unknown or misspelt flag is named first.
    if let checked = command as? UsageChecked {
      do { try checked.checkUsage() } catch { usageExit(error, command: type(of: command)) }
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

  /// A command called wrongly, in the one error style: `tandem: <what>`,
  /// then the usage line and where the help is; exit 64. Help and version
  /// requests print as ArgumentParser has them.
  private static func usageExit(_ error: any Error, command: ParsableCommand.Type?) -> Never {
    let code = exitCode(for: error)
    guard code != .success else { exit(withError: error) }
    let lines: [String]
    if let command {
      let usage = usageString(for: command)
      let path = usage.split(separator: " ").prefix { !($0.hasPrefix("<") || $0.hasPrefix("[") || $0.hasPrefix("-")) }
        .joined(separator: " ")
      lines = ["tandem: \(message(for: error))", "Usage: \(usage)", "  See '\(path) --help' for more information."]
    } else {
      lines = fullMessage(for: error).split(separator: "\n", omittingEmptySubsequences: false).map(String.init).enumerated()
        .map { $0.offset == 0 && $0.element.hasPrefix("Error: ") ? "tandem: " + $0.element.dropFirst("Error: ".count) : $0.element }
    }
    printError(lines.joined(separator: "\n"))
    Foundation.exit(code.rawValue)
  }
}

/// A command whose flags are checked together after parsing (not in
/// ArgumentParser's `validate()`, which would report such a problem before
/// an unknown flag, hiding a misspelt `--confg` behind "give --config").
protocol UsageChecked {
  func checkUsage() throws
}
