import Foundation
import Testing
import TandemRun

/// Seeded mutations of a complete run file: each must parse into a
/// validated configuration or fail with a `ConfigurationError` naming the
/// file; resolving a parsed one must not trap. (`TANDEM_FUZZ_ITERATIONS` sets
/// the count, as for the data fuzzers.)
@Test func runFileParserSurvivesMutatedRunFiles() {
  let iterations = ProcessInfo.processInfo.environment["TANDEM_FUZZ_ITERATIONS"].flatMap { Int($0) } ?? 1000
  let base = """
    model = "xray-cnn"
    dataset = "x.h5"
    task = "pneumonia"
    seed = 3
    epochs = 4
    [training]
    global_batch = 64
    learning_rate = 0.01
    micro_batch = 16
    class_weights = [1.0, 2.5]
    max_steps = 100
    [cluster]
    reduction = "exact"
    numerics = "pinned"
    collective_timeout = 30
    [release]
    target_recall = 0.95
    """
  let pieces = ["=", "\"", "[", "]", "\n", "-", "1e308", "9223372036854775807", "nan", "inf", "0", "-1", "#", ",", "{", "''", "\\", "\u{0}"]
  var state: UInt64 = 12345
  func next() -> Int { state = state &* 6364136223846793005 &+ 1442695040888963407; return Int(state >> 33) }
  var parsed = 0
  for _ in 0..<iterations {
    var text = Array(base)
    for _ in 0...(next() % 3) {
      let at = next() % max(text.count, 1)
      switch next() % 3 {
      case 0: text.insert(contentsOf: Array(pieces[next() % pieces.count]), at: at)
      case 1: if !text.isEmpty { text.removeSubrange(at..<min(text.count, at + 1 + next() % 8)) }
      default: if !text.isEmpty { text[at] = Array(pieces[next() % pieces.count])[0] }
      }
    }
    if ProcessInfo.processInfo.environment["TANDEM_FUZZ_TRACE"] != nil {
      FileHandle.standardError.write(Data(("CASE<<" + String(text) + ">>END\n").utf8))
    }
    do {
      let config = try RunConfiguration(toml: String(text), file: "fuzz.toml")
      _ = try config.resolved()
      _ = try config.microBatchSize()
      parsed += 1
    } catch let error as ConfigurationError {
      #expect(error.file == "fuzz.toml")
    } catch {
      Issue.record("an untyped error \(error) for:\n\(String(text))")
    }
  }
  #expect(parsed > 0 && parsed < iterations, "\(parsed) of \(iterations) parsed")
}
