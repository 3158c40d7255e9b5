import Foundation
import Testing
import TandemData

@Suite struct CSVTests {
  @Test func parsesQuotesCRLFAndByteOrderMark() throws {
    let text = "\u{FEFF}id,name,note\r\n1,\"Smith, J\",\"said \"\"hi\"\"\"\r\n2,Lee,\"two\nlines\"\r\n\r\n"
    let table = try CSVTable(bytes: Array(text.utf8), path: "t.csv")
    #expect(table.header == ["id", "name", "note"])
    #expect(table.rows == [["1", "Smith, J", "said \"hi\""], ["2", "Lee", "two\nlines"]])
    #expect(table.lines == [2, 3])
  }

  @Test func raggedRowIsAnErrorNamingFileAndLine() {
    let text = "a,b,c\n1,2,3\n4,5\n"
    let error = #expect(throws: DataError.self) { try CSVTable(bytes: Array(text.utf8), path: "bad.csv") }
    #expect(error?.description == "bad.csv: line 3 (row 2): ragged row: 2 fields, the header has 3")
  }

  @Test func unclosedQuoteIsAnError() {
    #expect(throws: DataError.self) { try CSVTable(bytes: Array("a,b\n1,\"x\n".utf8), path: "q.csv") }
  }
}

/// The streaming parser sees a file in blocks of any size: every record,
/// field, line number and error must come out as from one whole read, even
/// where a block ends inside a quote, between CR and LF, or mid-character.
@Suite struct StreamingCSVTests {
  func write(_ bytes: [UInt8]) throws -> String {
    let path = Fixtures.folder() + "/s.csv"
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    return path
  }

  func outcome(_ body: () throws -> CSVTable) -> String {
    do {
      let table = try body()
      return "\(table.header) \(table.rows) \(table.lines)"
    } catch {
      return "\(error)".replacingOccurrences(of: "bytes.csv", with: "FILE")
    }
  }

  @Test(arguments: [
    "\u{FEFF}id,name,note\r\n1,\"Smith, J\",\"said \"\"hi\"\"\"\r\n2,Lee,\"two\nlines\"\r\n\r\n3,Zoë,\"é\"\"\",\r\n",
    "a,b\n\"x\"\"\",\"\"\"y\"\n\n\n1,2",
    "a,b\r\n1,\"2\r\n3\"\r\n4,5\r",
    "a,b\n1,2\n3,4,5\n",
    "a,b\n1,x\"y\n",
    "a,b\n1,\"open\n",
    "a,b\n1,\u{0}\n",
  ])
  func everyBlockSizeGivesTheWholeReadsTable(text: String) throws {
    let bytes = Array(text.utf8)
    let path = try write(bytes)
    let whole = outcome { try CSVTable(bytes: bytes, path: path) }
    for blockSize in [1, 2, 3, 5, 7, 64] {
      #expect(outcome { try CSVTable(contentsOf: path, blockSize: blockSize) } == whole, "block size \(blockSize)")
    }
  }

  @Test func invalidUTF8IsFoundOnItsLineAcrossBlocks() throws {
    var bytes = Array("a,b\n1,ok\n2,é\n".utf8)
    bytes += [0x33, 0x2C, 0xE9, 0x0A]  // Latin-1 é on line 4
    let path = try write(bytes)
    for blockSize in [1, 2, 3, 4, 1 << 20] {
      let error = #expect(throws: DataError.self) { try CSVTable(contentsOf: path, blockSize: blockSize) }
      #expect(error?.message.hasPrefix("line 4: not UTF-8 text") == true, "block size \(blockSize): \(String(describing: error))")
    }
  }
}
