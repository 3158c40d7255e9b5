import Foundation
import TandemData
import TandemNN
import TandemTensor
import TandemRun

/// A finished run with its dataset, ready to explain rows of it.
public final class RunExplanation {
  public let trained: TrainedModel
  public let reader: DatasetReader

  /// Loads the run's model and opens the dataset its run file names.
  public init(runDirectory: String) throws {
    trained = try TrainedModel(runDirectory: runDirectory)
    reader = try DatasetReader(path: trained.configuration.dataset)
    try trained.check(reader)
  }

  /// The rows to explain: `rows` (file rows, any split) when given, checked
  /// against the file and the task; else the first `count` rows of `split`.
  public func rows(_ rows: [Int]?, count: Int, split: Split) throws -> [Int] {
    let labels = reader.labels(trained.labelTask)
    guard let rows else { return Array(reader.indices(in: split, task: trained.labelTask).prefix(count)) }
    for row in rows {
      guard row >= 0 && row < reader.count else {
        throw DataError(path: reader.path, message: "row \(row) does not exist (the file has rows 0..<\(reader.count))")
      }
      guard labels[row] >= 0 else {
        throw DataError(path: reader.path, message: "row \(row) has no label for task \(trained.task)")
      }
    }
    return rows
  }
}

// MARK: Tables

/// Contributions of each source column to the logit of the explained rows,
/// and global importance over a split.
public struct TableExplanation: Sendable {
  public struct Row: Sendable {
    /// Row of the dataset file, and its `/ids` entry.
    public let index: Int
    public let id: String
    public let probability: Float
    public let logit: Float
    /// Source column, its value in the CSV's terms (the number, or the category
    /// set), and its contribution to the logit; in column order.
    public let contributions: [(column: String, value: String, contribution: Float)]
  }

  public let method: AttributionMethod
  /// The logit at the baseline (training means, no category): `logit = baseline + Σ contributions`.
  public let baseline: Float
  /// The largest `|baseline + Σ contributions − logit|` over the explained rows.
  public let completenessGap: Float
  public let rows: [Row]
  /// Source columns by mean |contribution| over the split, descending.
  public let importance: [FeatureImportance]
  public let split: Split
  public let splitCount: Int

  /// Writes `importance.json` and `contributions.csv` (one line per row and
  /// column: `row,id,feature,value,contribution`) into `directory`, atomically.
  public func write(to directory: String) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    try AtomicFile.write(try encoder.encode(importance), to: directory + "/importance.json")
    var csv = "row,id,feature,value,contribution\n"
    for row in rows {
      for c in row.contributions {
        csv += [String(row.index), row.id, c.column, c.value, String(c.contribution)].map(csvField).joined(separator: ",") + "\n"
      }
    }
    try AtomicFile.write(Data(csv.utf8), to: directory + "/contributions.csv")
  }
}

extension RunExplanation {
  /// Explains `rows` of a table run and ranks its source columns over `split`.
  public func explainTable(rows: [Int], split: Split, steps: Int = TableAttribution.defaultSteps) throws -> TableExplanation {
    guard reader.kind == .table else {
      throw DataError(path: reader.path, message: "\(trained.model.name) explains tables, but this is an \(reader.kind.rawValue) dataset")
    }
    let schema = try TableSchema(contentsOf: reader.path)
    guard schema.featureNames.count == reader.sampleShape[0] else {
      throw DataError(path: reader.path, message: "/columns describe \(schema.featureNames.count) features, /features has \(reader.sampleShape[0])")
    }
    let groups = schema.columnOfFeature
    let task = trained.labelTask

    // Global importance over the split, in batches.
    let splitRows = reader.indices(in: split, task: task)
    guard !splitRows.isEmpty else {
      throw DataError(path: reader.path, message: "the \(split) split has no rows for task \(trained.task)")
    }
    var totals = [Double](repeating: 0, count: schema.columns.count)
    var baseline: Float = 0
    var method = AttributionMethod.linear
    for start in stride(from: 0, to: splitRows.count, by: 512) {
      let batch = try reader.batch(indices: Array(splitRows[start..<min(splitRows.count, start + 512)]), task: task)
      let attributions = TableAttribution.explain(trained.model, input: batch.input, steps: steps)
      (baseline, method) = (attributions.baseline, attributions.method)
      for row in attributions.grouped(groups, groups: schema.columns.count) {
        for (c, v) in row.enumerated() { totals[c] += Double(abs(v)) }
      }
    }
    let importance = zip(schema.columns, totals)
      .map { FeatureImportance(feature: $0.name, importance: $1 / Double(splitRows.count)) }
      .sorted { $0.importance != $1.importance ? $0.importance > $1.importance : $0.feature < $1.feature }

    // The explained rows, with each column's value as the CSV had it.
    var explained: [TableExplanation.Row] = []
    var gap: Float = 0
    if !rows.isEmpty {
      let input = try reader.batch(indices: rows, task: task).input
      let attributions = TableAttribution.explain(trained.model, input: input, steps: steps)
      let grouped = attributions.grouped(groups, groups: schema.columns.count)
      gap = attributions.completenessGap
      let probabilities = try trained.scores(input)
      let d = reader.sampleShape[0]
      for (r, index) in rows.enumerated() {
        let standardised = Array(input.scalars[r * d..<(r + 1) * d])
        let contributions = schema.columns.enumerated().map { c, column in
          (column: column.name, value: value(of: column, in: standardised), contribution: grouped[r][c])
        }
        explained.append(TableExplanation.Row(
          index: index, id: schema.ids[index], probability: probabilities[r], logit: attributions.logits[r],
          contributions: contributions))
      }
    }
    return TableExplanation(method: method, baseline: baseline, completenessGap: gap, rows: explained, importance: importance,
                            split: split, splitCount: splitRows.count)
  }

  /// A column's value in the row as the CSV had it: the number (undoing the
  /// standardisation) or the category whose one-hot feature is set.
  private func value(of column: TableColumn, in standardised: [Float]) -> String {
    let j = column.featureStart
    switch column.kind {
    case .numeric:
      return String(format: "%.6g", Double(standardised[j] * reader.std[j] + reader.mean[j]))
    case .categorical:
      let set = (0..<column.featureCount).filter { standardised[j + $0] * reader.std[j + $0] + reader.mean[j + $0] > 0.5 }
      return set.map { column.categories[$0] }.joined(separator: "+")
    }
  }
}

// MARK: Images

/// An occlusion map of one image of an image run, and where its PNG went.
public struct ImageExplanation: Sendable {
  public let index: Int
  /// The sample's true class name, for the report line.
  public let label: String
  public let map: OcclusionMap
  public let file: String
}

extension RunExplanation {
  /// Occlusion maps for `rows` of an image run, each written to
  /// `directory/heatmap-<row>.png`: the stored X-ray with the map over it.
  /// Defaults: a patch of S/8 and a stride of S/16, filled with 0 (the mean
  /// after normalisation), so a 128 x 128 image takes 225 occluded copies.
  public func explainImages(rows: [Int], directory: String, patch: Int? = nil, stride: Int? = nil) throws -> [ImageExplanation] {
    guard reader.kind == .images else {
      throw DataError(path: reader.path, message: "\(trained.model.name) explains images, but this is a \(reader.kind.rawValue) dataset")
    }
    let side = reader.sampleShape[1]
    let patch = patch ?? max(1, side / 8), stride = stride ?? max(1, side / 16)
    let task = trained.labelTask
    let names = reader.classNames(task)
    let labels = reader.labels(task)
    var result: [ImageExplanation] = []
    for index in rows {
      let input = try reader.batch(indices: [index], task: task).input
      let image = try input.reshaped(to: [1, side, side])
      let map = try Occlusion.map(image: image, patch: patch, stride: stride) { try trained.scores($0) }
      let gray = GrayImage(width: side, height: side, pixels: try reader.rawImages(indices: [index]))
      let file = directory + "/heatmap-\(index).png"
      try HeatmapOverlay.write(gray, heat: map.heat, to: file)
      let label = Int(labels[index])
      result.append(ImageExplanation(index: index, label: label < names.count ? names[label] : String(label), map: map, file: file))
    }
    return result
  }
}
