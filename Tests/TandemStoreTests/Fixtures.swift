import Foundation
import TandemData
import Crypto
import TandemRun
import TandemStore

/// Scratch folders, tiny generated datasets and sample manifests for the store tests.
enum Fixtures {
  /// The package root, found from this file's path (Tests/TandemStoreTests/Fixtures.swift).
  static let packageRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.path
  }()

  /// One folder per test process, removed at exit.
  static let scratch: String = {
    let path = NSTemporaryDirectory() + "tandem-store-tests-\(getpid())"
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    atexit { try? FileManager.default.removeItem(atPath: NSTemporaryDirectory() + "tandem-store-tests-\(getpid())") }
    return path
  }()

  /// A new empty folder under `scratch`.
  static func folder(_ name: String = UUID().uuidString) -> String {
    let path = scratch + "/" + name
    try? FileManager.default.removeItem(atPath: path)
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
  }

  /// Every numeric value in the generated CSVs is `marker + row`, so a test can
  /// find a value's float32 bytes in the file and flip one.
  static let marker: Float = 4096.25

  /// A Tandem table dataset ingested from a generated CSV of `rows` rows
  /// (columns: id, amount, plan, Churn); `variant` changes the data.
  static func dataset(in directory: String, rows: Int = 40, variant: Int = 0) throws -> (path: String, hash: String) {
    var csv = "id,amount,plan,Churn\n"
    for row in 0..<rows {
      let plan = ["basic", "plus", "max"][(row + variant) % 3]
      csv += "c\(row),\(marker + Float(row + variant)),\(plan),\(row % 3 == 0 ? "Yes" : "No")\n"
    }
    let csvPath = directory + "/table-\(variant).csv"
    try csv.write(toFile: csvPath, atomically: true, encoding: .utf8)
    var options = TableIngestOptions()
    options.labelColumn = "Churn"
    options.idColumn = "id"
    options.tandemVersion = "test"
    let path = directory + "/table-\(variant).h5"
    let summary = try TableIngest.run(csv: csvPath, output: try AtomicOutput(path: path, replacing: true), options: options)
    return (path, summary.contentSHA256)
  }

  static let environment = EnvironmentInfo(
    os: "Debian GNU/Linux 12 (bookworm)", kernel: "6.1.0-18-amd64 x86_64", cpuModel: "Test CPU @ 3.0GHz",
    cpuFlags: ["sse2", "avx2", "fma"], logicalCPUs: 2, openBLASConfig: "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY",
    openBLASCore: "Haswell", blasThreads: 1, mpiVersion: "Open MPI v4.1.4", hdf5Version: "1.10.8", hostname: "node1")

  static func manifest(datasetSHA256: String = String(repeating: "ab", count: 32), seed: UInt64 = 1) -> SnapshotManifest {
    SnapshotManifest(
      datasetSHA256: datasetSHA256, datasetFileName: "churn.h5",
      configTOML: "model = \"churn-mlp\"\ndataset = \"churn.h5\"\nseed = 1\n",
      resolvedConfig: ["model": "churn-mlp", "training.learning_rate": "0.05", "epochs": "5"],
      seed: seed, worldSize: 2,
      code: CodeVersion(tandemVersion: "0.1.0", gitCommit: String(repeating: "1", count: 40), gitDirty: false),
      environment: environment)
  }

  static func run(id: String, snapshotID: String, startedAt: Date = Date()) -> RunRecord {
    RunRecord(
      id: id, snapshotID: snapshotID, user: "tester", codeVersion: "0.1.0 (111111111111)", startedAt: startedAt,
      configuration: "model = \"churn-mlp\"\n", environment: environment,
      trainData: .init(path: "work/churn.h5", sha256: String(repeating: "ab", count: 32), split: .train),
      validationData: .init(path: "work/churn.h5", sha256: String(repeating: "ab", count: 32), split: .validation),
      featureStatistics: FeatureStatistics(mean: [0.5], std: [1.5]), worldSize: 2, runDirectory: "runs/\(id)")
  }

  /// Validation metrics of eight scores (accuracy 0.75), told apart by `loss`.
  static func metrics(loss: Double) -> ClassificationMetrics {
    ClassificationMetrics(scores: [0.9, 0.8, 0.7, 0.3, 0.6, 0.2, 0.1, 0.4], labels: [1, 1, 1, 1, 0, 0, 0, 0], loss: loss)
  }

  /// (device, inode, link count, modification time) of a file.
  static func identity(_ path: String) -> (inode: UInt, links: UInt, modified: Int) {
    var info = stat()
    guard stat(path, &info) == 0 else { return (0, 0, 0) }
    return (UInt(info.st_ino), UInt(info.st_nlink), info.st_mtim.tv_sec * 1_000_000_000 + info.st_mtim.tv_nsec)
  }
}

/// SHA-256 as `sha256sum` prints it, computed here rather than by the code under test.
func sha256Hex(_ data: Data) -> String {
  SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
}
