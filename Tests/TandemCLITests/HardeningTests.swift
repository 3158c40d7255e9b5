import Foundation
import Testing
import TandemTestSupport

extension MPIJobTests {
  /// A learning rate of 1e20 makes the gradients overflow to inf and NaN:
  /// the exact reduction used to trap converting them to fixed point. Now the
  /// job stops with the divergence message and exit 1, on either reduction.
  @Test(arguments: ["exact", "float"])
  func aDivergingRunStopsWithTheDivergenceMessage(reduction: String) throws {
    let (run, _, _) = try train("""
      model = "churn-mlp"
      dataset = "\(Reproducibility.churn)"
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
  /// copies would): refused before the first step, one line naming the rank and
  /// the key, where rank 1 used to crash in a broadcast with a garbage root.
  @Test func ranksWithDifferentRunFilesAreRefusedNamingTheKey() throws {
    let base = """
      model = "churn-mlp"
      dataset = "\(Reproducibility.churn)"
      output = "runs"
      """
    let one = Fixtures.runFile(base + "\nepochs = 1\n")
    let two = (one as NSString).deletingLastPathComponent + "/other.toml"
    try (base + "\nepochs = 2\n").write(toFile: two, atomically: true, encoding: .utf8)
    let binary = TandemProcess.binary.path
    let run = try TandemProcess.run([], timeout: 120, environment: ["TANDEM_PROGRESS": "plain"],
                                    directory: URL(fileURLWithPath: (one as NSString).deletingLastPathComponent),
                                    executable: "/usr/bin/env",
                                    arguments: ["mpirun", "--oversubscribe", "-np", "1", binary, "train", "--config", one,
                                                ":", "-np", "1", binary, "train", "--config", two])
    #expect(run.status == 1, "\(run)")
    #expect(tandemLines(run.stderr) == ["tandem: rank 1: run file: 'epochs' is 2 here but 1 on rank 0; every rank must train the same run"],
            "\(run)")
    let runs = (one as NSString).deletingLastPathComponent + "/runs"
    #expect((try? FileManager.default.contentsOfDirectory(atPath: runs))?.isEmpty ?? true, "nothing may be trained")
  }
}
