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
}
