import Foundation
import Testing
import TandemData
import TandemTestSupport
import TandemRun

extension MPIJobTests {
  /// `selection = "best-auc"` keeps the epoch with the best validation AUC as
  /// model.h5, and `patience` ends the run once that many epochs bring no
  /// better one. An evaluation with `--shifts` then scores the split under
  /// every acquisition shift, at the threshold tuned without them.
  @Test func theBestEpochIsTheModelAndPatienceStopsTheRun() throws {
    let run = try train("""
      model = "xray-cnn"
      dataset = "\(try SmallXray.dataset)"
      store = ""
      seed = 3
      epochs = 8
      [training]
      global_batch = 16
      learning_rate = 0.03
      schedule = "cosine"
      warmup_epochs = 1
      selection = "best-auc"
      patience = 2
      [augmentation]
      shift = 0.1
      contrast = 0.3
      sharpness = 1
      low_resolution = 0.5
      """, ranks: 2)
    #expect(run.output.status == 0, "\(run.output)")
    let directory = try #require(run.directory)
    let summary = try JSONDecoder().decode(RunSummary.self, from: Data(contentsOf: URL(fileURLWithPath: RunSummary.path(run: directory))))
    let selected = try #require(summary.selectedEpoch)
    #expect(selected == ModelSelection.bestEpoch(summary.validation))
    if let why = summary.stoppedEarly {
      #expect(why.contains("2 epoch(s)") && summary.validation.count - selected == 2 && summary.validation.count < 8, "\(summary)")
    } else {
      #expect(summary.validation.count == 8 && summary.validation.count - selected < 2, "\(summary)")
    }
    let model = try finalParameters(directory), best = try ParameterFile.read(directory + "/best-model.h5")
    #expect(model.map(\.name) == best.map(\.name))
    #expect(zip(model, best).allSatisfy { $0.value.scalars.map(\.bitPattern) == $1.value.scalars.map(\.bitPattern) })
    #expect(run.output.stdout.contains("model: epoch \(selected), the best validation AUC"))

    let evaluated = try TandemProcess.run(["evaluate", directory, "--split", "val", "--shifts", "--no-register"])
    #expect(evaluated.status == 0, "\(evaluated)")
    let evaluation = try Evaluation.read(Evaluation.path(run: directory, split: .validation))
    let shifts = try #require(evaluation.shifts)
    #expect(shifts.map(\.shift) == ImageTransform.shifts.map(\.name))
    #expect(shifts.allSatisfy { (0...1).contains($0.accuracy) && (0...1).contains($0.specificity) })
    #expect(try #require(evaluation.temperature) > 0 && evaluated.stdout.contains("shift half-resolution"))
  }

  @Test func shiftsAreRefusedForATable() throws {
    let run = try train("""
      model = "churn-logreg"
      dataset = "\(try Reproducibility.churn)"
      store = ""
      epochs = 1
      [training]
      max_steps = 2
      """, ranks: 1)
    let directory = try #require(run.directory, "\(run.output)")
    let evaluated = try TandemProcess.run(["evaluate", directory, "--shifts", "--no-register"])
    #expect(evaluated.status == 1 && evaluated.stderr.contains("acquisition shifts apply to images"), "\(evaluated)")
  }
}

extension MPIJobTests {
  /// The full-batch solver: the same bits on 1, 2 and 3 ranks (gradients and
  /// loss summed exactly), and on the Telco data the quality of a converged
  /// logistic regression (scikit-learn's lbfgs: test AUC 0.8426 on this split).
  @Test(.enabled(if: Fixtures.hasSharedData, Fixtures.sharedDataMissing))
  func lbfgsFitsTheSameBitsOnAnyRankCountAndReachesTheOptimum() throws {
    let toml = """
      model = "churn-logreg"
      dataset = "\(try Fixtures.churn)"
      store = ""
      epochs = 1
      [training]
      solver = "lbfgs"
      """
    var hashes: [String] = []
    var directory = ""
    for ranks in [1, 2, 3] {
      let run = try train(toml, ranks: ranks)
      #expect(run.output.status == 0, "\(run.output)")
      directory = try #require(run.directory)
      #expect(run.output.stdout.contains("converged"), "\(run.output.stdout)")
      hashes.append(try parametersSHA256(file: directory + "/model.h5"))
    }
    #expect(Set(hashes).count == 1, "\(hashes)")
    let evaluated = try TandemProcess.run(["evaluate", directory, "--split", "test", "--no-register"])
    let auc = try #require(evaluated.stdout.firstMatch(of: /ROC AUC ([0-9.]+)/).flatMap { Double($0.1) }, "\(evaluated)")
    #expect(auc > 0.84, "test AUC \(auc)")
  }
}
