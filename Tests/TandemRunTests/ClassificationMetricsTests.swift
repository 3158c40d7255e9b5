import Testing
import TandemRun

@Test func metricsAtAThresholdCountTheConfusionMatrix() {
  let scores: [Float] = [0.9, 0.8, 0.4, 0.3, 0.6, 0.1]
  let labels: [Int32] = [1, 1, 1, 0, 0, 0]
  let m = ClassificationMetrics(scores: scores, labels: labels, loss: 0.5)
  #expect(m.confusion == [[2, 1], [1, 2]])
  #expect(m.accuracy == 4.0 / 6)
  #expect(m.precision == 2.0 / 3 && m.recall == 2.0 / 3)
  let strict = ClassificationMetrics(scores: scores, labels: labels, loss: 0.5, threshold: 0.35)
  #expect(strict.recall == 1 && strict.confusion == [[2, 1], [0, 3]])
}

@Test func rocAUCIsTheMannWhitneyStatisticWithTies() {
  // Positives 0.9 and 0.8 beat all three negatives; 0.4 beats 0.3 and 0.1 but
  // not 0.6: (3 + 3 + 2) / 9.
  #expect(ClassificationMetrics.rocAUC(scores: [0.9, 0.8, 0.4, 0.3, 0.6, 0.1], labels: [1, 1, 1, 0, 0, 0]) == 8.0 / 9)
  #expect(ClassificationMetrics.rocAUC(scores: [0.5, 0.5], labels: [1, 0]) == 0.5)
  #expect(ClassificationMetrics.rocAUC(scores: [0.2, 0.7], labels: [1, 0]) == 0)
  #expect(ClassificationMetrics.rocAUC(scores: [0.2, 0.7], labels: [1, 1]) == 0.5)
}

@Test func rocCurveRunsFromOriginToOneOne() {
  let curve = ClassificationMetrics.rocCurve(scores: [0.9, 0.8, 0.4, 0.3, 0.6, 0.1], labels: [1, 1, 1, 0, 0, 0])
  #expect(curve.first!.fpr == 0 && curve.first!.tpr == 0)
  #expect(curve.last!.fpr == 1 && curve.last!.tpr == 1)
  // Trapezoid area equals the rank statistic.
  var area = 0.0
  for (a, b) in zip(curve, curve.dropFirst()) { area += (b.fpr - a.fpr) * (a.tpr + b.tpr) / 2 }
  #expect(abs(area - 8.0 / 9) < 1e-12)
}
