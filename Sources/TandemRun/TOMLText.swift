import TOMLKit

/// The one entry to TOMLKit. Its C++ parser (toml++) asserts, and so aborts
/// the process, on some malformed input (a table header with no name, `[`
/// alone on a line, found by the run-file fuzzer); those shapes are refused
/// here first with the line, so a bad file is an error, never a crash.
enum TOMLText {
  static func parse(_ text: String, file: String) throws(ConfigurationError) -> TOMLTable {
    for (k, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
      var line = Substring(raw.drop { $0 == " " || $0 == "\t" })
      guard line.first == "[" else { continue }
      line = line.dropFirst()
      if line.first == "[" { line = line.dropFirst() }
      let name = line.drop { $0 == " " || $0 == "\t" }
      guard let c = name.first, c.isASCII, c.isLetter || c.isNumber || c == "_" || c == "-" || c == "\"" || c == "'" else {
        throw ConfigurationError(file: file, "line \(k + 1): a table header needs a name, as in [training]")
      }
    }
    do {
      return try TOMLTable(string: text)
    } catch let error as TOMLParseError {
      throw ConfigurationError(file: file, "line \(error.source.begin.line): \(error.description)")
    } catch {
      throw ConfigurationError(file: file, "\(error)")
    }
  }

  /// The string at `key`; `value` when absent, or an error when there is no default.
  static func string(_ table: TOMLTable, _ key: String, default value: String? = nil,
                     file: String) throws(ConfigurationError) -> String {
    guard let v = table[key] else {
      if let value { return value }
      throw ConfigurationError(file: file, "missing required key '\(key)'")
    }
    guard let s = v.string else { throw ConfigurationError(file: file, "'\(key)' must be a string, got \(v.debugDescription)") }
    return s
  }

  /// The integer at `key` (nil when absent); any other type is an error naming `label`.
  static func integer(_ table: TOMLTable, _ key: String, _ label: String, file: String) throws(ConfigurationError) -> Int? {
    guard let v = table[key] else { return nil }
    guard let i = v.int else { throw ConfigurationError(file: file, "'\(label)' must be an integer, got \(v.debugDescription)") }
    return i
  }

  /// The number (float or integer) at `key` (nil when absent); any other type is an error naming `label`.
  static func number(_ table: TOMLTable, _ key: String, _ label: String, file: String) throws(ConfigurationError) -> Double? {
    guard let v = table[key] else { return nil }
    if let d = v.double { return d }
    if let i = v.int { return Double(i) }
    throw ConfigurationError(file: file, "'\(label)' must be a number, got \(v.debugDescription)")
  }
}
