import Crypto
import Foundation

/// Distinct byte strings numbered in order of first sight: open addressing
/// on an FNV-1a hash, the strings kept end to end in one array, so a million
/// cells cost no String each.
struct ByteInterner {
  /// The distinct strings, by code.
  private var strings = PackedStrings()
  private var slots = [Int32](repeating: -1, count: 64)
  private var hashes: [UInt64] = []

  var count: Int { strings.count }

  func string(_ code: Int) -> String { strings.string(code) }

  @inline(__always)
  private static func hash(_ key: UnsafeBufferPointer<UInt8>) -> UInt64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for b in key { hash = (hash ^ UInt64(b)) &* 0x100_0000_01b3 }
    return hash
  }

  /// The slot holding `key`, or the empty slot where it would go.
  @inline(__always)
  private func find(_ key: UnsafeBufferPointer<UInt8>, hash: UInt64) -> (slot: Int, code: Int?) {
    let mask = slots.count - 1
    var slot = Int(truncatingIfNeeded: hash) & mask
    while true {
      let code = Int(slots[slot])
      if code < 0 { return (slot, nil) }
      if hashes[code] == hash && equals(code, key) { return (slot, code) }
      slot = (slot + 1) & mask
    }
  }

  /// The code of `key`, or nil when it was never added.
  func lookup(_ key: UnsafeBufferPointer<UInt8>) -> Int? { find(key, hash: Self.hash(key)).code }

  /// The code of `key`, adding it when new.
  @inline(__always)
  mutating func code(of key: UnsafeBufferPointer<UInt8>) -> Int {
    let hash = Self.hash(key)
    let (slot, found) = find(key, hash: hash)
    if let found { return found }
    let code = strings.count
    strings.append(key)
    hashes.append(hash)
    slots[slot] = Int32(code)
    if strings.count * 2 > slots.count { grow() }
    return code
  }

  private func equals(_ code: Int, _ key: UnsafeBufferPointer<UInt8>) -> Bool {
    strings.withBytes(code) { stored in
      stored.count == key.count && (key.isEmpty || memcmp(stored.baseAddress!, key.baseAddress!, key.count) == 0)
    }
  }

  private mutating func grow() {
    slots = [Int32](repeating: -1, count: slots.count * 2)
    let mask = slots.count - 1
    for (code, hash) in hashes.enumerated() {
      var slot = Int(truncatingIfNeeded: hash) & mask
      while slots[slot] >= 0 { slot = (slot + 1) & mask }
      slots[slot] = Int32(code)
    }
  }
}

/// `bytes` without the spaces and tabs around it (and, where it starts or
/// ends with a non-ASCII byte, the Unicode spaces `trimmingCharacters(in:
/// .whitespaces)` removes, so a cell means what it meant as a String).
@inline(__always)
func trimmedCell<R>(_ cell: UnsafeBufferPointer<UInt8>, _ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
  var start = 0, end = cell.count
  while start < end && (cell[start] == 0x20 || cell[start] == 0x09) { start += 1 }
  while end > start && (cell[end - 1] == 0x20 || cell[end - 1] == 0x09) { end -= 1 }
  if start < end && (cell[start] >= 0x80 || cell[end - 1] >= 0x80) {
    let text = String(decoding: cell, as: UTF8.self).trimmingCharacters(in: .whitespaces)
    var utf8 = Array(text.utf8)
    return try utf8.withUnsafeMutableBufferPointer { try body(UnsafeBufferPointer($0)) }
  }
  return try body(UnsafeBufferPointer(rebasing: cell[start..<end]))
}

/// The number a trimmed cell holds, as `Double(String)` reads it: plain
/// decimals (`-12.5`, `.5`, `7.`) with at most 15 significant digits are
/// computed exactly here (Clinger's fast path: an exact integer divided or
/// multiplied by an exact power of ten rounds once, correctly); anything else
/// (exponents, hex, `inf`, long mantissas) goes to the standard library.
@inline(__always)
func parseNumber(_ cell: UnsafeBufferPointer<UInt8>) -> Double? {
  var i = 0
  let n = cell.count
  guard n > 0 else { return nil }
  var negative = false
  if cell[0] == 0x2D || cell[0] == 0x2B { negative = cell[0] == 0x2D; i = 1 }
  var mantissa: UInt64 = 0, digits = 0, fraction = 0, sawPoint = false, simple = i < n
  while i < n {
    let c = cell[i]
    if c >= 0x30 && c <= 0x39 {
      if digits > 0 || c != 0x30 { digits += 1 }
      mantissa = mantissa &* 10 &+ UInt64(c - 0x30)
      if sawPoint { fraction += 1 }
    } else if c == 0x2E && !sawPoint {
      sawPoint = true
    } else {
      simple = false
      break
    }
    i += 1
  }
  let signed = cell[0] == 0x2D || cell[0] == 0x2B
  if simple && digits <= 15 && fraction <= 22 && !(sawPoint && n - (signed ? 1 : 0) == 1) {
    let value = Double(mantissa) / exactPowersOfTen[fraction]
    return negative ? -value : value
  }
  return Double(String(decoding: cell, as: UTF8.self))
}

/// 10^0 ... 10^22, each exact in a Double.
private let exactPowersOfTen: [Double] = (0...22).map { k in (0..<k).reduce(1.0) { a, _ in a * 10 } }

/// One source column as the rows stream past: whether every present cell is
/// a number (and an integer), its distinct values numbered, each row's code
/// and (while it may be numeric) value, and the first cell that rules
/// something out, for the error that names it.
struct ColumnAccumulator {
  static let missingCode = UInt16.max
  /// More distinct values than this cannot be one-hot features.
  static let maximumCategories = Int(UInt16.max) - 1

  let name: String
  let forced: ColumnKind?
  private(set) var interner = ByteInterner()
  /// Each row's code; empty once a numeric column outgrew the interner.
  private(set) var codes: [UInt16] = []
  private(set) var codesAbandoned = false
  /// Each row's number (NaN when missing) while every present cell is one.
  private(set) var values: [Double] = []
  private(set) var allNumeric: Bool
  private(set) var allIntegers = true
  private(set) var missingCount = 0
  /// The first (row, cell) that is a number but no float32 can hold.
  private(set) var firstNonFinite: (row: Int, cell: String)?
  /// The first row that is present and not a number, and its cell as written.
  private(set) var firstNonNumeric: (row: Int, cell: String)?
  /// Set when the column turned out categorical after its codes were given up.
  private(set) var tooManyCategories = false

  init(name: String, forced: ColumnKind?) {
    self.name = name
    self.forced = forced
    allNumeric = forced != .categorical
  }

  /// Adds row `row`'s cell (trimmed) to the column.
  @inline(__always)
  mutating func add(_ cell: UnsafeBufferPointer<UInt8>, raw: UnsafeBufferPointer<UInt8>, row: Int, missing: Bool) {
    if missing {
      missingCount += 1
      if !codesAbandoned { codes.append(Self.missingCode) }
      if allNumeric { values.append(.nan) }
      return
    }
    if allNumeric {
      if let v = parseNumber(cell) {
        // "inf", "nan" and 1e39 parse, but no float32 feature can hold them.
        if firstNonFinite == nil && !(v.isFinite && abs(v) <= Double(Float.greatestFiniteMagnitude)) {
          firstNonFinite = (row, String(decoding: cell, as: UTF8.self))
        }
        values.append(v)
        if allIntegers && v != v.rounded() { allIntegers = false }
      } else {
        allNumeric = false
        values = []
        firstNonNumeric = (row, String(decoding: raw, as: UTF8.self))
        if codesAbandoned { tooManyCategories = true }
      }
    }
    guard !codesAbandoned else { return }
    let code = interner.code(of: cell)
    if interner.count > Self.maximumCategories {
      // Many distinct numbers make a numeric column, whose codes are not
      // needed; many distinct words cannot be one-hot features.
      codesAbandoned = true
      codes = []
      interner = ByteInterner()
      if !allNumeric { tooManyCategories = true }
      return
    }
    codes.append(UInt16(code))
  }

  /// The distinct present values seen (at least 3 once the interner was given up).
  var distinctCount: Int { codesAbandoned ? Int.max : interner.count }
}

extension ColumnAccumulator {
  /// Whether row `row`'s cell was missing.
  func isMissing(_ row: Int) -> Bool {
    codesAbandoned ? values[row].isNaN : codes[row] == Self.missingCode
  }
}

/// Strings kept end to end (the ids of a million rows, an interner's keys)
/// without a String each.
struct PackedStrings {
  private var bytes: [UInt8] = []
  private var ends: [Int] = []

  var count: Int { ends.count }

  mutating func append(_ value: UnsafeBufferPointer<UInt8>) {
    bytes.append(contentsOf: value)
    ends.append(bytes.count)
  }

  @inline(__always)
  func withBytes<R>(_ k: Int, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
    let start = k == 0 ? 0 : ends[k - 1]
    return bytes.withUnsafeBufferPointer { body(UnsafeBufferPointer(rebasing: $0[start..<ends[k]])) }
  }

  func string(_ k: Int) -> String { withBytes(k) { String(decoding: $0, as: UTF8.self) } }
}

/// One streaming pass over a CSV export for `TableIngest`: the header
/// checked and its roles found, every row's label, id and cells gathered
/// column by column, the file's SHA-256, and the first row that breaks each
/// rule, so the errors come out in the order (and with the words) a whole
/// read would give.
struct TableScan {
  var header: [String] = []
  var labelIndex = 0
  var idIndex: Int?
  var featureIndices: [Int] = []
  var columns: [ColumnAccumulator] = []
  var labels: [Int32] = []
  var lines: [Int] = []
  var ids = PackedStrings()
  var firstUnknownLabel: (row: Int, value: String)?
  var firstDuplicateID: (row: Int, id: String, first: Int)?
  var sourceSHA256 = ""

  static func read(path: String, options: TableIngestOptions, classNames: [String], missingTokens: Set<String>) throws -> TableScan {
    var scan = TableScan()
    let config = options.config
    guard Set(classNames).count == classNames.count, classNames.count >= 2 else {
      throw DataError(path: path, message: "label classes \(classNames) must be at least two distinct values")
    }
    var classes = ByteInterner()
    for name in classNames { _ = Array(name.utf8).withUnsafeBufferPointer { classes.code(of: $0) } }
    // A handful of tokens: compared directly (the default, "", is a length check).
    let missing = missingTokens.map { Array($0.utf8) }
    let onlyEmptyIsMissing = missing == [[]]
    func isMissing(_ cell: UnsafeBufferPointer<UInt8>) -> Bool {
      if onlyEmptyIsMissing { return cell.isEmpty }
      return missing.contains { token in token.count == cell.count && token.elementsEqual(cell) }
    }
    var seenIDs = ByteInterner()
    var firstLineOfID: [Int] = []
    var hasher = SHA256()
    var sawHeader = false
    try CSVParser.stream(path: path, block: { hasher.update(bufferPointer: UnsafeRawBufferPointer($0)) }) { record in
      guard sawHeader else {
        sawHeader = true
        scan.header = try CSVTable.checkedHeader((0..<record.count).map(record.string), path: path)
        try scan.findRoles(path: path, options: options)
        scan.columns = scan.featureIndices.map { ColumnAccumulator(name: scan.header[$0], forced: config.kinds?[scan.header[$0]]) }
        return
      }
      let row = scan.labels.count
      guard record.count == scan.header.count else {
        throw CSVTable.ragged(path: path, line: record.line, row: row + 1, fields: record.count, header: scan.header.count)
      }
      scan.lines.append(record.line)
      let label: Int32 = record.withField(scan.labelIndex) { raw in
        trimmedCell(raw) { cell in
          if let code = classes.lookup(cell) { return Int32(code) }
          if scan.firstUnknownLabel == nil { scan.firstUnknownLabel = (row, String(decoding: cell, as: UTF8.self)) }
          return -1
        }
      }
      scan.labels.append(label)
      if let idIndex = scan.idIndex {
        record.withField(idIndex) { raw in
          scan.ids.append(raw)
          trimmedCell(raw) { cell in
            let known = seenIDs.count
            let code = seenIDs.code(of: cell)
            if code < known {
              if scan.firstDuplicateID == nil { scan.firstDuplicateID = (row, String(decoding: cell, as: UTF8.self), firstLineOfID[code]) }
            } else {
              firstLineOfID.append(row)
            }
          }
        }
      }
      for (k, index) in scan.featureIndices.enumerated() {
        record.withField(index) { raw in
          trimmedCell(raw) { cell in
            scan.columns[k].add(cell, raw: raw, row: row, missing: isMissing(cell))
          }
        }
      }
    }
    guard sawHeader else { throw DataError(path: path, message: "empty file, no header row") }
    scan.sourceSHA256 = hexString(hasher.finalize())
    return scan
  }

  /// The label, id, dropped and configured columns, each an error naming what the header has when absent.
  private mutating func findRoles(path: String, options: TableIngestOptions) throws(DataError) {
    let table = CSVTable(header: header, rows: [], lines: [])
    labelIndex = try table.column(options.labelColumn, path: path, role: "label")
    idIndex = try options.idColumn.map { name throws(DataError) in try table.column(name, path: path, role: "id") }
    let dropped = Set(options.config.drop ?? [])
    for name in dropped { _ = try table.column(name, path: path, role: "dropped") }
    for name in (options.config.kinds ?? [:]).keys { _ = try table.column(name, path: path, role: "configured") }
    featureIndices = header.indices.filter { $0 != labelIndex && $0 != idIndex && !dropped.contains(header[$0]) }
  }
}
