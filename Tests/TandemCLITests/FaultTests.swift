import Foundation
import Testing
import TandemTestSupport

/// Processes still running whose command line mentions `marker`.
func survivors(_ marker: String) -> [String] {
  let ps = Process()
  ps.executableURL = URL(fileURLWithPath: "/usr/bin/pgrep")
  ps.arguments = ["-af", marker]
  let pipe = Pipe()
  ps.standardOutput = pipe
  try? ps.run()
  ps.waitUntilExit()
  return String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    .split(separator: "\n").map(String.init).filter { !$0.contains("pgrep") }
}

/// The lines Tandem itself wrote to standard error.
func tandemLines(_ stderr: String) -> [String] {
  stderr.split(separator: "\n").map(String.init).filter { $0.hasPrefix("tandem:") }
}

extension MPIJobTests {
  static var longRun: String { get throws { try """
    model = "churn-mlp"
    dataset = "\(try Fixtures.churn)"
    seed = 3
    epochs = 200
    """ } }

  @Test(.enabled(if: Fixtures.hasSharedData, Fixtures.sharedDataMissing)) func aRankKilledWithSIGKILLEndsTheJobWithinTenSeconds() throws {
    let (run, _, config) = try train(try Self.longRun, ranks: 2, timeout: 60, environment: ["TANDEM_FAULT": "kill:rank=1:step=30"])
    #expect(run.status != 0, "\(run)")
    #expect(run.seconds < 10, "\(run)")
    // mpirun reaps its ranks as it exits; a busy machine may take a moment.
    var left = survivors(config)
    let deadline = Date().addingTimeInterval(10)
    while !left.isEmpty && Date() < deadline {
      Thread.sleep(forTimeInterval: 0.1)
      left = survivors(config)
    }
    #expect(left.isEmpty, "processes left behind after 10 s: \(left)")
  }

  @Test(.enabled(if: Fixtures.hasSharedData, Fixtures.sharedDataMissing)) func aRankThatThrowsAbortsTheJobWithItsMessage() throws {
    let (run, _, _) = try train(try Self.longRun, ranks: 2, timeout: 60, environment: ["TANDEM_FAULT": "raise:rank=1:step=5"])
    #expect(run.status != 0)
    #expect(run.stderr.contains("tandem: rank 1: TANDEM_FAULT: injected failure on rank 1 at step 5"), "\(run)")
    #expect(run.seconds < 20, "\(run)")
  }

  @Test(.enabled(if: Fixtures.hasSharedData, Fixtures.sharedDataMissing)) func aStalledRankIsNamedByTheWatchdog() throws {
    let (run, _, _) = try train(try Self.longRun + "\n[cluster]\ncollective_timeout = 2\n", ranks: 2, timeout: 60,
                             environment: ["TANDEM_FAULT": "stall:rank=1:step=4"])
    #expect(run.status != 0)
    #expect(run.stderr.contains("tandem: stall: MPI_Allreduce"), "\(run)")
    #expect(run.stderr.contains("rank 1 (host ") && run.stderr.contains("did not arrive"), "\(run)")
    #expect(run.seconds < 20, "\(run)")
  }

  @Test(.enabled(if: Fixtures.hasSharedData, Fixtures.sharedDataMissing)) func aMalformedConfigIsReportedOnceAndNothingRuns() throws {
    let (run, directory, _) = try train("""
      model = "churn-mlp"
      dataset = "\(try Fixtures.churn)"
      epoch = 3
      """, ranks: 2, timeout: 60)
    // mpirun adds its own banner about the exit status; ours is one line.
    #expect(run.status == 1, "\(run)")
    #expect(tandemLines(run.stderr) == ["tandem: run.toml: unknown key 'epoch' (did you mean 'epochs'?)"], "\(run)")
    #expect(directory == nil)
    let broken = try train("model = \"churn-mlp\"\ndataset = \n", ranks: 2, timeout: 60)
    #expect(broken.output.status == 1)
    let lines = tandemLines(broken.output.stderr)
    #expect(lines.count == 1 && lines[0].hasPrefix("tandem: run.toml: line 2: "), "\(broken.output)")
  }

  /// A node without the dataset: rank 1 runs in a directory where the
  /// relative path does not exist. The job stops before training, and rank 0
  /// reports rank 1's error once.
  @Test(.enabled(if: Fixtures.hasSharedData, Fixtures.sharedDataMissing)) func aDatasetMissingOnOneRankOnlyStopsTheJob() throws {
    let config = Fixtures.runFile("""
      model = "churn-mlp"
      dataset = "data/churn.h5"
      epochs = 1
      """)
    let good = (config as NSString).deletingLastPathComponent
    try FileManager.default.createDirectory(atPath: good + "/data", withIntermediateDirectories: true)
    try FileManager.default.copyItem(atPath: try Fixtures.churn, toPath: good + "/data/churn.h5")
    let empty = Fixtures.directory.appendingPathComponent(UUID().uuidString).path
    try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
    let bin = TandemProcess.binary.path
    let run = try TandemProcess.run([], ranks: nil, timeout: 60, environment: [:], directory: nil,
                                    executable: "/usr/bin/env",
                                    arguments: ["mpirun", "-np", "1", "-wdir", good, bin, "train", "--config", config, ":",
                                                "-np", "1", "-wdir", empty, bin, "train", "--config", config])
    #expect(run.status == 1, "\(run)")
    #expect(run.stderr.contains("tandem: rank 1: data/churn.h5"), "\(run)")
    #expect(tandemLines(run.stderr).count == 1, "\(run)")
  }
}
