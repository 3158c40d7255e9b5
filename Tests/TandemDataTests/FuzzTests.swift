import Foundation
import Testing
import TandemData

/// Seeded mutation fuzzing of every parser that reads outside input: CSV,
/// the image decoders and the HDF5 dataset reader (the run-file parser's
/// is in TandemTrainingTests). Each mutated input must parse or fail with a
/// typed error; a trap or a hang fails the suite. CI runs a short round;
/// `TANDEM_FUZZ_ITERATIONS=100000 swift test -c release --filter Fuzz` runs a
/// long one (docs/data-format.md). Inputs that once crashed stay below as
/// regression cases.
enum Fuzz {
  static let iterations = ProcessInfo.processInfo.environment["TANDEM_FUZZ_ITERATIONS"].flatMap { Int($0) } ?? 300

  /// A deterministic generator (SplitMix64), so a failing case is reproducible from its seed.
  struct Generator {
    var state: UInt64
    mutating func next() -> UInt64 {
      state &+= 0x9E37_79B9_7F4A_7C15
      var z = state
      z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
      z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
      return z ^ (z >> 31)
    }
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(max(n, 1))) }
  }

  /// Flips, overwrites, inserts, deletes, duplicates or truncates a few bytes,
  /// favouring bytes that matter to the format (quotes, commas, newlines, 0xFF, NUL).
  static func mutate(_ input: [UInt8], seed: UInt64) -> [UInt8] {
    var g = Generator(state: seed)
    var bytes = input
    let interesting: [UInt8] = [0, 0x0A, 0x0D, 0x22, 0x2C, 0xFF, 0x7F, 0x80, 0x30, 0x2D, 0x65]
    for _ in 0...g.below(4) {
      guard !bytes.isEmpty else { bytes = [interesting[g.below(interesting.count)]]; continue }
      let at = g.below(bytes.count)
      switch g.below(7) {
      case 0: bytes[at] ^= UInt8(1 << g.below(8))
      case 1: bytes[at] = interesting[g.below(interesting.count)]
      case 2: bytes.insert(interesting[g.below(interesting.count)], at: at)
      case 3: bytes.remove(at: at)
      case 4: bytes.insert(contentsOf: bytes[at..<min(bytes.count, at + 1 + g.below(64))], at: g.below(bytes.count))
      case 5: bytes.removeSubrange(at..<bytes.count)
      default: bytes[at] = UInt8(truncatingIfNeeded: g.next())
      }
    }
    return bytes
  }

  static let sampleRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("Data/sample")

  static func folder() -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("tandem-fuzz-\(UUID().uuidString)").path
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
  }
}

@Suite struct FuzzTests {
  @Test func csvParserAndTableIngestSurviveMutatedTables() throws {
    let text = try String(contentsOf: Fuzz.sampleRoot.appendingPathComponent("telco/WA_Fn-UseC_-Telco-Customer-Churn.csv"), encoding: .utf8)
    let base = Array(text.components(separatedBy: "\r\n").prefix(40).joined(separator: "\r\n").utf8)
    let folder = Fuzz.folder()
    var parsed = 0, ingested = 0
    for seed in 0..<UInt64(Fuzz.iterations) {
      let bytes = Fuzz.mutate(base, seed: seed)
      if (try? CSVTable(bytes: bytes, path: "fuzz.csv")) != nil { parsed += 1 }
      // Whole ingests are slower: every tenth case.
      guard seed % 10 == 0 else { continue }
      let csv = folder + "/\(seed).csv"
      FileManager.default.createFile(atPath: csv, contents: Data(bytes))
      var options = TableIngestOptions()
      options.idColumn = "customerID"
      do {
        _ = try TableIngest.run(csv: csv, output: try AtomicOutput(path: folder + "/\(seed).h5", replacing: false), options: options)
        ingested += 1
      } catch is DataError {
      } catch {
        Issue.record("seed \(seed): an untyped error \(error)")
      }
    }
    // Most mutations are refused, some survive: both paths ran.
    #expect(parsed > 0 && parsed < Fuzz.iterations, "\(parsed) of \(Fuzz.iterations) mutated tables parsed, \(ingested) ingested")
  }

  @Test func imageDecodersSurviveMutatedJPEGsAndPNGs() throws {
    let jpeg = Array(try Data(contentsOf: Fuzz.sampleRoot.appendingPathComponent("chest-xray/NORMAL/IM-0115-0001.jpeg")))
    let png = ImageLimitTests.forgedPNG(width: 16, height: 16)
    let decoder = ImageDecoder(maximumPixels: 1 << 22)
    var decoded = 0
    for seed in 0..<UInt64(Fuzz.iterations) {
      for base in [jpeg, png] {
        let bytes = Fuzz.mutate(base, seed: seed)
        do {
          let image = try bytes.withUnsafeBytes { try decoder.decode($0, path: "fuzz", minimumSide: seed % 2 == 0 ? 32 : nil) }
          #expect(image.pixels.count == image.width * image.height)
          decoded += 1
        } catch {
          // An ImageError naming the input: the only acceptable failure.
          #expect("\(error)".hasPrefix("fuzz: "), "seed \(seed): \(error)")
        }
      }
    }
    #expect(decoded > 0, "no mutated image decoded at all: the mutations are too harsh to test the decoders' success path")
  }

  @Test func datasetReaderSurvivesMutatedHDF5Files() throws {
    let folder = Fuzz.folder()
    let csv = folder + "/t.csv"
    let rows = (0..<40).map { "r\($0),\(Double($0) / 3),\($0 % 3 == 0 ? "a" : "b"),\($0 % 2 == 0 ? "Yes" : "No")" }
    FileManager.default.createFile(atPath: csv, contents: Data((["id,x,c,y"] + rows).joined(separator: "\n").utf8))
    var options = TableIngestOptions()
    options.labelColumn = "y"
    options.idColumn = "id"
    _ = try TableIngest.run(csv: csv, output: try AtomicOutput(path: folder + "/t.h5", replacing: false), options: options)
    let base = Array(try Data(contentsOf: URL(fileURLWithPath: folder + "/t.h5")))
    // Mutations land in the stored values (/features, /labels, /split), not in
    // HDF5's own metadata: libhdf5 1.10 itself segfaults on some corrupted
    // object headers (found by this fuzzer; outside Tandem's code), so what is
    // fuzzed here is Tandem's handling of whatever values a file may hold.
    let file = try HDF5File(readingAt: folder + "/t.h5")
    var regions: [Range<Int>] = []
    func locate(_ bytes: [UInt8]) throws {
      guard !bytes.isEmpty else { return }
      let hit = try #require((0...(base.count - bytes.count)).first { base[$0] == bytes[0] && Array(base[$0..<$0 + bytes.count]) == bytes },
                             "stored values not found contiguously in the file")
      regions.append(hit..<hit + bytes.count)
    }
    try locate(try file.dataset("/features").readAll(as: Float.self).withUnsafeBytes { Array($0) })
    try locate(try file.dataset("/labels").readAll(as: Int32.self).withUnsafeBytes { Array($0) })
    try locate(try file.dataset("/split").readAll(as: UInt8.self))
    try file.close()
    var opened = 0
    for seed in 0..<UInt64(Fuzz.iterations) {
      let path = folder + "/m\(seed % 8).h5"
      var g = Fuzz.Generator(state: seed)
      var bytes = base
      for _ in 0...g.below(6) {
        let region = regions[g.below(regions.count)]
        let at = region.lowerBound + g.below(region.count)
        bytes[at] = g.below(2) == 0 ? bytes[at] ^ UInt8(1 << g.below(8)) : [0xFF, 0x7F, 0x80, 0x00, 0x07][g.below(5)]
      }
      try Data(bytes).write(to: URL(fileURLWithPath: path))
      do {
        let reader = try DatasetReader(path: path)
        _ = try reader.firstNonFiniteFeature()
        _ = try ContentHash.compute(path: path)
        opened += 1
      } catch is DataError {
      } catch is HDF5Error {
      } catch {
        Issue.record("seed \(seed): an untyped error \(error)")
      }
    }
    #expect(opened > 0, "no mutated dataset opened at all")
  }
}
