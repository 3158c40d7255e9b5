import Foundation
import Testing
import TandemRun
import TandemTensor

struct EvaluationTests {
  /// 95 of 100: the Wilson 95 % interval is [0.8883, 0.9785].
  @Test func wilsonLowerBoundMatchesTheFormula() {
    #expect(abs(ThresholdPolicy.wilsonLowerBound(successes: 95, trials: 100) - 0.8883) < 1e-4)
    #expect(ThresholdPolicy.wilsonLowerBound(successes: 0, trials: 0) == 0)
    #expect(ThresholdPolicy.wilsonLowerBound(successes: 1000, trials: 1000) > 0.996)
  }

  /// 1,000 positives scored 0.001 ... 1.0 and 1,000 negatives below 0.5: the
  /// tuned threshold keeps enough positives that the bound reaches 0.9, so
  /// the recall at it is a little above 0.9, never below.
  @Test func targetRecallKeepsAMarginAboveTheTarget() {
    let positives = (1...1000).map { Float($0) / 1000 }
    let negatives = (0..<1000).map { Float($0) / 2000 }
    let scores = positives + negatives
    let labels = [Int32](repeating: 1, count: 1000) + [Int32](repeating: 0, count: 1000)
    let t = ThresholdPolicy.targetRecall(0.9).choose(scores: scores, labels: labels)
    let recall = Double(positives.filter { Double($0) >= t }.count) / 1000
    #expect(recall >= 0.9 && recall < 0.93, "threshold \(t), recall \(recall)")
    #expect(ThresholdPolicy.wilsonLowerBound(successes: Int(recall * 1000), trials: 1000) >= 0.9)
    // One step higher would fail the bound.
    #expect(ThresholdPolicy.wilsonLowerBound(successes: Int(recall * 1000) - 1, trials: 1000) < 0.9)
  }

  @Test func bestAccuracyFindsTheSeparatingThreshold() {
    let scores: [Float] = [0.1, 0.2, 0.35, 0.4, 0.6, 0.7, 0.9]
    let labels: [Int32] = [0, 0, 0, 1, 1, 1, 1]
    #expect(ThresholdPolicy.bestAccuracy.choose(scores: scores, labels: labels) == Double(Float(0.4)))
  }

  @Test func anEvaluationHasItsThresholdInTheTableAndCalibrationCountsEverySample() {
    let scores: [Float] = (0..<200).map { Float($0) / 200 }
    let labels: [Int32] = (0..<200).map { $0 % 3 == 0 || $0 > 150 ? 1 : 0 }
    let e = Evaluation(run: "r", model: "churn-mlp", task: .churn, split: .test, datasetSHA256: "", classNames: ["No", "Yes"],
                       policy: .fixed(0.42), validationScores: scores, validationLabels: labels,
                       scores: scores, labels: labels, loss: 0)
    #expect(e.threshold == 0.42 && e.thresholdTable.contains { $0.threshold == 0.42 })
    #expect(e.calibration.map(\.count).reduce(0, +) == 200)
    #expect(e.roc.first?.fpr == 0 && e.roc.last?.tpr == 1)
    #expect(e.falseNegatives == e.metrics.confusion[1][0])
  }
}

/// Scores made over-confident by a known temperature are brought back: the
/// fit finds it, and calibration improves.
@Test func temperatureScalingRecoversAKnownTemperature() {
  var rng = SeededGenerator(seed: 3)
  var scores: [Float] = [], labels: [Int32] = []
  for _ in 0..<4000 {
    let z = 3 * rng.nextNormal()                       // a calibrated logit
    let y: Int32 = rng.nextUniform() < 1 / (1 + PortableMath.exp(-z)) ? 1 : 0
    scores.append(Float(1 / (1 + PortableMath.exp(-2.5 * z))))  // reported 2.5 times too sure
    labels.append(y)
  }
  let t = Evaluation.fitTemperature(scores: scores, labels: labels)
  #expect(abs(t - 2.5) < 0.25, "fitted \(t)")
  let calibrated = scores.map { Evaluation.scaled($0, temperature: t) }
  #expect(Evaluation.calibrationError(Evaluation.calibrationBins(scores: calibrated, labels: labels))
          < Evaluation.calibrationError(Evaluation.calibrationBins(scores: scores, labels: labels)) / 2)
}
