import Foundation
import TandemData
import TOMLKit

/// The one entry to TOMLKit. Its C++ parser (toml++) asserts, and so aborts
/// the process, on some malformed input (a table header with no name, `[`
/// alone on a line, found by the run-file fuzzer); those shapes are refused
/// here first with the line, so a bad file is an error, never a crash.
enum TOMLText {
  /// The text of the TOML file at `path`. A FIFO or device in its place is
  /// refused, not waited on (`readFileBytes`).
  static func read(_ path: String, what: String) throws(ConfigurationError) -> String {
    let bytes: [UInt8]
    do { bytes = try readFileBytes(path) } catch {
      let reason = FileManager.default.fileExists(atPath: path) ? error.message : "no such file"
      throw ConfigurationError(file: path, "cannot read the \(what): \(reason)")
    }
    guard let text = String(validating: bytes, as: UTF8.self) else {
      throw ConfigurationError(file: path, "the \(what) is not UTF-8 text")
    }
    return text
  }

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

/// One table of a TOML file as it is read: each getter names its key once
/// (the label in errors, `training.momentum`, comes from the section), checks
/// the value's type and range, and remembers the key, so `finish()` refuses any
/// key no getter asked for. A typo (`epoch = 5`) is an error, never a default.
final class TOMLSection {
  let table: TOMLTable
  let section: String?
  let file: String
  private var known: [String] = []

  init(_ table: TOMLTable, section: String? = nil, file: String) {
    self.table = table
    self.section = section
    self.file = file
  }

  func label(_ key: String) -> String { section.map { "\($0).\(key)" } ?? key }

  func fail(_ message: String) -> ConfigurationError { ConfigurationError(file: file, message) }

  private func value(_ key: String) -> (any TOMLValueConvertible)? {
    known.append(key)
    return table[key]
  }

  private func checked<T>(_ key: String, _ value: T?, _ valid: ((T) -> Bool)?, _ expected: String) throws(ConfigurationError) -> T? {
    if let value, let valid, !valid(value) { throw fail("'\(label(key))' must be \(expected), got \(value)") }
    return value
  }

  /// The string at `key`; `value` when absent, or an error when there is no default.
  func string(_ key: String, default fallback: String? = nil) throws(ConfigurationError) -> String {
    guard let v = value(key) else {
      if let fallback { return fallback }
      throw fail("missing required key '\(label(key))'")
    }
    guard let s = v.string else { throw fail("'\(label(key))' must be a string, got \(v.debugDescription)") }
    return s
  }

  /// A non-empty string at `key`, or nil when absent.
  func optionalString(_ key: String) throws(ConfigurationError) -> String? {
    guard table[key] != nil else { _ = value(key); return nil }
    let s = try string(key)
    guard !s.isEmpty else { throw fail("'\(label(key))' must be a non-empty string") }
    return s
  }

  func integer(_ key: String, valid: ((Int) -> Bool)? = nil, _ expected: String = "") throws(ConfigurationError) -> Int? {
    guard let v = value(key) else { return nil }
    guard let i = v.int else { throw fail("'\(label(key))' must be an integer, got \(v.debugDescription)") }
    return try checked(key, i, valid, expected)
  }

  /// A float or an integer.
  func number(_ key: String, valid: ((Double) -> Bool)? = nil, _ expected: String = "") throws(ConfigurationError) -> Double? {
    guard let v = value(key) else { return nil }
    guard let d = v.double ?? v.int.map(Double.init) else {
      throw fail("'\(label(key))' must be a number, got \(v.debugDescription)")
    }
    return try checked(key, d, valid, expected)
  }

  func bool(_ key: String) throws(ConfigurationError) -> Bool? {
    guard let v = value(key) else { return nil }
    guard let b = v.bool else { throw fail("'\(label(key))' must be true or false") }
    return b
  }

  /// One of a fixed set of names, parsed by `parse`; `names` lists them in the error.
  func choice<T>(_ key: String, names: [String], _ parse: (String) -> T?) throws(ConfigurationError) -> T? {
    guard let v = value(key) else { return nil }
    guard let text = v.string, let parsed = parse(text) else {
      let quoted = names.map { "\"\($0)\"" }
      let list = quoted.count > 1 ? quoted.dropLast().joined(separator: ", ") + " or " + quoted.last! : quoted.joined()
      throw fail("'\(label(key))' must be \(list), got \(v.string.map { "'\($0)'" } ?? v.debugDescription)")
    }
    return parsed
  }

  func numbers(_ key: String) throws(ConfigurationError) -> [Double]? {
    guard let v = value(key) else { return nil }
    guard let array = v.array else { throw fail("'\(label(key))' must be an array of numbers") }
    let numbers = array.compactMap { $0.double ?? $0.int.map(Double.init) }
    guard numbers.count == array.count else { throw fail("'\(label(key))' must be an array of numbers") }
    return numbers
  }

  func strings(_ key: String, example: String) throws(ConfigurationError) -> [String]? {
    guard let v = value(key) else { return nil }
    guard let array = v.array, !array.isEmpty, array.allSatisfy({ $0.string != nil }) else {
      throw fail("'\(label(key))' must be a non-empty array of strings, e.g. \(example)")
    }
    return array.compactMap(\.string)
  }

  /// The sub-table `[name]`, or nil when absent.
  func section(_ name: String) throws(ConfigurationError) -> TOMLSection? {
    guard let v = value(name) else { return nil }
    guard let t = v.table else { throw fail("'\(label(name))' must be a table ([\(label(name))])") }
    return TOMLSection(t, section: label(name), file: file)
  }

  /// Refuses the first key no getter read, with the nearest known key as a hint.
  func finish() throws(ConfigurationError) {
    for key in table.keys.sorted() where !known.contains(key) {
      let place = section.map { "[\($0)] " } ?? ""
      let guess = known.min { Self.editDistance($0, key) < Self.editDistance($1, key) }
      let hint = guess.flatMap { Self.editDistance($0, key) <= 2 ? " (did you mean '\($0)'?)" : nil } ?? ""
      throw fail("unknown key \(place)'\(key)'\(hint)")
    }
  }

  static func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    var row = Array(0...b.count)
    for i in 1...max(a.count, 1) where !a.isEmpty {
      var previous = row[0]
      row[0] = i
      for j in stride(from: 1, through: b.count, by: 1) {
        let old = row[j]
        row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] == b[j - 1] ? 0 : 1))
        previous = old
      }
    }
    return row[b.count]
  }
}

/// Settings given on the command line (`--set training.learning_rate=0.1`,
/// or a flag such as `--seed 2`), laid over a run file's text. The result is
/// the text a run records (its config.toml and snapshot), so a re-run sees
/// what was trained, not what the file said.
enum RunFileOverrides {
  /// `text` with each `KEY=VALUE` set: KEY is `key` or `section.key`; VALUE
  /// is read as a TOML value (`0.1`, `true`, `[1.5, 0.5]`, `"x"`), else taken
  /// as a string (`cosine`). `RunConfiguration.withText(contentsOf:overrides:)`
  /// checks the result like any run file.
  static func apply(_ overrides: [String], to text: String, file: String) throws(ConfigurationError) -> String {
    let table = try TOMLText.parse(text, file: file)
    for override in overrides {
      guard let equals = override.firstIndex(of: "=") else {
        throw ConfigurationError(file: file, "--set '\(override)': expected KEY=VALUE, as in training.learning_rate=0.1")
      }
      let path = override[..<equals].split(separator: ".", omittingEmptySubsequences: false).map(String.init)
      let valueText = String(override[override.index(after: equals)...])
      guard (1...2).contains(path.count), path.allSatisfy({ !$0.isEmpty }) else {
        throw ConfigurationError(file: file, "--set '\(override)': KEY is key or section.key, as in training.learning_rate")
      }
      let value: any TOMLValueConvertible = (try? TOMLTable(string: "v = \(valueText)"))?["v"] ?? valueText
      if path.count == 1 {
        table[path[0]] = value
      } else {
        if let existing = table[path[0]], existing.table == nil {
          throw ConfigurationError(file: file, "--set '\(override)': '\(path[0])' is not a section")
        }
        let section = table[path[0]]?.table ?? TOMLTable()
        section[path[1]] = value
        table[path[0]] = section
      }
    }
    return "# \(file) with \(describe(overrides))\n" + table.convert(to: .toml) + "\n"
  }

  /// `--set A --set B`, as the overrides are named in the merged file and in errors.
  static func describe(_ overrides: [String]) -> String {
    overrides.map { "--set \($0)" }.joined(separator: " ")
  }
}
