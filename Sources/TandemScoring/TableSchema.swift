import Foundation
import TandemData

/// Encodes raw CSV rows of new data exactly as `tandem ingest csv` encoded
/// the training rows: the training dataset's columns (TandemData's
/// `TableSchema`: kinds, one-hot categories, feature positions), its missing
/// tokens, and the training mean for a missing number.
struct CSVRowEncoder {
  let columns: [TableColumn]
  let featureCount: Int
  let idColumn: String?
  let missingValues: Set<String>
  /// Feature positions of the numeric columns: where an input far outside
  /// the training distribution shows (one-hot features are 0 or 1 by design).
  let numericFeatures: [Int]

  init(dataset path: String) throws {
    let schema = try TableSchema(contentsOf: path)
    columns = schema.columns
    numericFeatures = schema.columns.filter { $0.kind == .numeric }.map(\.featureStart)
    featureCount = schema.featureNames.count
    let file = try HDF5File(readingAt: path)
    let id = try file.attribute("id_column")?.stringValue ?? ""
    idColumn = id.isEmpty ? nil : id
    missingValues = Set(try file.attribute("missing_values")?.stringsValue ?? [""])
  }

  /// Parses `path`, refusing it when a column the model needs is missing.
  func read(csv path: String) throws -> CSVTable {
    let bytes: [UInt8]
    do { bytes = try readFileBytes(path) } catch { throw DataError(path: path, message: error.message) }
    let table = try CSVTable(bytes: bytes, path: path)
    let present = Set(table.header)
    if let missing = columns.first(where: { !present.contains($0.name) }) {
      throw DataError(path: path, message: "no column '\(missing.name)', which the model needs "
                      + "(it was trained on \(columns.map(\.name).joined(separator: ", ")))")
    }
    return table
  }


  func id(of row: [String], in table: CSVTable) -> String? {
    idColumn.flatMap { table.header.firstIndex(of: $0) }.map { row[$0] }
  }

  /// The standardised features of one CSV row. A missing number takes the
  /// training mean; a category never seen in training is an error naming the
  /// line, since the model has no input for it.
  func encode(_ row: [String], in table: CSVTable, line: Int, path: String, reference: DatasetReader) throws(DataError) -> [Float] {
    var raw = [Float](repeating: 0, count: featureCount)
    for column in columns {
      let cell = row[table.header.firstIndex(of: column.name)!].trimmingCharacters(in: .whitespaces)
      let missing = missingValues.contains(cell)
      if column.kind == .numeric {
        guard missing || Double(cell) != nil else {
          throw DataError(path: path, message: "line \(line): column '\(column.name)' is numeric but holds '\(cell)'")
        }
        let value = missing ? column.mean : Double(cell)!
        guard value.isFinite, abs(value) <= Double(Float.greatestFiniteMagnitude) else {
          throw DataError(path: path, message: "line \(line): column '\(column.name)' holds '\(cell)', which is not a finite 32-bit number")
        }
        raw[column.featureStart] = Float(value)
      } else {
        let value = missing ? TableIngest.missingCategory : cell
        guard let k = column.categories.firstIndex(of: value) else {
          throw DataError(path: path, message: "line \(line): '\(value)' in column '\(column.name)' was never seen in training "
                          + "(known: \(column.categories.joined(separator: ", ")))")
        }
        raw[column.featureStart + k] = 1
      }
    }
    return raw.indices.map { (raw[$0] - reference.mean[$0]) / reference.std[$0] }
  }
}
