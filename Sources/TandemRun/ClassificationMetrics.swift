import TandemTensor

/// Metrics of a binary classifier over a set of samples, each counted once.
///
/// `scores` are the predicted probabilities of the positive class (label 1);
/// a sample is predicted positive when its score is at least `threshold`.
public struct ClassificationMetrics: Codable, Sendable, Equatable {
  public var count: Int
  public var loss: Double
  public var threshold: Double
  public var accuracy: Double
  public var rocAUC: Double
  public var precision: Double
  public var recall: Double
  public var f1: Double
  /// `[[trueNegatives, falsePositives], [falseNegatives, truePositives]]`:
  /// rows are the true class, columns the predicted one.
  public var confusion: [[Int]]
  /// True negatives over all negatives (healthy children not flagged, for pneumonia).
  public var specificity: Double {
    let negatives = confusion[0][0] + confusion[0][1]
    return negatives == 0 ? 0 : Double(confusion[0][0]) / Double(negatives)
  }

  public init(scores: [Float], labels: [Int32], loss: Double, threshold: Double = 0.5) {
    invariant(scores.count == labels.count, "metrics: \(scores.count) scores for \(labels.count) labels")
    var tp = 0, fp = 0, tn = 0, fn = 0
    for (s, y) in zip(scores, labels) {
      let predicted = Double(s) >= threshold
      switch (predicted, y == 1) {
      case (true, true): tp += 1
      case (true, false): fp += 1
      case (false, false): tn += 1
      case (false, true): fn += 1
      }
    }
    count = scores.count
    self.loss = loss
    self.threshold = threshold
    accuracy = count == 0 ? 0 : Double(tp + tn) / Double(count)
    precision = tp + fp == 0 ? 0 : Double(tp) / Double(tp + fp)
    recall = tp + fn == 0 ? 0 : Double(tp) / Double(tp + fn)
    f1 = precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall)
    confusion = [[tn, fp], [fn, tp]]
    rocAUC = Self.rocAUC(scores: scores, labels: labels)
  }

  /// The probability that a random positive scores above a random negative,
  /// ties counting one half (the Mann–Whitney statistic), from ranks of the
  /// sorted scores. 0.5 when either class is absent.
  public static func rocAUC(scores: [Float], labels: [Int32]) -> Double {
    let positives = labels.filter { $0 == 1 }.count, negatives = labels.count - positives
    guard positives > 0, negatives > 0 else { return 0.5 }
    let order = scores.indices.sorted { scores[$0] < scores[$1] }
    var rankSum = 0.0
    var i = 0
    while i < order.count {
      var j = i
      while j + 1 < order.count && scores[order[j + 1]] == scores[order[i]] { j += 1 }
      let averageRank = Double(i + j) / 2 + 1   // 1-based ranks, ties share their mean
      for k in i...j where labels[order[k]] == 1 { rankSum += averageRank }
      i = j + 1
    }
    let u = rankSum - Double(positives) * Double(positives + 1) / 2
    return u / (Double(positives) * Double(negatives))
  }

  /// Points of the ROC curve, `(falsePositiveRate, truePositiveRate, threshold)`,
  /// one per distinct score from the highest down.
  public static func rocCurve(scores: [Float], labels: [Int32]) -> [(fpr: Double, tpr: Double, threshold: Float)] {
    let positives = Double(labels.filter { $0 == 1 }.count), negatives = Double(labels.count) - positives
    guard positives > 0, negatives > 0 else { return [] }
    let order = scores.indices.sorted { scores[$0] > scores[$1] }
    var tp = 0.0, fp = 0.0
    var points: [(Double, Double, Float)] = [(0, 0, .infinity)]
    var i = 0
    while i < order.count {
      let s = scores[order[i]]
      while i < order.count && scores[order[i]] == s {
        if labels[order[i]] == 1 { tp += 1 } else { fp += 1 }
        i += 1
      }
      points.append((fp / negatives, tp / positives, s))
    }
    return points
  }
}

/// A model version's metrics on data seen in production (scored now, or
/// joined from the audit log with outcomes known later).
public struct LiveMetric: Codable, Sendable, Equatable {
  /// The samples it was measured on.
  public var count: Int
  public var accuracy, recall, rocAUC: Double

  public init(count: Int, accuracy: Double, recall: Double, rocAUC: Double) {
    self.count = count
    self.accuracy = accuracy
    self.recall = recall
    self.rocAUC = rocAUC
  }
}
