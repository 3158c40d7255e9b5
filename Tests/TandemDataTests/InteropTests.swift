import Foundation
import Testing
import TandemData

/// h5py, with no Tandem code, reads what Tandem wrote.
@Suite(.enabled(if: Fixtures.hasSharedData && Python.hasH5py, "needs ../shared/data and h5py"))
struct InteropTests {
  @Test func h5pyReadsTheSameShapesLabelsAndPixels() throws {
    let images = try Fixtures.xrayDataset.path, table = try Fixtures.telcoDataset.path
    let script = Fixtures.packageRoot + "/Tests/TandemDataTests/interop.py"
    let (status, output) = try Python.run(["python3", script, images, table])
    #expect(status == 0, "\(output)")
    let parsed = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [[String: Any]])
    #expect(parsed.count == 2)
    let py = parsed[0], pyTable = parsed[1]

    let reader = try DatasetReader(path: images)
    #expect(py["kind"] as? String == "images")
    #expect(try py["content_sha256"] as? String == Fixtures.xrayDataset.hash)
    let shapes = try #require(py["shapes"] as? [String: [Int]])
    #expect(shapes["/images"] == [5216, 128, 128])
    #expect(shapes["/labels"] == [5216] && shapes["/patient"] == [5216] && shapes["/source/sha256"] == [5216])
    #expect(py["label_counts"] as? [Int] == reader.classCounts())
    #expect(py["subtype_counts"] as? [Int] == [1341, 2530, 1345])
    #expect(py["split_counts"] as? [Int] == Split.allCases.map { s in reader.splits.filter { $0 == s }.count })
    #expect(py["labels"] as? [Int] == reader.primaryLabels.prefix(20).map(Int.init))
    #expect(py["class_names"] as? [String] == ["NORMAL", "PNEUMONIA"])
    let raw = try reader.rawImages(indices: [0, 100, 5215])
    let expectedPixels = [raw[0], raw[64 * 128 + 64], raw[16384 + 10 * 128 + 90], raw[2 * 16384 + 127 * 128 + 127]].map(Int.init)
    #expect(py["pixels"] as? [Int] == expectedPixels)
    let patients = try HDF5File(readingAt: images).dataset("/patient").readStrings()
    #expect(py["patients"] as? [String] == Array(patients.prefix(3)))
    #expect(abs((py["pixel_mean"] as? Double ?? 0) - Double(reader.mean[0])) < 1e-6)
    #expect(py["source_files"] as? [String] == ["NORMAL/IM-0115-0001.jpeg", "NORMAL/IM-0117-0001.jpeg"])

    let file = try HDF5File(readingAt: table)
    #expect(pyTable["kind"] as? String == "table")
    #expect((pyTable["shapes"] as? [String: [Int]])?["/features"] == [7043, 46])
    #expect(pyTable["label_counts"] as? [Int] == [5174, 1869])
    let firstRow = try file.dataset("/features").readAll(as: Float.self).prefix(46).map(Double.init)
    // Foundation's JSON parser on Linux can be off in the last digits, hence the tolerance.
    func close(_ a: [Double]?, _ b: [Double]) -> Bool {
      guard let a, a.count == b.count else { return false }
      return zip(a, b).allSatisfy { abs($0 - $1) <= 1e-9 * max(1, abs($1)) }
    }
    #expect(close(pyTable["first_row"] as? [Double], firstRow))
    #expect(close(pyTable["feature_std"] as? [Double], try file.dataset("/feature_std").readAll(as: Float.self).map(Double.init)))
    #expect(pyTable["ids"] as? [String] == ["7590-VHVEG", "5575-GNVDE", "3668-QPYBK"])
    #expect(pyTable["contract_categories"] as? [String] == ["Month-to-month", "One year", "Two year"])
  }
}

enum Python {
  static let hasH5py: Bool = (try? run(["python3", "-c", "import h5py"]))?.status == 0

  static func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
  }
}
