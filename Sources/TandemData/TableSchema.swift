import Foundation

/// The column metadata `TableIngest` writes beside a table's features: the
/// source columns (kind, categories, statistics, one-hot layout), the name of
/// every feature and each row's id. Lets tools map features back to the CSV.
public struct TableSchema: Sendable {
  /// Source columns in file order; their features tile `0..<featureNames.count`.
  public let columns: [TableColumn]
  /// `/feature_names`, `[d]`: `tenure`, `Contract=One year`, ...
  public let featureNames: [String]
  /// `/ids`, `[N]`: the id column, or row numbers from 1.
  public let ids: [String]

  /// Reads `/columns`, `/feature_names` and `/ids` of a table dataset. Errors name the file.
  public init(contentsOf path: String) throws {
    let file = try HDF5File(readingAt: path)
    guard try file.attribute("kind")?.stringValue == DatasetKind.table.rawValue else {
      throw DataError(path: path, message: "not a table dataset (kind attribute is not 'table')")
    }
    featureNames = try file.dataset("/feature_names").readStrings()
    ids = try file.dataset("/ids").readStrings()
    var columns: [TableColumn] = []
    for name in try file.requiredAttribute("column_order", on: "/columns").stringsValue ?? [] {
      // TableIngest names groups after their column with '/' replaced.
      let group = "/columns/" + name.replacingOccurrences(of: "/", with: "_")
      func int(_ key: String) throws -> Int {
        guard let v = try file.requiredAttribute(key, on: group).intValue else {
          throw DataError(path: path, message: "\(group)@\(key): not an integer")
        }
        return Int(v)
      }
      guard let kind = ColumnKind(rawValue: try file.requiredAttribute("kind", on: group).stringValue ?? "") else {
        throw DataError(path: path, message: "\(group)@kind: not numeric or categorical")
      }
      let column = TableColumn(
        name: name, kind: kind,
        categories: kind == .categorical ? try file.requiredAttribute("categories", on: group).stringsValue ?? [] : [],
        mean: kind == .numeric ? try file.requiredAttribute("mean", on: group).doubleValue ?? 0 : 0,
        std: kind == .numeric ? try file.requiredAttribute("std", on: group).doubleValue ?? 1 : 1,
        missingCount: try int("missing_count"),
        missingAction: try file.attribute("missing_action", on: group)?.stringValue ?? "",
        featureStart: try int("feature_start"))
      guard column.featureCount == (try int("feature_count")) else {
        throw DataError(path: path, message: "\(group): feature_count differs from its \(column.categories.count) categories")
      }
      columns.append(column)
    }
    // The columns must tile the features exactly, in order, or grouping would misattribute.
    var next = 0
    for column in columns {
      guard column.featureStart == next else {
        throw DataError(path: path, message: "/columns/\(column.name): starts at feature \(column.featureStart), expected \(next)")
      }
      next += column.featureCount
    }
    guard next == featureNames.count else {
      throw DataError(path: path, message: "/columns cover \(next) features, /feature_names has \(featureNames.count)")
    }
    self.columns = columns
  }

  /// The source column of each feature, `[d]`, as an index into `columns`.
  public var columnOfFeature: [Int] {
    columns.indices.flatMap { c in [Int](repeating: c, count: columns[c].featureCount) }
  }
}
