import Foundation
import Testing
import TandemData

/// Inputs a hostile or careless user sends: each is refused with one line
/// naming the file and the place, never ingested into something wrong.
@Suite struct HostileCSVTests {
  func ingest(_ text: String, bytes: [UInt8]? = nil, id: String? = "id") -> String {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tandem-hostile-\(UUID().uuidString)").path
    try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    let csv = folder + "/t.csv"
    FileManager.default.createFile(atPath: csv, contents: Data(bytes ?? Array(text.utf8)))
    var options = TableIngestOptions()
    options.labelColumn = "y"
    options.idColumn = id
    do {
      _ = try TableIngest.run(csv: csv, output: try AtomicOutput(path: folder + "/t.h5", replacing: false), options: options)
      return "ingested"
    } catch {
      return "\(error)".replacingOccurrences(of: csv, with: "t.csv")
    }
  }

  /// Twenty rows of a valid table, the label alternating.
  func rows(_ edit: (Int) -> String? = { _ in nil }) -> String {
    "id,x,c,y\n" + (0..<20).map { i in edit(i) ?? "r\(i),\(Double(i) * 1.5),\(i % 3 == 0 ? "a" : "b"),\(i % 2 == 0 ? "Yes" : "No")" }
      .joined(separator: "\n") + "\n"
  }

  @Test func aValidTableIngests() { #expect(ingest(rows()) == "ingested") }

  @Test func nonFiniteAndUnrepresentableNumbersAreRefusedWithTheirLine() {
    for bad in ["inf", "nan", "-Infinity", "1e39"] {
      let message = ingest(rows { $0 == 7 ? "r7,\(bad),a,No" : nil })
      #expect(message == "t.csv: line 9 (row 8): column 'x' holds '\(bad)', which is not a finite 32-bit number", "\(bad): \(message)")
    }
  }

  @Test func aNULByteAndLatin1BytesAreRefusedNotSilentlyChanged() {
    var nul = Array(rows().utf8)
    nul[nul.firstIndex(of: UInt8(ascii: "r"))! + 40] = 0
    #expect(ingest("", bytes: nul).hasPrefix("t.csv: line 5: a NUL byte"), "\(ingest("", bytes: nul))")
    var latin1 = Array(rows().utf8)
    latin1.insert(0xE9, at: latin1.lastIndex(of: UInt8(ascii: "a"))!)  // 'é' in Latin-1
    #expect(ingest("", bytes: latin1).contains("not UTF-8 text"), "\(ingest("", bytes: latin1))")
  }

  @Test func carriageReturnsOnlyEmptyFilesAndDuplicateColumnsHaveTheirOwnMessage() {
    #expect(ingest(rows().replacingOccurrences(of: "\n", with: "\r")) == "t.csv: lines end in CR only (old Mac text): convert them to LF or CRLF")
    #expect(ingest("", bytes: []) == "t.csv: empty file")
    #expect(ingest(rows().replacingOccurrences(of: "id,x,c,y", with: "id,x,x,y")) == "t.csv: line 1: columns 2 and 3 are both named 'x'")
  }

  @Test func aSingleClassLabelColumnIsRefused() {
    let message = ingest(rows { "r\($0),\($0),a,No" })
    #expect(message == "t.csv: column 'y' holds only 'No': a classifier needs examples of every class (No, Yes)", "\(message)")
  }

  @Test func duplicatedIdsAreRefusedBeforeTheyLeakAcrossSplits() {
    let message = ingest(rows { $0 == 12 ? "r3,1,a,No" : nil })
    #expect(message == "t.csv: line 14 (row 13): id 'r3' appears again (first on line 5): duplicated rows would leak across the splits",
            "\(message)")
  }
}

@Suite struct HostileImageFolderTests {
  func folder(_ classes: [String]) throws -> String {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("tandem-classes-\(UUID().uuidString)").path
    for c in classes { try FileManager.default.createDirectory(atPath: root + "/" + c, withIntermediateDirectories: true) }
    for c in classes { FileManager.default.createFile(atPath: root + "/\(c)/a.png", contents: Data([1, 2, 3])) }
    return root
  }

  @Test func normalIsTheNegativeClassWhateverTheOtherFolderIsCalled() throws {
    let (classes, _) = try ImageIngest.scan(try folder(["ABNORMAL", "NORMAL"]))
    #expect(classes == ["NORMAL", "ABNORMAL"])
  }

  @Test func aThirdClassFolderOrNoNormalFolderIsRefusedAtIngest() throws {
    let three = try folder(["NORMAL", "PNEUMONIA", "COVID"])
    #expect(throws: DataError.self) { try ImageIngest.scan(three) }
    do { _ = try ImageIngest.scan(three) } catch {
      #expect(error.message.contains("3 class folder(s)") && error.message.contains("exactly two"), "\(error)")
    }
    do { _ = try ImageIngest.scan(try folder(["healthy", "sick"])) ; Issue.record("no NORMAL folder was accepted") } catch {
      #expect("\(error)".contains("no NORMAL class folder among healthy, sick"), "\(error)")
    }
  }
}

/// The streaming ingest's own limits and its number reading.
@Suite struct TableIngestStreamingTests {
  func ingest(_ csv: String) throws -> (path: String, error: String?) {
    let folder = Fixtures.folder()
    try csv.write(toFile: folder + "/t.csv", atomically: true, encoding: .utf8)
    var options = TableIngestOptions()
    options.labelColumn = "y"
    options.idColumn = "id"
    do {
      _ = try TableIngest.run(csv: folder + "/t.csv", output: try AtomicOutput(path: folder + "/t.h5", replacing: false), options: options)
      return (folder + "/t.h5", nil)
    } catch {
      return (folder + "/t.h5", "\(error)".replacingOccurrences(of: folder + "/t.csv", with: "t.csv"))
    }
  }

  /// A free-text column of 70,000 distinct values cannot be one-hot features:
  /// one line that says so and what to do, not a 70,000-wide table.
  @Test func aColumnWithTooManyCategoriesIsRefused() throws {
    let csv = "id,note,y\n" + (0..<70_000).map { "r\($0),note \($0),\($0 % 2 == 0 ? "Yes" : "No")" }.joined(separator: "\n") + "\n"
    let (_, error) = try ingest(csv)
    #expect(error == "t.csv: column 'note' has more than 65534 distinct values: too many to one-hot "
            + "(drop it with the config's \"drop\", or name it with --id)", "\(String(describing: error))")
  }

  /// Numbers are read without a String per cell; each must come out as
  /// `Double(String)` reads it, rounded once to float32.
  @Test func numbersAreReadAsTheStandardLibraryReadsThem() throws {
    var state: UInt64 = 11
    func next() -> UInt64 { state = state &* 6364136223846793005 &+ 1442695040888963407; return state >> 20 }
    var cells: [String] = ["0", "-0", ".5", "5.", "+3", "007", "0.1", "0.30000000000000004", "123456789012345678",
                           "1e5", "-2.5E-3", "9007199254740993", "0.000000000000000000000001", "  42  "]
    for _ in 0..<400 {
      let digits = String(next() % 1_000_000_000_000_000)
      let point = Int(next() % UInt64(digits.count + 1))
      let text = String(digits.prefix(point)) + "." + String(digits.dropFirst(point))
      cells.append(next() % 2 == 0 ? text : "-" + text)
    }
    let csv = "id,x,y\n" + cells.enumerated().map { "r\($0.offset),\($0.element),\($0.offset % 2 == 0 ? "Yes" : "No")" }
      .joined(separator: "\n") + "\n"
    let (path, error) = try ingest(csv)
    #expect(error == nil, "\(String(describing: error))")
    let features = try HDF5File(readingAt: path).dataset("/features").readAll(as: Float.self)
    #expect(features.count == cells.count)
    for (k, cell) in cells.enumerated() {
      let expected = Float(try #require(Double(cell.trimmingCharacters(in: .whitespaces))))
      #expect(features[k].bitPattern == expected.bitPattern, "'\(cell)': \(features[k]) vs \(expected)")
    }
  }
}

/// A table small enough is read once and batches are gathered from memory:
/// the batches must be the very bits the row-by-row reads give.
@Test func aTableInMemoryGivesTheBatchesOfRowByRowReads() throws {
  let folder = Fixtures.folder()
  let csv = "id,x,z,c,y\n" + (0..<500).map { i in
    "r\(i),\(Double(i) * 0.37 - 40),\(i % 7 == 0 ? "" : String(i % 11)),\(["a", "b", "c"][i % 3]),\(i % 3 == 0 ? "Yes" : "No")"
  }.joined(separator: "\n") + "\n"
  try csv.write(toFile: folder + "/t.csv", atomically: true, encoding: .utf8)
  var options = TableIngestOptions()
  options.labelColumn = "y"
  options.idColumn = "id"
  _ = try TableIngest.run(csv: folder + "/t.csv", output: try AtomicOutput(path: folder + "/t.h5", replacing: false), options: options)
  let memory = try DatasetReader(path: folder + "/t.h5"), rows = try DatasetReader(path: folder + "/t.h5", tableCacheBytes: 0)
  // The finiteness check reads the table once and leaves it in memory for the batches.
  #expect(try memory.firstNonFiniteFeature() == nil && rows.firstNonFiniteFeature() == nil)
  for indices in [[0, 1, 2], [499, 3, 3, 250, 17], Array((0..<500).reversed()), [42]] {
    let a = try memory.batch(indices: indices), b = try rows.batch(indices: indices)
    #expect(a.input.shape == b.input.shape && a.labels == b.labels)
    #expect(a.input.scalars.map(\.bitPattern) == b.input.scalars.map(\.bitPattern))
  }
}
