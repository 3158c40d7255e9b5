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
