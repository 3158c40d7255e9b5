import Foundation

/// A parsed CSV file: RFC 4180 quoting (`"a,b"`, `""` for a quote inside),
/// LF or CRLF line ends, an optional UTF-8 byte-order mark, blank lines skipped.
public struct CSVTable: Sendable {
  public var header: [String]
  public var rows: [[String]]
  /// The line each row starts on (1-based, the header is line 1), for errors.
  public var lines: [Int]

  /// Parses `bytes`, the contents of `path` (named in errors). A row with a
  /// different number of fields from the header is an error naming its line.
  public init(bytes: [UInt8], path: String) throws(DataError) {
    try Self.checkText(bytes, path: path)
    var records: [[String]] = []
    var recordLines: [Int] = []
    var field: [UInt8] = []
    var record: [String] = []
    var line = 1, recordLine = 1
    var inQuotes = false, quotedField = false
    var i = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0
    let n = bytes.count
    func endField() {
      record.append(String(decoding: field, as: UTF8.self))
      field.removeAll(keepingCapacity: true)
      quotedField = false
    }
    func endRecord() {
      endField()
      if !(record.count == 1 && record[0].isEmpty) {  // a blank line
        records.append(record)
        recordLines.append(recordLine)
      }
      record.removeAll(keepingCapacity: true)
    }
    while i < n {
      let c = bytes[i]
      if inQuotes {
        if c == UInt8(ascii: "\"") {
          if i + 1 < n && bytes[i + 1] == UInt8(ascii: "\"") { field.append(c); i += 2; continue }
          inQuotes = false
        } else {
          if c == UInt8(ascii: "\n") { line += 1 }
          field.append(c)
        }
        i += 1
        continue
      }
      switch c {
      case UInt8(ascii: ","):
        endField()
      case UInt8(ascii: "\""):
        if field.isEmpty && !quotedField {
          inQuotes = true
          quotedField = true
        } else {
          throw DataError(path: path, message: "line \(line): stray quote inside an unquoted field")
        }
      case UInt8(ascii: "\r") where i + 1 < n && bytes[i + 1] == UInt8(ascii: "\n"):
        break  // the \n that follows ends the record
      case UInt8(ascii: "\n"):
        endRecord()
        line += 1
        recordLine = line
      default:
        field.append(c)
      }
      i += 1
    }
    if inQuotes { throw DataError(path: path, message: "line \(recordLine): quoted field never closed") }
    if !field.isEmpty || !record.isEmpty { endRecord() }

    guard let header = records.first else { throw DataError(path: path, message: "empty file, no header row") }
    self.header = header.map { $0.trimmingCharacters(in: .whitespaces) }
    var seen: [String: Int] = [:]
    for (k, name) in self.header.enumerated() {
      if let first = seen[name] {
        throw DataError(path: path, message: "line 1: columns \(first + 1) and \(k + 1) are both named '\(name)'")
      }
      seen[name] = k
    }
    for (k, record) in records.enumerated().dropFirst() where record.count != header.count {
      throw DataError(path: path, message: "line \(recordLines[k]) (row \(k)): ragged row: \(record.count) fields, "
                                         + "the header has \(header.count)")
    }
    rows = Array(records.dropFirst())
    lines = Array(recordLines.dropFirst())
  }

  /// CSV is UTF-8 text: a NUL byte (binary data) or bytes that are not UTF-8
  /// (Latin-1, say) would otherwise be cut or turned into U+FFFD silently;
  /// a file with carriage returns but no line feeds has old Mac line ends.
  /// One pass over the bytes; UTF-8 is validated only when a non-ASCII byte
  /// was seen (the Telco file and most tables have none).
  static func checkText(_ bytes: [UInt8], path: String) throws(DataError) {
    func line(at offset: Int) -> Int { 1 + bytes[..<offset].reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) } }
    var nul: Int?, nonASCII = false, lineFeed = false, carriageReturn = false
    for (i, b) in bytes.enumerated() {
      switch b {
      case 0: nul = i
      case 0x0A: lineFeed = true
      case 0x0D: carriageReturn = true
      case 0x80...: nonASCII = true
      default: continue
      }
      if nul != nil { break }
    }
    if let nul {
      throw DataError(path: path, message: "line \(line(at: nul)): a NUL byte: binary data, not CSV text")
    }
    if nonASCII, String(validating: bytes, as: UTF8.self) == nil {
      var start = 0
      for end in bytes.indices where bytes[end] == 0x0A || end == bytes.count - 1 {
        if String(validating: bytes[start...end], as: UTF8.self) == nil {
          throw DataError(path: path, message: "line \(line(at: start)): not UTF-8 text (re-encode the file as UTF-8, e.g. iconv -f LATIN1 -t UTF-8)")
        }
        start = end + 1
      }
      throw DataError(path: path, message: "not UTF-8 text")
    }
    if !lineFeed, carriageReturn {
      throw DataError(path: path, message: "lines end in CR only (old Mac text): convert them to LF or CRLF")
    }
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
