import Foundation
import TandemData
import TandemStore
import TandemRun
import TandemScoring

/// Compares new data with the data a registered model version was trained on.
public enum Monitor {
  /// The reference is the training split of the snapshot the version's run
  /// started from, read from the store (its content hash checked). With
  /// labels in the new data, the version is also scored on it (`score`) and
  /// its live metrics checked for decay against its own test metrics.
  public static func check(store: Store, model name: String, version: Int? = nil, data path: String,
                           thresholds: MonitorThresholds) throws -> DriftReport {
    let registered = try store.registry.modelVersion(name: name, version: version)
    let manifest = try store.snapshot(id: registered.snapshotID)
    let configuration = try RunConfiguration(toml: manifest.configTOML, file: "snapshot \(registered.snapshotID.prefix(12))")
    let referencePath = try store.verifiedDataset(sha256: manifest.datasetSHA256)
    let reference = try DatasetReader(path: referencePath)
    let new = try DatasetReader(path: path)
    // A NaN or infinity would make every statistic of its column meaningless
    // (an infinite mean still bins as "no drift"): refuse it by position.
    if let (row, column) = try new.firstNonFiniteFeature() {
      throw DataError(path: path, message: "/features[\(row), \(column)] is not finite: no drift can be measured against it")
    }
    let trainSplit = configuration.training.trainSplit
    let referenceSample = try DriftSample(reader: reference, indices: reference.indices(in: trainSplit))
    let newSample = try DriftSample(reader: new)
    let features = try DriftAnalysis.features(reference: referenceSample, new: newSample)

    var reasons: [String] = []
    for f in features where f.psi > thresholds.psi {
      reasons.append(String(format: "%@ drifted: PSI %.3f > %.3f (%@)", f.name, f.psi, thresholds.psi, f.detail))
    }
    var shift: DriftReport.LabelShift?
    if let r = referenceSample.positiveRate, let n = newSample.positiveRate {
      shift = .init(referenceRate: r, newRate: n)
      if shift!.difference > thresholds.labelShift {
        reasons.append(String(format: "positive rate moved %.3f -> %.3f (more than %.3f)", r, n, thresholds.labelShift))
      }
    }
    var live: DriftReport.LiveMetric?
    if new.kind == reference.kind, new.primaryLabels.contains(where: { $0 >= 0 }) {
      let m = try VersionScoring.metrics(store: store, version: registered, data: path, indices: Array(0..<new.count))
      if m.count > 0 {
        live = .init(count: m.count, accuracy: m.accuracy, recall: m.recall, rocAUC: m.rocAUC)
        reasons += decay(live!, of: registered, drop: thresholds.metricDrop, source: "")
      }
    }
    return DriftReport(model: name, version: registered.version, reference: referencePath, data: path,
                       referenceCount: referenceSample.count, newCount: newSample.count, features: features,
                       labelShift: shift, live: live, psiThreshold: thresholds.psi,
                       labelShiftThreshold: thresholds.labelShift, reasons: reasons)
  }

  /// Why `live` counts as decay: a metric the version's gates watch, more
  /// than `drop` below the version's own test value. Judged against the
  /// version rather than the gate, so a month merely a little harder than
  /// the test split is not a reason to retrain.
  public static func decay(_ live: DriftReport.LiveMetric, of version: ModelVersion, drop: Double, source: String) -> [String] {
    let gates = version.gates, evaluated = version.metrics
    let checks: [(String, Double?, Double, Double)] = [
      ("ROC AUC", gates.minAUC, live.rocAUC, evaluated.rocAUC), ("accuracy", gates.minAccuracy, live.accuracy, evaluated.accuracy),
      ("recall", gates.minRecall, live.recall, evaluated.recall),
    ]
    return checks.filter { $0.1 != nil && $0.2 < $0.3 - drop }.map { metric, _, value, before in
      String(format: "live %@ %.4f%@ is more than %.3f below its %.4f on %@", metric, value, source, drop, before, evaluated.split.description)
    }
  }
}
