import Foundation
import Testing
import TandemTestSupport
import TandemData
import TandemRun
import TandemTraining

extension MPIJobTests {
  /// A learning rate of 1e20 makes the gradients overflow to inf and NaN:
  /// the exact reduction used to trap converting them to fixed point. Now the
  /// job stops with the divergence message and exit 1, on either reduction.
  @Test(arguments: ["exact", "float"])
  func aDivergingRunStopsWithTheDivergenceMessage(reduction: String) throws {
    let (run, _, _) = try train("""
      model = "churn-mlp"
      dataset = "\(try Reproducibility.churn)"
      epochs = 1
      [training]
      learning_rate = 1e20
      max_steps = 10
      [cluster]
      reduction = "\(reduction)"
      """, ranks: 2, timeout: 120)
    #expect(run.status == 1, "\(run)")
    #expect(run.stderr.contains("training diverged at epoch 1 step") && run.stderr.contains("lower training.learning_rate"), "\(run)")
    #expect(!run.stderr.contains("Fatal error") && !run.stderr.contains("Illegal instruction"), "\(run)")
  }

  /// Two ranks started with different run files (as two nodes with different
  /// copies would): rank 0 reads its file and sends the text, so the run is
  /// rank 0's and rank 1's copy is never read. Settings that still differ
  /// (a per-rank override) are refused before the first step, one line naming
  /// the rank and the key.
  @Test func ranksTrainRank0sRunFileAndDifferingSettingsAreRefusedNamingTheKey() throws {
    let base = """
      model = "churn-mlp"
      dataset = "\(try Reproducibility.churn)"
      output = "runs"
      """
    let one = Fixtures.runFile(base + "\nepochs = 1\n")
    let folder = (one as NSString).deletingLastPathComponent
    let two = folder + "/other.toml"
    try (base + "\nepochs = 2\n").write(toFile: two, atomically: true, encoding: .utf8)
    let binary = TandemProcess.binary.path
    func mpmd(_ first: [String], _ second: [String]) throws -> TandemProcess.Output {
      try TandemProcess.run([], timeout: 120, environment: ["TANDEM_PROGRESS": "plain"], directory: URL(fileURLWithPath: folder),
                            executable: "/usr/bin/env",
                            arguments: ["mpirun", "--oversubscribe", "-np", "1", binary] + first + [":", "-np", "1", binary] + second)
    }
    let trained = try mpmd(["train", "--config", one], ["train", "--config", two])
    #expect(trained.status == 0 && trained.stdout.contains("epoch 1/1") && !trained.stdout.contains("epoch 2/2"), "\(trained)")

    let differing = try mpmd(["train", "--config", one, "--seed", "1"], ["train", "--config", one, "--seed", "2"])
    #expect(differing.status == 1, "\(differing)")
    #expect(tandemLines(differing.stderr) == ["tandem: rank 1: run file: 'seed' is 2 here but 1 on rank 0; every rank must train the same run"],
            "\(differing)")
    let runs = try FileManager.default.contentsOfDirectory(atPath: folder + "/runs")
    #expect(runs.count == 1, "only the first job trained: \(runs)")
  }
}

extension MPIJobTests {
  /// `train --resume` continues the same run or nothing: an edited run file
  /// or other data is refused naming what changed, a finished run has nothing
  /// to resume, and the resumed log marks where it picked up.
  @Test func resumeRefusesChangedSettingsChangedDataAndFinishedRuns() throws {
    let killed = try train(try SmallXray.toml, ranks: 1, timeout: 120, environment: ["TANDEM_FAULT": "kill:rank=0:step=5"])
    #expect(killed.output.status != 0, "\(killed.output)")
    let directory = try newestRun(besides: killed.config)
    let configPath = directory + "/config.toml"
    let original = try String(contentsOfFile: configPath, encoding: .utf8)

    try original.replacingOccurrences(of: "seed = 4", with: "seed = 5").write(toFile: configPath, atomically: true, encoding: .utf8)
    let edited = try resume(directory, config: killed.config, ranks: 1)
    #expect(edited.status == 1 && tandemLines(edited.stderr).count == 1
            && edited.stderr.contains("'seed' is 5 now but was 4 when the checkpoint was written"), "\(edited)")

    // The same images split with another seed: same shape, other content hash.
    let home = (killed.config as NSString).deletingLastPathComponent
    let other = home + "/other-split.h5"
    let ingested = try TandemProcess.run(["ingest", "images", TandemProcess.packageRoot.appendingPathComponent("Data/sample/chest-xray").path,
                                          "--size", "32", "--seed", "9", "--out", other])
    #expect(ingested.status == 0, "\(ingested)")
    try original.replacingOccurrences(of: try SmallXray.dataset, with: other).write(toFile: configPath, atomically: true, encoding: .utf8)
    let changedData = try resume(directory, config: killed.config, ranks: 1)
    #expect(changedData.status == 1 && changedData.stderr.contains("other-split.h5: its content hash is")
            && changedData.stderr.contains("resume continues the same data only"), "\(changedData)")

    try original.write(toFile: configPath, atomically: true, encoding: .utf8)
    let resumed = try resume(directory, config: killed.config, ranks: 2)
    #expect(resumed.status == 0, "\(resumed)")
    let log = try String(contentsOfFile: directory + "/metrics.jsonl", encoding: .utf8)
    #expect(log.contains("\"type\":\"resume\"") && log.contains("their step records were not written"), "\(log)")
    let report = try TandemProcess.run(["report", directory, "--out", home + "/report.html"], directory: URL(fileURLWithPath: home))
    #expect(report.status == 0, "a resumed run's log must still make a report: \(report)")

    let again = try resume(directory, config: killed.config, ranks: 1)
    #expect(again.status == 1 && again.stderr.contains("the run has finished (summary.json): nothing to resume"), "\(again)")
  }

  /// While a run trains it holds RUN/.lock: a second `train --resume` of it is
  /// refused at once instead of interleaving its metrics with the first's.
  @Test func aRunThatIsStillTrainingCannotBeResumedAlongside() throws {
    let config = Fixtures.runFile(try SmallXray.toml.replacingOccurrences(of: "epochs = 4", with: "epochs = 400"))
    let home = (config as NSString).deletingLastPathComponent
    let first = Process()
    first.executableURL = TandemProcess.binary
    first.arguments = ["train", "--config", config]
    first.currentDirectoryURL = URL(fileURLWithPath: home)
    first.standardOutput = FileHandle.nullDevice
    first.standardError = FileHandle.nullDevice
    try first.run()
    // SIGKILL: Open MPI handles SIGTERM in a singleton and would let it train on.
    defer { if first.isRunning { kill(first.processIdentifier, SIGKILL); first.waitUntilExit() } }
    // Wait for its first checkpoint, so that there is something to resume.
    let deadline = Date().addingTimeInterval(60)
    var directory: String?
    while Date() < deadline, first.isRunning {
      if let run = try? newestRun(besides: config), !((try? CheckpointDirectory(run: run).files()) ?? []).isEmpty { directory = run; break }
      Thread.sleep(forTimeInterval: 0.1)
    }
    let run = try #require(directory, "the first run wrote no checkpoint within 60 s")
    let second = try resume(run, config: config, ranks: 1)
    #expect(second.status == 1 && second.stderr.contains("is being trained by another process"), "\(second)")
  }
}

extension MPIJobTests {
  /// Scoring and data edges: a NaN cell loses its row only (to the errors
  /// file), a number far outside the training data is scored but sent to a
  /// person, and tables edited behind Tandem's back (NaN features, a format
  /// from the future) are refused by train and monitor with the place.
  @Test func scoringAndDatasetEdgesAreReportedPerRowAndPerPlace() throws {
    let (run, directory, config) = try train(try Reproducibility.toml("churn-mlp"), ranks: 1)
    #expect(run.status == 0, "\(run)")
    let home = (config as NSString).deletingLastPathComponent
    func tandem(_ arguments: [String], ranks: Int? = nil) throws -> TandemProcess.Output {
      try tandemCommand(arguments, ranks: ranks, in: URL(fileURLWithPath: home))
    }
    #expect(try tandem(["evaluate", try #require(directory)]).status == 0)
    let csv = TandemProcess.packageRoot.appendingPathComponent("Data/sample/telco/WA_Fn-UseC_-Telco-Customer-Churn.csv").path
    var rows = try String(contentsOfFile: csv, encoding: .utf8).components(separatedBy: "\r\n").prefix(6).map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
    let header = rows[0]
    let tenure = try #require(header.firstIndex(of: "tenure")), charges = try #require(header.firstIndex(of: "MonthlyCharges"))
    rows[2][tenure] = "-1e30"
    rows[3][charges] = "nan"
    try (rows.map { $0.joined(separator: ",") }.joined(separator: "\n") + "\n").write(toFile: home + "/edge.csv", atomically: true, encoding: .utf8)
    let scored = try tandem(["predict", "--model", "churn@1", "--input", "edge.csv", "--out", "edge-preds.csv"], ranks: 2)
    #expect(scored.status == 0 && scored.stdout.contains("4 predictions") && scored.stdout.contains("1 not scored"), "\(scored)")
    let preds = try String(contentsOfFile: home + "/edge-preds.csv", encoding: .utf8).split(separator: "\n").map(String.init)
    let far = try #require(preds.first { $0.hasPrefix(rows[2][0]) })
    #expect(far.hasSuffix(",true"), "a tenure of -1e30 must need review: \(far)")
    let errors = try String(contentsOfFile: home + "/edge-preds.csv.errors", encoding: .utf8)
    #expect(errors.contains(rows[3][0]) && errors.contains("column 'MonthlyCharges' holds 'nan', which is not a finite 32-bit number"), "\(errors)")

    // Tables edited with h5py: a NaN feature, and a format_version from the future.
    let dataset = try Reproducibility.churn
    let edited = try TandemProcess.run([], executable: "/usr/bin/env", arguments: ["python3", "-c", """
      import h5py, shutil
      shutil.copy('\(dataset)', '\(home)/nan.h5'); shutil.copy('\(dataset)', '\(home)/future.h5')
      with h5py.File('\(home)/nan.h5', 'r+') as f: f['features'][17, 3] = float('nan')
      with h5py.File('\(home)/future.h5', 'r+') as f: f.attrs['format_version'] = 99
      """])
    #expect(edited.status == 0, "\(edited)")
    let nanRun = try train(try Reproducibility.toml("churn-mlp").replacingOccurrences(of: dataset, with: home + "/nan.h5"), ranks: 2)
    #expect(nanRun.output.status == 1 && tandemLines(nanRun.output.stderr) == ["tandem: \(home)/nan.h5: /features[17, 3] is not finite: the table cannot be trained on"],
            "\(nanRun.output)")
    let monitored = try tandem(["monitor", "--model", "churn@1", "--data", home + "/nan.h5"])
    #expect(monitored.status == 1 && monitored.stderr.contains("/features[17, 3] is not finite"), "\(monitored)")
    let future = try train(try Reproducibility.toml("churn-mlp").replacingOccurrences(of: dataset, with: home + "/future.h5"), ranks: 1)
    #expect(future.output.status == 1 && future.output.stderr.contains("dataset format_version 99, but this Tandem reads version 1"), "\(future.output)")
  }
}

extension MPIJobTests {
  /// An output that cannot be written (a directory under /proc, which even
  /// root cannot create) is one line naming the path, never a Foundation dump.
  @Test func anUnwritableOutputIsOneLineNamingThePath() throws {
    let (run, _, _) = try train("""
      model = "churn-mlp"
      dataset = "\(try Reproducibility.churn)"
      output = "/proc/tandem-no-such-dir/runs"
      store = ""
      [training]
      max_steps = 2
      """, ranks: 2, timeout: 120)
    let lines = tandemLines(run.stderr)
    #expect(run.status == 1 && lines.count == 1 && lines[0].contains("/proc/tandem-no-such-dir") && !run.stderr.contains("Error Domain"), "\(run)")
  }
}

/// A negative fraction is reported as what it is, not as a missing value.
@Test func aNegativeSplitFractionIsNamedAsSuch() throws {
  let csv = TandemProcess.packageRoot.appendingPathComponent("Data/sample/telco/WA_Fn-UseC_-Telco-Customer-Churn.csv").path
  let out = Fixtures.directory.appendingPathComponent("negative-\(UUID().uuidString).h5").path
  let run = try TandemProcess.run(["ingest", "csv", csv, "--label", "Churn", "--val-fraction", "-0.1", "--out", out])
  #expect(run.status == 64 && run.stderr.contains("--val-fraction and --test-fraction must be >= 0") && !run.stderr.contains("Missing value"),
          "\(run)")
}

/// A FIFO where a run file or a CSV should be is refused at once, never
/// waited on (nothing would ever write to it).
@Test func fifosInPlaceOfInputFilesAreRefusedAtOnce() throws {
  let folder = Fixtures.directory.appendingPathComponent("fifo-\(UUID().uuidString)").path
  try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
  for name in ["run.toml", "table.csv", "data.h5"] { #expect(mkfifo(folder + "/" + name, 0o600) == 0) }
  let runFile = try TandemProcess.run(["train", "--config", folder + "/run.toml"], timeout: 30)
  #expect(runFile.status == 1 && runFile.stderr.contains("not a regular file") && runFile.seconds < 20, "\(runFile)")
  let csv = try TandemProcess.run(["ingest", "csv", folder + "/table.csv", "--out", folder + "/t.h5"], timeout: 30)
  #expect(csv.status == 1 && csv.stderr.contains("not a regular file"), "\(csv)")
  let dataset = try TandemProcess.run(["dataset", "inspect", folder + "/data.h5"], timeout: 30)
  #expect(dataset.status == 1 && dataset.stderr.contains("not a regular file"), "\(dataset)")
}

extension MPIJobTests {
  /// RUN/.lock also guards the commands that write into a finished run:
  /// while another process holds it, evaluate, explain and report are
  /// refused in one line and write nothing; a report elsewhere (--out) only
  /// reads and goes ahead.
  @Test func commandsThatWriteIntoARunTakeItsLock() throws {
    let (run, directory, config) = try train(try Reproducibility.toml("churn-mlp"), ranks: 1)
    #expect(run.status == 0, "\(run)")
    let runDirectory = try #require(directory)
    let home = URL(fileURLWithPath: (config as NSString).deletingLastPathComponent)
    let name = (runDirectory as NSString).lastPathComponent
    let busy = "tandem: \(runDirectory)/.lock: run \(name) is being trained or written by another process; try again when it ends"
    do {
      let held = try FileLock(path: runDirectory + "/.lock", waiting: false, busy: "test")
      for arguments in [["evaluate", runDirectory, "--no-register"], ["explain", runDirectory, "--count", "1"], ["report", runDirectory]] {
        let refused = try TandemProcess.run(arguments, directory: home)
        #expect(refused.status == 1 && tandemLines(refused.stderr) == [busy], "\(arguments): \(refused)")
      }
      #expect(!FileManager.default.fileExists(atPath: runDirectory + "/report.html"))
      #expect(!FileManager.default.fileExists(atPath: runDirectory + "/evaluation-test.json"))
      let elsewhere = try TandemProcess.run(["report", runDirectory, "--out", home.path + "/elsewhere.html"], directory: home)
      #expect(elsewhere.status == 0, "\(elsewhere)")
      withExtendedLifetime(held) {}
    }
    let report = try TandemProcess.run(["report", runDirectory], directory: home)
    #expect(report.status == 0, "\(report)")
  }
}
