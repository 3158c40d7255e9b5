import Foundation
import Testing
import TandemTestSupport

/// Datasets ingested once per test process from the real files in shared/data.
enum Fixtures {
  static let sharedData: URL = {
    if let path = ProcessInfo.processInfo.environment["TANDEM_SHARED_DATA"] { return URL(fileURLWithPath: path) }
    return TandemProcess.packageRoot.deletingLastPathComponent().appendingPathComponent("shared/data")
  }()

  static let directory: URL = {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("tandem-cli-tests-\(getpid())")
    try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
  }()

  /// Whether ../shared/data (or $TANDEM_SHARED_DATA) holds the real files;
  /// the tests that need them are skipped, saying so, where it does not.
  static let hasSharedData = FileManager.default.fileExists(atPath: sharedData.appendingPathComponent("telco").path)
    && FileManager.default.fileExists(atPath: sharedData.appendingPathComponent("chest-xray/train-224").path)
  static let sharedDataMissing: Comment = "needs the real data of ../shared/data (or TANDEM_SHARED_DATA)"

  /// The Telco churn table, ingested with the default seed.
  static var churn: String { get throws { try churnIngest.get() } }
  private static let churnIngest = Result {
    try ingest(["ingest", "csv", sharedData.appendingPathComponent("telco/WA_Fn-UseC_-Telco-Customer-Churn.csv").path,
                "--label", "Churn", "--id", "customerID"], name: "churn.h5")
  }

  /// The 5,216 training X-rays at 128 x 128.
  static var xray: String { get throws { try xrayIngest.get() } }
  private static let xrayIngest = Result {
    try ingest(["ingest", "images", sharedData.appendingPathComponent("chest-xray/train-224").path, "--size", "128"], name: "xray.h5")
  }

  /// `tandem ARGUMENTS --out DIRECTORY/name`, once per process; a failure is
  /// this fixture's error in every test that asks for it.
  static func ingest(_ arguments: [String], name: String) throws -> String {
    let out = directory.appendingPathComponent(name).path
    if FileManager.default.fileExists(atPath: out) { return out }
    let run = try TandemProcess.run(arguments + ["--out", out], timeout: 600)
    guard run.status == 0 else { throw FixtureError(description: "fixture ingest \(name) failed: \(run)") }
    return out
  }

  /// Writes a run file into a fresh directory and returns its path.
  static func runFile(_ toml: String, name: String = "run.toml") -> String {
    let dir = directory.appendingPathComponent(UUID().uuidString)
    try! FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    let path = dir.appendingPathComponent(name).path
    try! toml.write(toFile: path, atomically: true, encoding: .utf8)
    return path
  }

  /// The run directory a finished run printed on its last line.
  static func runDirectory(from output: String) -> String? {
    output.split(separator: "\n").last { $0.hasPrefix("results: ") }
      .map { String($0.dropFirst("results: ".count).split(separator: " ")[0].dropLast()) }
  }
}

/// A fixture that could not be made: the test that needs it fails with this.
struct FixtureError: Error, CustomStringConvertible {
  let description: String
}
