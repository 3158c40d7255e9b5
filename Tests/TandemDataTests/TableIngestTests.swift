import Foundation
import Testing
import TandemData

@Suite(.enabled(if: Fixtures.hasSharedData, "needs the real data of ../shared/data (or TANDEM_SHARED_DATA)"))
struct TableIngestTests {
  func ingest(_ csv: String, _ options: TableIngestOptions = Fixtures.telcoOptions()) throws -> (String, IngestSummary) {
    let path = Fixtures.folder() + "/churn.h5"
    return (path, try TableIngest.run(csv: csv, output: try AtomicOutput(path: path, replacing: false), options: options))
  }

  /// A copy of the Telco CSV with `edit` applied to its lines.
  func editedTelco(_ edit: (inout [String]) -> Void) throws -> String {
    var lines = try String(contentsOfFile: Fixtures.telcoCSV, encoding: .utf8).components(separatedBy: "\r\n")
    edit(&lines)
    let path = Fixtures.folder() + "/telco.csv"
    try lines.joined(separator: "\r\n").write(toFile: path, atomically: true, encoding: .utf8)
    return path
  }

  @Test func telcoHas7043RowsAndTheExpectedSchema() throws {
    let reader = try DatasetReader(path: try Fixtures.telcoDataset.path)
    #expect(reader.kind == .table)
    #expect(reader.count == 7043)
    #expect(reader.sampleShape == [46])
    #expect(reader.classNames == ["No", "Yes"])
    #expect(reader.classCounts() == [5174, 1869])
    let file = try HDF5File(readingAt: try Fixtures.telcoDataset.path)
    let order = try #require(try file.attribute("column_order", on: "/columns")?.stringsValue)
    #expect(order.count == 19 && !order.contains("customerID") && !order.contains("Churn"))
    var numeric: [String] = []
    for name in order where try file.attribute("kind", on: "/columns/\(name)")?.stringValue == "numeric" { numeric.append(name) }
    #expect(numeric == ["tenure", "MonthlyCharges", "TotalCharges"])
    #expect(try file.attribute("categories", on: "/columns/SeniorCitizen")?.stringsValue == ["0", "1"])
    #expect(try file.attribute("categories", on: "/columns/Contract")?.stringsValue == ["Month-to-month", "One year", "Two year"])
    #expect(try file.attribute("missing_count", on: "/columns/TotalCharges")?.intValue == 11)
    let ids = try file.dataset("/ids").readStrings()
    #expect(ids.first == "7590-VHVEG" && Set(ids).count == 7043)
    let names = try file.dataset("/feature_names").readStrings()
    #expect(names.contains("Contract=Two year") && names.contains("tenure"))
  }

  @Test func splitIsStratifiedAndStatisticsStandardiseTheTrainSplit() throws {
    let reader = try DatasetReader(path: try Fixtures.telcoDataset.path)
    let counts = reader.sampleCounts()
    #expect(counts[.test] == 1409 && counts[.validation] == 704 && counts[.train] == 4930)
    let train = reader.indices(in: .train)
    let yesShare = Double(reader.classCounts(in: .train)[1]) / Double(train.count)
    #expect(abs(yesShare - 1869.0 / 7043) < 0.002)
    let batch = try reader.batch(indices: train)
    let names = try HDF5File(readingAt: reader.path).dataset("/feature_names").readStrings()
    for name in ["tenure", "MonthlyCharges", "TotalCharges"] {
      let j = names.firstIndex(of: name)!
      let column = (0..<train.count).map { Double(batch.input.scalars[$0 * 46 + j]) }
      let mean = column.reduce(0, +) / Double(column.count)
      let std = (column.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(column.count)).squareRoot()
      #expect(abs(mean) < 1e-4 && abs(std - 1) < 1e-4, "\(name): mean \(mean) std \(std)")
    }
    // One-hot features stay 0/1 and each categorical column sums to 1 per row.
    let contract = (0..<names.count).filter { names[$0].hasPrefix("Contract=") }
    for b in 0..<20 { #expect(contract.map { batch.input.scalars[b * 46 + $0] }.reduce(0, +) == 1) }
    #expect(batch.labels == train.map { reader.primaryLabels[$0] })
  }

  @Test func hashIsStableAcrossIngestsAndChangesWithOneCell() throws {
    let (again, summary) = try ingest(Fixtures.telcoCSV)
    #expect(try summary.contentSHA256 == Fixtures.telcoDataset.hash)
    #expect(try DatasetInspection.verify(path: again).matches)
    let edited = try editedTelco { lines in lines[4] = lines[4].replacingOccurrences(of: ",42.3,", with: ",42.4,") }
    #expect(try String(contentsOfFile: edited, encoding: .utf8) != (try String(contentsOfFile: Fixtures.telcoCSV, encoding: .utf8)))
    let (_, changed) = try ingest(edited)
    #expect(try changed.contentSHA256 != Fixtures.telcoDataset.hash)
  }

  @Test func configOverridesKindsAndMissingPolicy() throws {
    var options = Fixtures.telcoOptions()
    options.config.kinds = ["SeniorCitizen": .numeric]
    options.config.missing = .init(numeric: "drop-row", categorical: nil, columns: nil)
    let (path, summary) = try ingest(Fixtures.telcoCSV, options)
    #expect(summary.count == 7032)
    let reader = try DatasetReader(path: path)
    #expect(reader.sampleShape == [45])

    options.config.missing = .init(numeric: "mean", categorical: nil, columns: ["TotalCharges": "zero"])
    let (zeroPath, _) = try ingest(Fixtures.telcoCSV, options)
    let file = try HDF5File(readingAt: zeroPath)
    let features = try file.dataset("/features").readAll(as: Float.self)
    let names = try file.dataset("/feature_names").readStrings()
    let tenure = names.firstIndex(of: "tenure")!, total = names.firstIndex(of: "TotalCharges")!
    let d = names.count
    let blanks = (0..<7043).filter { features[$0 * d + tenure] == 0 }
    #expect(blanks.count == 11)
    #expect(blanks.allSatisfy { features[$0 * d + total] == 0 })

    options.config.missing = .init(numeric: "error", categorical: nil, columns: nil)
    let error = #expect(throws: DataError.self) { try ingest(Fixtures.telcoCSV, options) }
    #expect(error?.description.contains("missing value in column 'TotalCharges'") == true)
  }

  @Test func unknownLabelValueNamesFileAndLine() throws {
    let edited = try editedTelco { lines in lines[3] = String(lines[3].dropLast(3)) + "Maybe" }
    let folder = Fixtures.folder()
    let error = #expect(throws: DataError.self) {
      try TableIngest.run(csv: edited, output: try AtomicOutput(path: folder + "/out.h5", replacing: false),
                          options: Fixtures.telcoOptions())
    }
    #expect(error?.description == "\(edited): line 4 (row 3): unknown label value 'Maybe' in column 'Churn' (expected No or Yes)")
    #expect(Fixtures.contents(folder).isEmpty)
  }

  @Test func missingLabelColumnIsAnError() throws {
    var options = Fixtures.telcoOptions()
    options.labelColumn = "Churned"
    let error = #expect(throws: DataError.self) { try ingest(Fixtures.telcoCSV, options) }
    #expect(error?.description.hasPrefix("\(Fixtures.telcoCSV): no label column 'Churned'") == true)
  }
}
