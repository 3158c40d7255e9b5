import Foundation
import Testing
import TandemStore
import TandemTestSupport
import TandemRun
import TandemTraining

/// A small X-ray run: the bundled 240 images at 32 x 32, 4 epochs of 11 steps.
enum SmallXray {
  static var dataset: String { get throws { try ingested.get() } }
  private static let ingested = Result {
    try Fixtures.ingest(["ingest", "images", TandemProcess.packageRoot.appendingPathComponent("Data/sample/chest-xray").path,
                         "--size", "32"], name: "xray-small.h5")
  }

  static var toml: String { get throws { try """
    model = "xray-cnn"
    dataset = "\(dataset)"
    seed = 4
    epochs = 4
    [training]
    global_batch = 16
    checkpoint_every = 3
    """ } }
}

func bits(_ directory: String) throws -> [[UInt32]] {
  try finalParameters(directory).map { $0.value.scalars.map(\.bitPattern) }
}

/// The newest run directory a (killed) job left next to its run file.
func newestRun(besides config: String) throws -> String {
  let runs = (config as NSString).deletingLastPathComponent + "/runs"
  return runs + "/" + (try FileManager.default.contentsOfDirectory(atPath: runs)).sorted().last!
}

/// `tandem train --resume RUN` from the run file's directory (relative paths
/// in a run file, such as the store, are relative to the working directory).
func resume(_ run: String, config: String, ranks: Int, environment: [String: String] = [:]) throws -> TandemProcess.Output {
  try TandemProcess.run(["train", "--resume", run], ranks: ranks, timeout: 120,
                        environment: environment.merging(["TANDEM_PROGRESS": "plain"]) { a, _ in a },
                        directory: URL(fileURLWithPath: (config as NSString).deletingLastPathComponent))
}

extension MPIJobTests {
  /// SIGKILL a rank at several steps after the first checkpoint, resume (on 2
  /// ranks, and on 1), and the final parameters are bitwise those of a run that
  /// was never interrupted.
  @Test func aKilledRunResumedFromItsCheckpointEndsBitwiseIdentical() throws {
    let reference = try train(try SmallXray.toml, ranks: 2)
    #expect(reference.output.status == 0, "\(reference.output)")
    let expected = try bits(try #require(reference.directory))
    var rng = SystemRandomNumberGenerator()
    let killSteps = [4, 11, Int.random(in: 5...40, using: &rng), Int.random(in: 5...40, using: &rng)]
    for (k, killStep) in killSteps.enumerated() {
      let killed = try train(try SmallXray.toml, ranks: 2, timeout: 120, environment: ["TANDEM_FAULT": "kill:rank=\(k % 2):step=\(killStep)"])
      #expect(killed.output.status != 0, "kill at \(killStep): \(killed.output)")
      let directory = try newestRun(besides: killed.config)
      #expect(!(try CheckpointDirectory(run: directory).files()).isEmpty)
      let resumed = try resume(directory, config: killed.config, ranks: k % 2 == 0 ? 2 : 1)
      #expect(resumed.status == 0, "resume after kill at \(killStep): \(resumed)")
      #expect(resumed.stdout.contains("resuming "), "\(resumed)")
      #expect(try bits(directory) == expected, "kill at step \(killStep), resumed on \(k % 2 == 0 ? 2 : 1) rank(s)")
      // The registry row the killed run started is the one the resumed run finished.
      let store = try Store(root: (killed.config as NSString).deletingLastPathComponent + "/store", create: false)
      let row = try #require(try store.registry.run(id: (directory as NSString).lastPathComponent))
      #expect(row.status == .finished && row.epochs.map(\.epoch) == [1, 2, 3, 4], "\(row)")
      #expect(row.parametersSHA256 == (try parametersSHA256(file: directory + "/model.h5")))
      #expect(try store.registry.runs().count == 1)
    }
  }

  /// A damaged newest checkpoint is skipped with a warning; the run resumes
  /// from the one before and still ends bitwise identical.
  @Test func aTruncatedNewestCheckpointFallsBackToThePreviousOne() throws {
    let reference = try train(try SmallXray.toml, ranks: 1)
    let expected = try bits(try #require(reference.directory))
    let killed = try train(try SmallXray.toml, ranks: 2, timeout: 120, environment: ["TANDEM_FAULT": "kill:rank=0:step=20"])
    #expect(killed.output.status != 0)
    let directory = try newestRun(besides: killed.config)
    let files = try CheckpointDirectory(run: directory).files()
    #expect(files.count >= 2)
    let newest = files.last!
    let handle = try #require(FileHandle(forUpdatingAtPath: newest))
    try handle.truncate(atOffset: try handle.seekToEnd() / 2)
    try handle.close()
    let resumed = try resume(directory, config: killed.config, ranks: 2)
    #expect(resumed.status == 0, "\(resumed)")
    #expect(resumed.stdout.contains("warning: skipping \(newest)"), "\(resumed)")
    #expect(try bits(directory) == expected)
  }

  /// A file-size limit hit while writing a checkpoint (as a full disk would):
  /// a clear error naming the file, a non-zero exit, the earlier checkpoints
  /// whole, no temporary file left, and the registry row marked failed.
  @Test func aFullDiskDuringACheckpointLeavesEarlierOnesIntact() throws {
    // After step 7, rank 0 may write no file beyond 800 KiB: the checkpoint
    // of step 8 (parameters and momentum of xray-cnn, about 850 KB) cannot be
    // written; the registry and metrics files stay far below the limit.
    let toml = try SmallXray.toml.replacingOccurrences(of: "checkpoint_every = 3", with: "checkpoint_every = 2")
    let (run, _, config) = try train(toml, ranks: 2, timeout: 120, environment: ["TANDEM_FAULT": "filesize:rank=0:step=7:kib=800"])
    let directory = try newestRun(besides: config)
    #expect(run.status != 0, "\(run)")
    let lines = tandemLines(run.stderr)
    #expect(lines.count == 1 && lines[0].contains("checkpoints/step-00000008.h5") && lines[0].contains("the disk is full"), "\(run)")
    let after = try CheckpointDirectory(run: directory).files()
    #expect(after.map { ($0 as NSString).lastPathComponent } == ["step-00000002.h5", "step-00000004.h5", "step-00000006.h5"])
    for file in after { _ = try Checkpoint(contentsOf: file) }
    let leftovers = try FileManager.default.contentsOfDirectory(atPath: directory + "/checkpoints").filter { !$0.hasPrefix("step-") }
    #expect(leftovers.isEmpty, "temporary files left: \(leftovers)")
    let store = try Store(root: (config as NSString).deletingLastPathComponent + "/store", create: false)
    let row = try #require(try store.registry.run(id: (directory as NSString).lastPathComponent))
    #expect(row.status.description.hasPrefix("failed: ") && row.status.description.contains("step-00000008.h5"), "\(row.status)")
    #expect(try store.registry.integrityCheck() == "ok")
    // With room again, the run goes on from the newest of them.
    let resumed = try resume(directory, config: config, ranks: 2)
    #expect(resumed.status == 0 && resumed.stdout.contains("(global step 6)"), "\(resumed)")
    #expect(try store.registry.run(id: (directory as NSString).lastPathComponent)?.status == .finished)
  }
}

extension MPIJobTests {
  /// SIGTERM (what Slurm sends on preemption and at the time limit) reaching
  /// one rank only: every rank stops after the same step, rank 0 writes a
  /// checkpoint of it, the run is recorded as preempted, the job exits 75 in
  /// one line; resumed on one rank it ends bitwise identical to a run never
  /// stopped, and its row finishes.
  @Test func aSIGTERMedRunCheckpointsExits75AndResumesBitwiseIdentical() throws {
    let reference = try train(try SmallXray.toml, ranks: 1)
    #expect(reference.output.status == 0, "\(reference.output)")
    let expected = try bits(try #require(reference.directory))
    let stopped = try train(try SmallXray.toml, ranks: 2, timeout: 120, environment: ["TANDEM_FAULT": "term:rank=1:step=7", "TANDEM_HEARTBEAT_SECONDS": "0.02"])
    #expect(stopped.output.status == 75, "\(stopped.output)")
    let lines = tandemLines(stopped.output.stderr).filter { !$0.contains("stopping after this step") }
    #expect(lines.count == 1 && lines[0].contains("stopped by SIGTERM at epoch") && lines[0].contains("tandem train --resume"),
            "\(stopped.output)")
    let directory = try newestRun(besides: stopped.config)
    // The stop's own checkpoint: after the 8th step (the signal is sent as
    // it starts) or the 9th, where checkpoint_every = 3 would write none.
    let newest = try #require(try CheckpointDirectory(run: directory).files().last)
    #expect(["step-00000008.h5", "step-00000009.h5"].contains((newest as NSString).lastPathComponent), "\(newest)")
    let store = try Store(root: (stopped.config as NSString).deletingLastPathComponent + "/store", create: false)
    let id = (directory as NSString).lastPathComponent
    #expect(try store.registry.run(id: id)?.status.description.hasPrefix("preempted: stopped by SIGTERM") == true)
    // Rank 0 beat while it ran (a crashed run is told apart by its silence).
    let row = try #require(try store.registry.run(id: id))
    #expect(row.heartbeatAt > row.startedAt, "\(row.heartbeatAt) \(row.startedAt)")
    let resumed = try resume(directory, config: stopped.config, ranks: 1)
    #expect(resumed.status == 0 && resumed.stdout.contains("resuming "), "\(resumed)")
    #expect(try bits(directory) == expected)
    #expect(try store.registry.run(id: id)?.status == .finished)
  }

  /// `tandem train ... | head -n 1`: the reader goes away after one line and
  /// the training still runs to its end and exits 0.
  @Test func aClosedStandardOutputIsNotATrainingFailure() throws {
    let config = Fixtures.runFile(try SmallXray.toml)
    let folder = (config as NSString).deletingLastPathComponent
    let script = "'\(TandemProcess.binary.path)' train --config '\(config)' | head -n 1; echo \"${PIPESTATUS[0]}\" > status"
    let run = try TandemProcess.run([], timeout: 120, environment: ["TANDEM_PROGRESS": "plain"],
                                    directory: URL(fileURLWithPath: folder), executable: "/bin/bash", arguments: ["-c", script])
    #expect(run.stdout.split(separator: "\n").count == 1, "\(run)")
    let status = try String(contentsOfFile: folder + "/status", encoding: .utf8)
    #expect(status.trimmingCharacters(in: .whitespacesAndNewlines) == "0", "\(run)")
    let directory = try newestRun(besides: config)
    #expect(FileManager.default.fileExists(atPath: directory + "/model.h5"))
  }
}
