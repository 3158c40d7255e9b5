import Foundation
import Testing
import TandemTestSupport

/// The exit statuses the help promises: 64 for a command called wrongly
/// (ArgumentParser's usage code), 1 for any failure while running, in one
/// line `tandem: ...`. Schedulers read 64 as "fix the job", 1 as "it failed".
@Suite struct ExitCodeTests {
  @Test(arguments: [
    ["train", "--confg", "x.toml"],
    ["train"],
    ["bench", "kernels", "--numerics", "fastest"],
    ["predict", "--model", "churn"],
    ["ingest", "images", "dir", "--out", "x.h5", "--size", "0"],
    ["diagnose", "mpi", "--count", "0"],
  ])
  func usageErrorsExit64(arguments: [String]) throws {
    let run = try TandemProcess.run(arguments, timeout: 60)
    #expect(run.status == 64, "\(arguments): \(run)")
    // One error style for every failure: `tandem: <what>`, here with the usage after it.
    #expect(run.stderr.hasPrefix("tandem: ") && run.stderr.contains("Usage: tandem ")
            && run.stderr.contains("See 'tandem \(arguments[0])"), "\(run)")
    if arguments.contains("--confg") {
      #expect(run.stderr.hasPrefix("tandem: Unknown option '--confg'. Did you mean '--config'?"), "\(run)")
    }
  }

  @Test func runtimeFailuresExit1InOneLine() throws {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tandem-exit-\(getpid())").path
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    try "model = \"churn\"\nrun = \"r.toml\"\ndata = \"d.h5\"\nranks = \"2\"\n".write(toFile: folder + "/retrain.toml", atomically: true, encoding: .utf8)
    try "model = \"Churn!\"\nrun = \"r.toml\"\ndata = \"d.h5\"\n".write(toFile: folder + "/badname.toml", atomically: true, encoding: .utf8)
    let cases: [([String], String)] = [
      (["report", folder + "/no-such-run"], "tandem: \(folder)/no-such-run: no such run directory"),
      (["evaluate", folder + "/no-such-run"], "tandem: \(folder)/no-such-run: no such run directory"),
      (["retrain", "--config", folder + "/retrain.toml"], "tandem: retrain.toml: 'ranks' must be an integer, got \"2\""),
      (["retrain", "--config", folder + "/badname.toml"], "tandem: badname.toml: model name 'Churn!' must be lower-case letters, digits and '-'"),
      (["dataset", "inspect", folder + "/retrain.toml"], "tandem: \(folder)/retrain.toml: not an HDF5 file"),
    ]
    for (arguments, line) in cases {
      let run = try TandemProcess.run(arguments, timeout: 60, directory: URL(fileURLWithPath: folder))
      #expect(run.status == 1 && run.stderr == line + "\n", "\(arguments): \(run)")
    }
  }
}

extension ExitCodeTests {
  /// A task of a multi-task srun step without PMIx (no `--mpi=pmix`, or
  /// `--mpi=pmi2`) would die in MPI_Init with Open MPI's message alone:
  /// Tandem names the fix first, in one line, exit 1.
  @Test func srunWithoutPMIxGetsAHint() throws {
    for (extra, how) in [([:], "without PMIx"), (["PMI_RANK": "0"], "with PMI-2")] as [([String: String], String)] {
      let env = ["SLURM_STEP_ID": "0", "SLURM_STEP_NUM_TASKS": "2", "SLURM_PROCID": "0"].merging(extra) { a, _ in a }
      let run = try TandemProcess.run(["train", "--config", "run.toml"], timeout: 60, environment: env)
      #expect(run.status == 1 && run.stderr.hasPrefix("tandem: srun started this task \(how)")
              && run.stderr.contains("srun --mpi=pmix") && tandemLines(run.stderr).count == 1, "\(run)")
    }
  }
}

extension ExitCodeTests {
  /// A retrain whose training was stopped on request (the launched training
  /// exited 75: preemption, a time limit) exits 75 too, so the scheduler sees
  /// a preemption, not a failure; any other launcher failure is 1, never 64.
  @Test func retrainPassesOnAStoppedTrainingAs75AndAFailedLauncherAs1() throws {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tandem-retrain-exit-\(getpid())").path
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    try "model = \"churn-logreg\"\ndataset = \"x.h5\"\nepochs = 1\n".write(toFile: folder + "/run.toml", atomically: true, encoding: .utf8)
    for (status, expected) in [(75, Int32(75)), (1, Int32(1)), (64, Int32(1))] {
      let file = folder + "/retrain-\(status).toml"
      try """
        model = "churn"
        run = "run.toml"
        data = "\(try Reproducibility.churn)"
        store = "store-\(status)"
        ranks = 2
        launcher = ["sh", "-c", "exit \(status)", "sh"]
        """.write(toFile: file, atomically: true, encoding: .utf8)
      let run = try TandemProcess.run(["retrain", "--config", file], timeout: 60, directory: URL(fileURLWithPath: folder))
      #expect(run.status == expected, "launcher exit \(status): \(run)")
      #expect(tandemLines(run.stderr).count == 1, "\(run)")
    }
  }
}

extension ExitCodeTests {
  /// Help written for ArgumentParser's own wrapping: at 80 columns no
  /// paragraph breaks into stray short fragments, as hand-wrapped text did;
  /// and every command's help opens with an example of its use.
  @Test(arguments: [["train"], ["rerun"], ["evaluate"], ["explain"], ["report"], ["models", "list"], ["models", "show"],
                    ["models", "promote"], ["monitor"], ["retrain"], ["predict"], ["audit", "verify"], ["architectures"],
                    ["export"], ["launch"], ["bench", "kernels"], ["bench", "sgemm"], ["bench", "read"], ["diagnose", "mpi"],
                    ["diagnose", "cuda"], ["diagnose", "cuda-reference"],
                    ["ingest", "csv"], ["ingest", "images"], ["dataset", "inspect"], ["dataset", "verify"],
                    ["snapshot", "list"], ["snapshot", "show"], ["snapshot", "export"],
                    ["runs", "list"], ["runs", "show"], ["runs", "compare"]])
  func helpTextWrapsWithoutStrayFragmentsAndShowsAnExample(command: [String]) throws {
    let run = try TandemProcess.run(command + ["--help"], timeout: 30, environment: ["COLUMNS": "80"])
    #expect(run.status == 0)
    let lines = run.stdout.components(separatedBy: "\n")
    let text = lines.prefix { !$0.hasPrefix("USAGE:") }
    func isExample(_ line: String) -> Bool { line.wholeMatch(of: #/ *([A-Z_]+=\S+ )?(mpirun .+ )?tandem \S.*/#) != nil }
    for (k, line) in text.enumerated() where k + 1 < text.count {
      let next = text[text.index(text.startIndex, offsetBy: k + 1)]
      #expect(line.isEmpty || next.isEmpty || isExample(line) || line.count >= 40, "\(command): stray fragment '\(line)' before '\(next)'")
    }
    #expect(text.contains { isExample($0) && $0.contains("tandem \(command.joined(separator: " "))") }, "\(command): no example in\n\(run.stdout)")
  }
}
