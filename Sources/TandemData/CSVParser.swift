import Foundation
import TandemSystem

/// The one CSV reader: RFC 4180 quoting (`"a,b"`, `""` for a quote inside),
/// LF or CRLF line ends, an optional UTF-8 byte-order mark, blank lines
/// skipped. It is fed the file in blocks of any size and hands each record to
/// a callback as byte ranges, so a file of any length streams through in
/// bounded memory, and `CSVTable` (small files, whole) reads through it too.
///
/// CSV is UTF-8 text: a NUL byte (binary data) or bytes that are not UTF-8
/// (Latin-1, say) would otherwise be cut or turned into U+FFFD silently, and a
/// file with carriage returns but no line feeds has old Mac line ends; each
/// is an error naming its line. UTF-8 is validated only in blocks that hold a
/// non-ASCII byte (the Telco file and most tables have none).
struct CSVParser {
  /// One record: the fields' bytes laid end to end, and where each ends.
  struct Record {
    fileprivate(set) var bytes: [UInt8] = []
    fileprivate(set) var ends: [Int] = []
    /// The line the record starts on (1-based).
    fileprivate(set) var line = 1

    var count: Int { ends.count }

    /// Field `k`'s bytes.
    @inline(__always)
    func withField<R>(_ k: Int, _ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
      let start = k == 0 ? 0 : ends[k - 1]
      return try bytes.withUnsafeBufferPointer { try body(UnsafeBufferPointer(rebasing: $0[start..<ends[k]])) }
    }

    /// Field `k` as text, exactly as in the file (quotes removed).
    func string(_ k: Int) -> String { withField(k) { String(decoding: $0, as: UTF8.self) } }

    fileprivate var isBlank: Bool { ends.count == 1 && ends[0] == 0 }
  }

  let path: String
  private var record = Record()
  private var line = 1
  private var inQuotes = false, quotedField = false, fieldEmpty = true
  private var pendingCR = false
  private var started = false
  private var sawLineFeed = false, sawCarriageReturn = false
  /// Bytes after the last line feed of a block that held non-ASCII bytes, not yet validated as UTF-8.
  private var unvalidated: [UInt8] = []
  private var unvalidatedLine = 1

  init(path: String) { self.path = path }

  /// Parses `block`, the next bytes of the file, calling `body` with each complete record.
  mutating func feed(_ block: UnsafeBufferPointer<UInt8>, _ body: (Record) throws -> Void) throws {
    var i = 0
    let n = block.count
    if !started {
      started = true
      if n >= 3 && block[0] == 0xEF && block[1] == 0xBB && block[2] == 0xBF { i = 3 }
    }
    let blockLine = line
    var nonASCII = false
    while i < n {
      // Plain bytes go in runs: only , " CR LF NUL and non-ASCII bytes need a look each.
      if !pendingCR && !pendingQuote {
        var j = i
        if inQuotes {
          while j < n { let c = block[j]; if c == 0x22 || c == 0x0A || c == 0x0D || c == 0 || c >= 0x80 { break }; j += 1 }
        } else {
          while j < n { let c = block[j]; if c == 0x2C || c == 0x22 || c == 0x0A || c == 0x0D || c == 0 || c >= 0x80 { break }; j += 1 }
        }
        if j > i {
          record.bytes.append(contentsOf: UnsafeBufferPointer(rebasing: block[i..<j]))
          fieldEmpty = false
          i = j
          if i == n { break }
        }
      }
      let c = block[i]
      i += 1
      if c >= 0x80 { nonASCII = true }
      if pendingCR {
        pendingCR = false
        if c != 0x0A { appendField(0x0D) }
      }
      if inQuotes {
        switch c {
        case 0x22:  // "
          if i < n {
            if block[i] == 0x22 { appendField(0x22); i += 1 } else { inQuotes = false }
          } else {
            inQuotes = false
            pendingQuote = true
          }
        case 0x0A:
          sawLineFeed = true
          line += 1
          appendField(c)
        case 0: throw nulByte()
        default:
          if c == 0x0D { sawCarriageReturn = true }
          appendField(c)
        }
        continue
      }
      if pendingQuote {
        // A quote that closed a block: a second quote opening the next one was an escaped quote.
        pendingQuote = false
        if c == 0x22 { inQuotes = true; appendField(0x22); continue }
      }
      switch c {
      case 0x2C:  // ,
        endField()
      case 0x22:
        guard fieldEmpty && !quotedField else {
          throw DataError(path: path, message: "line \(line): stray quote inside an unquoted field")
        }
        inQuotes = true
        quotedField = true
      case 0x0D:
        sawCarriageReturn = true
        if i < n {
          if block[i] != 0x0A { appendField(c) }  // the \n that follows ends the record
        } else {
          pendingCR = true
        }
      case 0x0A:
        sawLineFeed = true
        try endRecord(body)
        line += 1
        record.line = line
      case 0: throw nulByte()
      default:
        appendField(c)
      }
    }
    if nonASCII || !unvalidated.isEmpty { try validateUTF8(block, firstLine: blockLine) }
  }

  /// Ends the file: the last record (with no line end), and the checks that need the whole file.
  mutating func finish(_ body: (Record) throws -> Void) throws {
    if pendingCR { pendingCR = false; appendField(0x0D) }
    pendingQuote = false
    if inQuotes { throw DataError(path: path, message: "line \(record.line): quoted field never closed") }
    if !unvalidated.isEmpty {
      try unvalidated.withUnsafeBufferPointer { block throws in
        guard String(validating: block, as: UTF8.self) != nil else { throw notUTF8(line: unvalidatedLine) }
      }
    }
    if !sawLineFeed && sawCarriageReturn {
      throw DataError(path: path, message: "lines end in CR only (old Mac text): convert them to LF or CRLF")
    }
    if !fieldEmpty || !record.ends.isEmpty { try endRecord(body) }
  }

  private var pendingQuote = false

  @inline(__always)
  private mutating func appendField(_ c: UInt8) {
    record.bytes.append(c)
    fieldEmpty = false
  }

  @inline(__always)
  private mutating func endField() {
    record.ends.append(record.bytes.count)
    fieldEmpty = true
    quotedField = false
  }

  private mutating func endRecord(_ body: (Record) throws -> Void) throws {
    endField()
    if !record.isBlank { try body(record) }
    record.bytes.removeAll(keepingCapacity: true)
    record.ends.removeAll(keepingCapacity: true)
  }

  private func nulByte() -> DataError {
    DataError(path: path, message: "line \(line): a NUL byte: binary data, not CSV text")
  }

  private func notUTF8(line: Int) -> DataError {
    DataError(path: path, message: "line \(line): not UTF-8 text (re-encode the file as UTF-8, e.g. iconv -f LATIN1 -t UTF-8)")
  }

  /// Validates this block's complete lines (with what earlier blocks left
  /// over); bytes after its last line feed wait for the next block.
  private mutating func validateUTF8(_ block: UnsafeBufferPointer<UInt8>, firstLine: Int) throws {
    var pending = unvalidated
    var lineOfPending = unvalidated.isEmpty ? firstLine : unvalidatedLine
    guard let lastLineFeed = block.lastIndex(of: 0x0A) else {
      // No line ends here: a character may continue into the next block.
      if unvalidated.isEmpty { unvalidatedLine = line }
      unvalidated.append(contentsOf: block)
      return
    }
    let upTo = lastLineFeed + 1
    pending.append(contentsOf: block[..<upTo])
    // Line by line, so the error names the first bad line.
    if String(validating: pending, as: UTF8.self) == nil {
      var start = 0
      for end in pending.indices where pending[end] == 0x0A {
        if String(validating: pending[start...end], as: UTF8.self) == nil { throw notUTF8(line: lineOfPending) }
        lineOfPending += 1
        start = end + 1
      }
      throw notUTF8(line: lineOfPending)
    }
    // The bytes after the last line feed are on the line the parser has reached.
    unvalidated = Array(block[upTo...])
    unvalidatedLine = line
  }
}

extension CSVParser {
  /// Streams the file at `path` through a parser in blocks of `blockSize`
  /// bytes, calling `block` with each raw block first (to hash it) and
  /// `body` with each record. Only regular files are read: a FIFO or device
  /// would block or never end.
  static func stream(path: String, blockSize: Int = 4 << 20, block: (UnsafeBufferPointer<UInt8>) -> Void = { _ in },
                     _ body: (Record) throws -> Void) throws {
    let file: SystemFile
    do { file = try openRegularFile(path).file } catch { throw DataError(path: path, message: error.message) }
    var parser = CSVParser(path: path)
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: blockSize, alignment: 64)
    defer { buffer.deallocate() }
    var total = 0
    while true {
      let n: Int
      do { n = try file.read(into: buffer) } catch { throw DataError(path: path, message: "cannot read: \(error)") }
      if n == 0 { break }
      total += n
      let bytes = UnsafeBufferPointer(start: buffer.baseAddress!.assumingMemoryBound(to: UInt8.self), count: n)
      block(bytes)
      try parser.feed(bytes, body)
    }
    guard total > 0 else { throw DataError(path: path, message: "empty file") }
    try parser.finish(body)
  }
}
