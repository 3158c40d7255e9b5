import Foundation
import TandemData
import TandemStore
import TandemTraining

/// Thresholds that make retraining due.
public struct MonitorThresholds: Codable, Sendable, Equatable {
  /// Any feature's PSI above this is drift.
  public var psi: Double
  /// An absolute change of the positive-class rate above this is drift.
  public var labelShift: Double
  /// With labels: a gated metric this far below the version's own evaluation is decay.
  public var metricDrop: Double

  public init(psi: Double = 0.2, labelShift: Double = 0.1, metricDrop: Double = 0.05) {
    self.psi = psi
    self.labelShift = labelShift
    self.metricDrop = metricDrop
  }
}

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
    let trainSplit = Split(name: configuration.training.trainSplit) ?? .train
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
      let m = try score(store: store, version: registered, data: path, indices: Array(0..<new.count))
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
      String(format: "live %@ %.4f%@ is more than %.3f below its %.4f on %@", metric, value, source, drop, before, evaluated.split)
    }
  }

  /// `registered`'s metrics on rows `indices` of the dataset at `path`, at its
  /// own threshold: how the production model does on a candidate's test split.
  public static func score(store: Store, version registered: ModelVersion, data path: String, indices: [Int]) throws
    -> ClassificationMetrics {
    let manifest = try store.snapshot(id: registered.snapshotID)
    let configuration = try RunConfiguration(toml: manifest.configTOML, file: "snapshot \(registered.snapshotID.prefix(12))")
    let reference = try DatasetReader(path: try store.datasetPath(sha256: manifest.datasetSHA256))
    let data = try DatasetReader(path: path)
    let trained = try TrainedModel(configuration: configuration, parametersFile: try store.verifiedModel(registered),
                                   runDirectory: registered.runDirectory)
    let labels = data.labels(trained.labelTask)
    let rows = indices.filter { labels[$0] >= 0 }
    let input = try normalisedInput(data, rows: rows, like: reference, path: path)
    let scores = try trained.scores(normalised: input, count: rows.count, batch: 256)
    return ClassificationMetrics(scores: scores, labels: rows.map { labels[$0] }, loss: 0, threshold: registered.threshold)
  }

  /// Rows of `data` as the model saw its training data: table features
  /// matched by name and standardised with the reference's statistics (a
  /// category the reference never saw is an error naming it), images scaled
  /// with the reference's pixel mean and deviation.
  public static func normalisedInput(_ data: DatasetReader, rows: [Int], like reference: DatasetReader, path: String) throws -> [Float] {
    switch data.kind {
    case .images:
      guard data.sampleShape == reference.sampleShape else {
        throw DataError(path: path, message: "images of shape \(data.sampleShape), but the model takes \(reference.sampleShape)")
      }
      let pixels = try data.rawImages(indices: rows)
      let scale = 1 / (255 * reference.std[0]), shift = -reference.mean[0] / reference.std[0]
      return pixels.map { Float($0) * scale + shift }
    case .table:
      let file = try HDF5File(readingAt: data.path)
      let names = try file.dataset("/feature_names").readStrings()
      let features = try file.dataset("/features").readAll(as: Float.self)
      let referenceNames = try HDF5File(readingAt: reference.path).dataset("/feature_names").readStrings()
      let position = Dictionary(uniqueKeysWithValues: referenceNames.enumerated().map { ($1, $0) })
      let d = names.count, rd = referenceNames.count
      var out = [Float](repeating: 0, count: rows.count * rd)
      var present = [Bool](repeating: false, count: rd)
      for (j, name) in names.enumerated() {
        guard let k = position[name] else {
          let used = rows.contains { features[$0 * d + j] != 0 }
          if used { throw DataError(path: path, message: "feature '\(name)' was not in the model's training data") }
          continue
        }
        present[k] = true
        for (b, r) in rows.enumerated() { out[b * rd + k] = features[r * d + j] }
      }
      if let missing = present.indices.first(where: { !present[$0] && !referenceNames[$0].contains("=") }) {
        throw DataError(path: path, message: "has no column '\(referenceNames[missing])', which the model needs")
      }
      for b in 0..<rows.count {
        for k in 0..<rd { out[b * rd + k] = (out[b * rd + k] - reference.mean[k]) / reference.std[k] }
      }
      return out
    }
  }
}
