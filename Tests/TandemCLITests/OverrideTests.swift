import Foundation
import Testing
import TandemTestSupport

/// Run-file settings from the command line: `--set KEY=VALUE` and the flags
/// with a run-file key are laid over the file and recorded; a flag that
/// would change nothing is a usage error, never silence.
extension MPIJobTests {
  @Test func commandLineOverridesAreTrainedWithAndRecorded() throws {
    let toml = """
      model = "churn-logreg"
      dataset = "\(try Reproducibility.churn)"
      epochs = 1
      [training]
      global_batch = 64
      """
    let config = Fixtures.runFile(toml)
    let folder = URL(fileURLWithPath: (config as NSString).deletingLastPathComponent)
    let run = try TandemProcess.run(["train", "--config", config, "--seed", "7", "--set", "training.schedule=cosine",
                                     "--set", "training.momentum=0.5", "--steps", "9"],
                                    ranks: 1, timeout: 120, environment: ["TANDEM_PROGRESS": "plain"], directory: folder)
    #expect(run.status == 0, "\(run)")
    #expect(run.stdout.contains("seed 7") && run.stdout.contains("done: 9 steps"), "\(run)")
    let directory = try newestRun(besides: config)
    let recorded = try String(contentsOfFile: directory + "/config.toml", encoding: .utf8)
    for line in ["seed = 7", "schedule = 'cosine'", "momentum = 0.5", "max_steps = 9", "--set training.schedule=cosine"] {
      #expect(recorded.contains(line) || recorded.contains(line.replacingOccurrences(of: "'", with: "\"")), "\(line) in\n\(recorded)")
    }

    let typo = try TandemProcess.run(["train", "--config", config, "--set", "training.learning_rat=0.1"],
                                     ranks: 1, timeout: 60, directory: folder)
    #expect(typo.status == 1 && typo.stderr.contains("--set training.learning_rat=0.1")
            && typo.stderr.contains("unknown key [training] 'learning_rat' (did you mean 'learning_rate'?)"), "\(typo)")
    let badValue = try TandemProcess.run(["train", "--config", config, "--set", "training.global_batch=many"],
                                         ranks: 1, timeout: 60, directory: folder)
    #expect(badValue.status == 1 && badValue.stderr.contains("training.global_batch"), "\(badValue)")

    for (arguments, message) in [
      (["train", "--config", config, "--synthetic", "10"], "--synthetic applies to generated data (--architecture NAME) only"),
      (["train", "--resume", directory, "--seed", "3"], "a resumed run keeps the settings it started with; --set seed=3 would change them"),
      (["train", "--architecture", "churn-mlp", "--set", "seed=2"], "--set applies to a run file (--config FILE) only"),
    ] {
      let refused = try TandemProcess.run(arguments, timeout: 60, directory: folder)
      #expect(refused.status == 64 && refused.stderr.contains(message), "\(arguments): \(refused)")
    }
  }
}
