import Foundation
import TandemData
import TandemRun
import TandemStore

/// A registered version scored on rows of a Tandem dataset, its inputs
/// prepared as its training data was: what the monitor's live metric and a
/// promotion's comparison with production both measure.
public enum VersionScoring {
  /// `registered`'s metrics on rows `indices` of the dataset at `path`, at its
  /// own threshold: how the production model does on a candidate's test split.
  public static func metrics(store: Store, version registered: ModelVersion, data path: String, indices: [Int]) throws
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
