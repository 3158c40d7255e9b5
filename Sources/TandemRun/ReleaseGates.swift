import Foundation
import TandemData

/// The quality gates a model version must pass to be promoted, and how far
/// below the production version it may fall on each gated metric.
public struct QualityGates: Codable, Equatable, Sendable {
  public var minRecall: Double?
  public var minAccuracy: Double?
  public var minAUC: Double?
  public var tolerance: Double

  public init(minRecall: Double? = nil, minAccuracy: Double? = nil, minAUC: Double? = nil, tolerance: Double = 0.01) {
    self.minRecall = minRecall
    self.minAccuracy = minAccuracy
    self.minAUC = minAUC
    self.tolerance = tolerance
  }

  /// Why `metrics` fail the gates, or, with a production version, fall more
  /// than `tolerance` below it on a gated metric; empty when they pass.
  ///
  /// The comparison with production uses production's scores on the
  /// candidate's own evaluation split when `tandem evaluate` measured them
  /// (`metrics.champion`, for that production version): two test splits of
  /// different months are not comparable. Otherwise production's own metrics.
  public func failures(_ metrics: GatedMetrics, production: (version: Int, metrics: GatedMetrics)?) -> [String] {
    var reasons: [String] = []
    var current = production?.metrics
    var against = "production's"
    if let production, let champion = metrics.champion, champion.version == production.version {
      current = GatedMetrics(split: metrics.split, accuracy: champion.accuracy, recall: champion.recall, precision: 0, f1: 0,
                             rocAUC: champion.rocAUC, falseNegatives: 0)
      against = "production's (version \(production.version), same \(metrics.split) samples)"
    }
    let gated: [(String, Double?, Double, Double?)] = [
      ("recall", minRecall, metrics.recall, current?.recall),
      ("accuracy", minAccuracy, metrics.accuracy, current?.accuracy),
      ("ROC AUC", minAUC, metrics.rocAUC, current?.rocAUC),
    ]
    for (name, minimum, value, current) in gated where minimum != nil {
      if value < minimum! {
        reasons.append(String(format: "%@ %.4f is below the gate %.4f", name, value, minimum!))
      }
      if let current, value < current - tolerance {
        reasons.append(String(format: "%@ %.4f is worse than %@ %.4f by more than %.4f", name, value, against, current, tolerance))
      }
    }
    return reasons
  }
}

/// The metrics a version was evaluated with (on the test split), as gated.
public struct GatedMetrics: Codable, Equatable, Sendable {
  public var split: Split
  public var accuracy, recall, precision, f1, rocAUC: Double
  public var falseNegatives: Int
  /// The production version's metrics on the same samples, at its own threshold.
  public var champion: Champion?

  public struct Champion: Codable, Equatable, Sendable {
    public var version: Int
    public var accuracy: Double
    public var recall: Double
    public var rocAUC: Double

    public init(version: Int, accuracy: Double, recall: Double, rocAUC: Double) {
      self.version = version
      self.accuracy = accuracy
      self.recall = recall
      self.rocAUC = rocAUC
    }
  }

  public init(split: Split, accuracy: Double, recall: Double, precision: Double, f1: Double, rocAUC: Double, falseNegatives: Int,
              champion: Champion? = nil) {
    self.champion = champion
    self.split = split
    self.accuracy = accuracy
    self.recall = recall
    self.precision = precision
    self.f1 = f1
    self.rocAUC = rocAUC
    self.falseNegatives = falseNegatives
  }
}
