import Foundation

/// Schema overrides and the missing-value policy for `TableIngest`, read from
/// a small JSON file (`tandem ingest csv --config FILE`). Every key is optional:
///
///     {
///       "kinds":   {"SeniorCitizen": "categorical", "tenure": "numeric"},
///       "drop":    ["SomeColumn"],
///       "missing": {"numeric": "mean", "categorical": "category",
///                   "columns": {"TotalCharges": "zero"}},
///       "missing_values": ["", "NA", "?"],
///       "labels":  ["No", "Yes"]
///     }
///
/// A cell is missing when, with surrounding spaces removed, it is one of
/// `missing_values` (default: the empty string, which covers the Telco
/// `TotalCharges` cells that hold a single space).
///
/// Numeric policies: `mean` (default) and `median` impute the train split's
/// mean or median of the present values, `zero` writes 0, `drop-row` leaves the
/// row out of the file, `error` refuses the input. Categorical policies:
/// `category` (default) adds a `(missing)` category, `drop-row`, `error`.
/// `labels` lists the label values in class order (index = class); without
/// it the classes are `[negative, positive]` from the command line.
public struct TableConfig: Codable, Sendable, Equatable {
  public var kinds: [String: ColumnKind]?
  public var drop: [String]?
  public var missing: MissingPolicy?
  public var missingValues: [String]?
  public var labels: [String]?

  public struct MissingPolicy: Codable, Sendable, Equatable {
    public var numeric: String?
    public var categorical: String?
    public var columns: [String: String]?

    public init(numeric: String? = nil, categorical: String? = nil, columns: [String: String]? = nil) {
      self.numeric = numeric
      self.categorical = categorical
      self.columns = columns
    }
  }

  enum CodingKeys: String, CodingKey {
    case kinds, drop, missing, labels
    case missingValues = "missing_values"
  }

  public init() {}

  /// Reads a config file; a malformed one is an error naming it.
  public init(contentsOf path: String) throws(DataError) {
    let data: Data
    do { data = Data(try readFileBytes(path)) } catch { throw DataError(path: path, message: "cannot read the ingest config: \(error.message)") }
    do {
      self = try JSONDecoder().decode(TableConfig.self, from: data)
    } catch {
      throw DataError(path: path, message: "not a valid ingest config: \(error)")
    }
  }
}

public enum ColumnKind: String, Codable, Sendable {
  case numeric, categorical
}

/// Settings for `TableIngest.run`, all recorded in the file.
public struct TableIngestOptions: Sendable {
  public var labelColumn = "Churn"
  /// Column of row identifiers, stored as `/ids`; nil numbers the rows.
  public var idColumn: String? = nil
  public var positive = "Yes"
  public var negative = "No"
  public var seed: UInt64 = 1
  public var validationFraction = 0.1
  public var testFraction = 0.2
  public var config = TableConfig()
  public var tandemVersion = "unknown"

  public init() {}
}

/// One source column after schema inference.
public struct TableColumn: Sendable, Equatable {
  public var name: String
  public var kind: ColumnKind
  /// Sorted distinct values (plus `(missing)` when that policy applies); one feature each.
  public var categories: [String]
  /// Train-split statistics of the numeric feature (0 and 1 for categorical columns).
  public var mean: Double
  public var std: Double
  public var missingCount: Int
  public var missingAction: String
  /// The first of this column's features in `/features`.
  public var featureStart: Int
  public var featureCount: Int { kind == .numeric ? 1 : categories.count }
}

/// A CSV export to an HDF5 dataset: schema inference, missing values,
/// one-hot encoding, a stratified seeded split and train-split statistics.
///
/// File layout (kind "table"):
///
///     /features        float32 [N, d]  raw values: numeric as read (missing ones
///                                      imputed), categorical one-hot 0/1; NOT standardised
///     /feature_names   str [d]         "tenure", "Contract=One year", ...
///     /feature_mean    float32 [d]     train-split mean of numeric features; 0 for one-hot
///     /feature_std     float32 [d]     train-split std (population) of numeric features,
///                                      1 where it is 0; 1 for one-hot
///     /labels          int32 [N]       index into @class_names ([negative, positive])
///     /ids             str [N]         the id column (or row numbers)
///     /split           uint8 [N]       0 train, 1 val, 2 test; stratified by label, seeded
///     /columns         group, @column_order: source columns in file order
///     /columns/NAME    group, @kind, @categories, @mean, @std, @feature_start,
///                      @feature_count, @missing_count, @missing_action
///     /source/files, /source/sha256   the CSV's name and SHA-256
///     attributes on /: kind="table", format_version, class_names, label_column,
///       positive_label, id_column, seed, val_fraction, test_fraction,
///       missing_policy, config (the effective config as JSON), dropped_rows,
///       split_names, content_sha256, tandem_version, ingested_at, source_root
///
/// Standardise a row as `(features - feature_mean) / feature_std`, which is
/// what `DatasetReader` does.
///
/// Schema inference: a column is numeric when every present value parses as a
/// number, except that a column of at most two distinct integers (a 0/1 flag
/// such as `SeniorCitizen`) is categorical; everything else is categorical.
/// The config's `kinds` override this.
public enum TableIngest {
  public static let missingCategory = "(missing)"

  public static func run(csv path: String, output: AtomicOutput, options: TableIngestOptions) throws -> IngestSummary {
    let start = Date()
    let config = options.config
    let classNames = config.labels ?? [options.negative, options.positive]
    let missingTokens = Set(config.missingValues ?? [""])
    let scan = try TableScan.read(path: path, options: options, classNames: classNames, missingTokens: missingTokens)
    let idIndex = scan.idIndex
    // Labels first: an unknown value is an error naming its line.
    if let bad = scan.firstUnknownLabel {
      throw DataError(path: path, message: "line \(scan.lines[bad.row]) (row \(bad.row + 1)): unknown label value '\(bad.value)' in column "
                                         + "'\(options.labelColumn)' (expected \(classNames.joined(separator: " or ")))")
    }
    let labels = scan.labels
    let present = Set(labels)
    guard present.count == classNames.count else {
      let only = classNames.indices.filter { present.contains(Int32($0)) }.map { "'\(classNames[$0])'" }.joined(separator: ", ")
      throw DataError(path: path, message: "column '\(options.labelColumn)' holds only \(only): a classifier needs examples of "
                                         + "every class (\(classNames.joined(separator: ", ")))")
    }
    // One customer twice would land in different splits: a leak from train to test.
    if let duplicate = scan.firstDuplicateID {
      throw DataError(path: path, message: "line \(scan.lines[duplicate.row]) (row \(duplicate.row + 1)): id '\(duplicate.id)' appears again "
                                         + "(first on line \(scan.lines[duplicate.first])): duplicated rows would leak across the splits")
    }
    let numericPolicy = config.missing?.numeric ?? "mean"
    let categoricalPolicy = config.missing?.categorical ?? "category"
    func policy(_ name: String, _ kind: ColumnKind) throws(DataError) -> String {
      let p = config.missing?.columns?[name] ?? (kind == .numeric ? numericPolicy : categoricalPolicy)
      let allowed = kind == .numeric ? ["mean", "median", "zero", "drop-row", "error"] : ["category", "drop-row", "error"]
      guard allowed.contains(p) else {
        throw DataError(path: path, message: "missing-value policy '\(p)' for \(kind.rawValue) column '\(name)' "
                                           + "is not one of \(allowed.joined(separator: ", "))")
      }
      return p
    }

    // Kinds and policies.
    let accumulators = scan.columns
    var kinds: [ColumnKind] = [], policies: [String] = []
    for column in accumulators {
      if let bad = column.firstNonFinite {
        throw DataError(path: path, message: "line \(scan.lines[bad.row]) (row \(bad.row + 1)): column '\(column.name)' holds "
                                           + "'\(bad.cell)', which is not a finite 32-bit number")
      }
      var kind: ColumnKind = column.allNumeric && !(column.allIntegers && column.distinctCount <= 2) ? .numeric : .categorical
      if let forced = column.forced { kind = forced }
      if kind == .numeric && !column.allNumeric, let bad = column.firstNonNumeric {
        throw DataError(path: path, message: "line \(scan.lines[bad.row]) (row \(bad.row + 1)): column '\(column.name)' is numeric but holds "
                                           + "'\(bad.cell)'")
      }
      if kind == .categorical && column.tooManyCategories {
        throw DataError(path: path, message: "column '\(column.name)' has more than \(ColumnAccumulator.maximumCategories) distinct "
                                           + "values: too many to one-hot (drop it with the config's \"drop\", or name it with --id)")
      }
      kinds.append(kind)
      policies.append(try policy(column.name, kind))
    }

    // Rows kept: drop-row removes, error refuses.
    let count = labels.count
    var keep = [Bool](repeating: true, count: count)
    for (k, column) in accumulators.enumerated() where column.missingCount > 0 {
      for r in 0..<count where column.isMissing(r) {
        switch policies[k] {
        case "error":
          throw DataError(path: path, message: "line \(scan.lines[r]) (row \(r + 1)): missing value in column "
                                             + "'\(column.name)' (missing-value policy: error)")
        case "drop-row": keep[r] = false
        default: break
        }
      }
    }
    let rows = (0..<count).filter { keep[$0] }
    guard !rows.isEmpty else { throw DataError(path: path, message: "no data rows") }
    let keptLabels = rows.map { labels[$0] }
    let splits = SplitPlanner.stratified(strata: keptLabels.map(Int.init), seed: options.seed,
                                         validationFraction: options.validationFraction, testFraction: options.testFraction)
    let trainRows = rows.indices.filter { splits[$0] == .train }.map { rows[$0] }

    // Columns, with train-split statistics and imputation values.
    var columns: [TableColumn] = []
    var imputed: [Double] = []
    var categoryOfCode: [[Int]] = []
    var d = 0
    for (k, accumulator) in accumulators.enumerated() {
      let missingCount = accumulator.missingCount == 0 ? 0 : rows.reduce(0) { $0 + (accumulator.isMissing($1) ? 1 : 0) }
      var column = TableColumn(name: accumulator.name, kind: kinds[k], categories: [], mean: 0, std: 1,
                               missingCount: missingCount, missingAction: policies[k], featureStart: d)
      var fill = 0.0
      var order: [Int] = []
      if column.kind == .numeric {
        let values = accumulator.values
        let present = trainRows.compactMap { values[$0].isNaN ? nil : values[$0] }
        switch policies[k] {
        case "median":
          let sorted = present.sorted()
          fill = sorted.isEmpty ? 0 : sorted.count % 2 == 1 ? sorted[sorted.count / 2]
            : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
        case "zero": fill = 0
        default: fill = present.isEmpty ? 0 : present.reduce(0, +) / Double(present.count)
        }
        let train = trainRows.map { values[$0].isNaN ? fill : values[$0] }
        let mean = train.isEmpty ? 0 : train.reduce(0, +) / Double(train.count)
        let variance = train.isEmpty ? 0 : train.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(train.count)
        column.mean = mean
        column.std = variance > 0 ? variance.squareRoot() : 1
      } else {
        // Categories of the kept rows, sorted by their UTF-8 bytes; each code's feature offset.
        var used = [Bool](repeating: false, count: accumulator.interner.count)
        for r in rows { let code = accumulator.codes[r]; if code != ColumnAccumulator.missingCode { used[Int(code)] = true } }
        var names = used.indices.filter { used[$0] }.map { (code: $0, name: accumulator.interner.string($0)) }
        if missingCount > 0 && policies[k] == "category" { names.append((-1, missingCategory)) }
        names.sort { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
        column.categories = names.map(\.name)
        order = [Int](repeating: -1, count: accumulator.interner.count + 1)  // the last slot: missing
        for (position, entry) in names.enumerated() { order[entry.code < 0 ? accumulator.interner.count : entry.code] = position }
      }
      imputed.append(fill)
      categoryOfCode.append(order)
      d += column.featureCount
      columns.append(column)
    }
    var featureNames: [String] = [], featureMean: [Float] = [], featureStd: [Float] = []
    for column in columns {
      if column.kind == .numeric {
        featureNames.append(column.name); featureMean.append(Float(column.mean)); featureStd.append(Float(column.std))
      } else {
        for category in column.categories {
          featureNames.append("\(column.name)=\(category)"); featureMean.append(0); featureStd.append(1)
        }
      }
    }
    let n = rows.count
    let ids = rows.map { r in idIndex != nil ? scan.ids.string(r) : String(r + 1) }

    // Write.
    let file = try HDF5File(creatingAt: output.temporaryPath, displayPath: output.path)
    // Raw features [N, d] in blocks of rows, so the whole matrix is never in memory at once.
    // The dataset is released before `close()`, which would otherwise leave the file open.
    do {
      let features = try file.createDataset("/features", type: .float32, shape: [n, d], chunk: nil)
      let blockRows = max(1, (8 << 20) / max(1, d * 4))
      var block = [Float](repeating: 0, count: min(blockRows, n) * d)
      for first in stride(from: 0, to: n, by: blockRows) {
        let count = min(blockRows, n - first)
        if count * d != block.count { block = [Float](repeating: 0, count: count * d) } else if first > 0 { block.withUnsafeMutableBufferPointer { $0.update(repeating: 0) } }
        // Column by column: each column's arrays are fetched once per block.
        for (k, column) in columns.enumerated() {
          let start = column.featureStart
          if column.kind == .numeric {
            let values = accumulators[k].values, fill = imputed[k]
            for i in 0..<count {
              let v = values[rows[first + i]]
              block[i * d + start] = Float(v.isNaN ? fill : v)
            }
          } else {
            let codes = accumulators[k].codes, order = categoryOfCode[k], missingSlot = order.count - 1
            for i in 0..<count {
              let code = codes[rows[first + i]]
              block[i * d + start + order[code == ColumnAccumulator.missingCode ? missingSlot : Int(code)]] = 1
            }
          }
        }
        try features.writeRows(start: first, rowCount: count, block)
      }
    }
    try file.writeStrings("/feature_names", featureNames)
    try file.write("/feature_mean", featureMean)
    try file.write("/feature_std", featureStd)
    try file.write("/labels", keptLabels)
    try file.writeStrings("/ids", ids)
    try file.write("/split", splits.map(\.rawValue))
    try file.createGroup("/columns")
    try file.setAttribute("column_order", .strings(columns.map(\.name)), on: "/columns")
    for column in columns {
      let group = "/columns/" + column.name.replacingOccurrences(of: "/", with: "_")
      try file.createGroup(group)
      try file.setAttribute("name", .string(column.name), on: group)
      try file.setAttribute("kind", .string(column.kind.rawValue), on: group)
      try file.setAttribute("feature_start", .int(Int64(column.featureStart)), on: group)
      try file.setAttribute("feature_count", .int(Int64(column.featureCount)), on: group)
      try file.setAttribute("missing_count", .int(Int64(column.missingCount)), on: group)
      try file.setAttribute("missing_action", .string(column.missingAction), on: group)
      if column.kind == .numeric {
        try file.setAttribute("mean", .double(column.mean), on: group)
        try file.setAttribute("std", .double(column.std), on: group)
      } else {
        try file.setAttribute("categories", .strings(column.categories), on: group)
      }
    }
    try file.createGroup("/source")
    try file.writeStrings("/source/files", [(path as NSString).lastPathComponent])
    try file.writeStrings("/source/sha256", [scan.sourceSHA256])
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    let configJSON = String(decoding: try encoder.encode(config), as: UTF8.self)
    let attributes: [(String, HDF5Attribute)] = [
      ("kind", .string("table")),
      ("format_version", .int(1)),
      ("class_names", .strings(classNames)),
      ("label_column", .string(options.labelColumn)),
      ("positive_label", .string(classNames[classNames.count - 1])),
      ("id_column", .string(options.idColumn ?? "")),
      ("seed", .int(Int64(bitPattern: options.seed))),
      ("val_fraction", .double(options.validationFraction)),
      ("test_fraction", .double(options.testFraction)),
      ("missing_policy", .string("numeric \(numericPolicy), categorical \(categoricalPolicy)"
                                 + (config.missing?.columns ?? [:]).sorted { $0.key < $1.key }.map { ", \($0.key) \($0.value)" }.joined())),
      ("missing_values", .strings(missingTokens.sorted())),
      ("config", .string(configJSON)),
      ("dropped_rows", .int(Int64(count - n))),
      ("split_names", .strings(Split.names)),
      ("tandem_version", .string(options.tandemVersion)),
      ("ingested_at", .string(ISO8601DateFormatter().string(from: Date()))),
      ("source_root", .string(AtomicOutput.directory(of: path))),
    ]
    for (name, value) in attributes { try file.setAttribute(name, value) }
    try file.close()
    let hash = try DatasetFinisher.sealAndCommit(output)
    return IngestSummary(path: output.path, count: n, seconds: Date().timeIntervalSince(start), contentSHA256: hash)
  }
}
