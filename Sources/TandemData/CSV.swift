import Foundation

/// A parsed CSV file, whole in memory (CSVParser's rules), for the small
/// files scoring and audits read; `tandem ingest csv` streams instead.
public struct CSVTable: Sendable {
  public var header: [String]
  public var rows: [[String]]
  /// The line each row starts on (1-based, the header is line 1), for errors.
  public var lines: [Int]

  init(header: [String], rows: [[String]], lines: [Int]) {
    self.header = header
    self.rows = rows
    self.lines = lines
  }

  /// Parses `bytes`, the contents of `path` (named in errors). A row with a
  /// different number of fields from the header is an error naming its line.
  public init(bytes: [UInt8], path: String) throws(DataError) {
    var records: [[String]] = []
    var recordLines: [Int] = []
    var parser = CSVParser(path: path)
    let collect = { (record: CSVParser.Record) in
      records.append((0..<record.count).map(record.string))
      recordLines.append(record.line)
    }
    do {
      try bytes.withUnsafeBufferPointer { try parser.feed($0, collect) }
      try parser.finish(collect)
    } catch let error as DataError {
      throw error
    } catch {
      throw DataError(path: path, message: "\(error)")
    }
    try self.init(records: records, lines: recordLines, path: path)
  }

  /// Streams the file at `path` through the parser in blocks of `blockSize`
  /// bytes: the same table as `init(bytes:path:)` of its contents, whatever the block size.
  public init(contentsOf path: String, blockSize: Int = 4 << 20) throws {
    var records: [[String]] = []
    var recordLines: [Int] = []
    try CSVParser.stream(path: path, blockSize: blockSize) { record in
      records.append((0..<record.count).map(record.string))
      recordLines.append(record.line)
    }
    try self.init(records: records, lines: recordLines, path: path)
  }

  /// The first record as the header, the rest as rows of its width.
  private init(records: [[String]], lines recordLines: [Int], path: String) throws(DataError) {
    guard let header = records.first else { throw DataError(path: path, message: "empty file, no header row") }
    self.header = try Self.checkedHeader(header, path: path)
    for (k, record) in records.enumerated().dropFirst() where record.count != header.count {
      throw Self.ragged(path: path, line: recordLines[k], row: k, fields: record.count, header: header.count)
    }
    rows = Array(records.dropFirst())
    lines = Array(recordLines.dropFirst())
  }

  /// The header's names, trimmed; two columns of one name are an error.
  static func checkedHeader(_ names: [String], path: String) throws(DataError) -> [String] {
    let header = names.map { $0.trimmingCharacters(in: .whitespaces) }
    var seen: [String: Int] = [:]
    for (k, name) in header.enumerated() {
      if let first = seen[name] {
        throw DataError(path: path, message: "line 1: columns \(first + 1) and \(k + 1) are both named '\(name)'")
      }
      seen[name] = k
    }
    return header
  }

  static func ragged(path: String, line: Int, row: Int, fields: Int, header: Int) -> DataError {
    DataError(path: path, message: "line \(line) (row \(row)): ragged row: \(fields) fields, the header has \(header)")
  }

  /// The index of column `name`, or an error listing the columns there are.
  public func column(_ name: String, path: String, role: String) throws(DataError) -> Int {
    guard let index = header.firstIndex(of: name) else {
      let known = header.prefix(30).joined(separator: ", ")
      throw DataError(path: path, message: "no \(role) column '\(name)' in the header (columns: \(known)"
                                         + (header.count > 30 ? ", ...)" : ")"))
    }
    return index
  }
}

/// A field for a CSV file Tandem writes, quoted when it needs to be.
public func csvField(_ text: String) -> String {
  text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" })
    ? "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : text
}
