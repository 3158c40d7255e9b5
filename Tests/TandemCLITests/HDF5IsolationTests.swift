import Foundation
import Testing
import TandemTestSupport

/// libhdf5 1.10 segfaults on some corrupted object headers, inside the
/// library. Every file Tandem opens for reading is therefore first read whole
/// by a child process; these tests drive the real binary.
@Suite struct HDF5IsolationTests {
  /// A table dataset whose byte 28112 (in an object header) went from 0x00 to
  /// 0x80: found by the metadata fuzzer below, it crashes libhdf5 when read.
  static let corrupt = TandemProcess.packageRoot.appendingPathComponent("Tests/TandemCLITests/Resources/corrupt-object-header.h5").path

  @Test func aFileThatCrashesTheHDF5LibraryIsRefusedInOneLine() throws {
    let refused = try TandemProcess.run(["dataset", "inspect", Self.corrupt], timeout: 60)
    #expect(refused.status == 1, "\(refused)")
    #expect(tandemLines(refused.stderr) == ["tandem: \(Self.corrupt): corrupt HDF5 metadata: the HDF5 library crashed reading this file (signal 11) in an isolated check; the file was not used"],
            "\(refused)")
    // The fixture still means what it says: read in-process, the library crashes.
    let unguarded = try TandemProcess.run(["dataset", "inspect", Self.corrupt], timeout: 60,
                                          environment: ["TANDEM_HDF5_ISOLATION": "off", "SWIFT_BACKTRACE": "enable=no"])
    #expect(unguarded.status != 0 && unguarded.status != 1 && !unguarded.stderr.contains("tandem: "), "\(unguarded)")
  }

  /// Byte mutations anywhere in a dataset file, metadata included: every
  /// command ends with exit 0, or 1 and one line; no signal, no hang.
  @Test func mutatedHDF5FilesNeverCrashOrHang() throws {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tandem-hdf5-fuzz-\(getpid())").path
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    let csv = TandemProcess.packageRoot.appendingPathComponent("Data/sample/telco/WA_Fn-UseC_-Telco-Customer-Churn.csv").path
    let rows = try String(contentsOfFile: csv, encoding: .utf8).components(separatedBy: "\r\n").prefix(60)
    try rows.joined(separator: "\n").write(toFile: folder + "/small.csv", atomically: true, encoding: .utf8)
    let ingested = try TandemProcess.run(["ingest", "csv", folder + "/small.csv", "--out", folder + "/t.h5", "--label", "Churn", "--id", "customerID"])
    #expect(ingested.status == 0, "\(ingested)")
    let base = Array(try Data(contentsOf: URL(fileURLWithPath: folder + "/t.h5")))
    let iterations = ProcessInfo.processInfo.environment["TANDEM_FUZZ_ITERATIONS"].flatMap(Int.init).map { max(1, $0 / 20) } ?? 60
    var state: UInt64 = 0x9e37_79b9_7f4a_7c15
    func next(_ bound: Int) -> Int {
      state &+= 0x9e37_79b9_7f4a_7c15
      var z = state
      z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
      z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
      return Int((z ^ (z >> 31)) % UInt64(bound))
    }
    var refused = 0
    for iteration in 0..<iterations {
      var bytes = base
      for _ in 0...next(6) {
        let at = next(bytes.count)
        bytes[at] = next(2) == 0 ? bytes[at] ^ UInt8(1 << next(8)) : [0xFF, 0x7F, 0x80, 0x00, 0x07][next(5)]
      }
      let path = folder + "/m\(iteration % 4).h5"
      try Data(bytes).write(to: URL(fileURLWithPath: path))
      let run = try TandemProcess.run(["dataset", "inspect", path], timeout: 120, environment: ["SWIFT_BACKTRACE": "enable=no"])
      #expect(run.status == 0 || (run.status == 1 && run.stderr.split(separator: "\n").count == 1 && run.stderr.hasPrefix("tandem: \(path): ")),
              "iteration \(iteration): \(run)")
      if run.status == 1 { refused += 1 }
    }
    #expect(refused > 0, "no mutation was refused: the mutations are too mild to test anything")
  }
}
