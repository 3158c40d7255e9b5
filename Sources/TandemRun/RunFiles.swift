import Foundation
import TandemData
import TandemNN
import TandemTensor

/// `RUN/.lock`, held by the training of a run (rank 0) and by every command
/// that writes into its directory (evaluate, explain, report), so that no two
/// processes write one run at once. Nobody waits: a busy run is an error.
public enum RunLock {
  /// The lock of the run in `directory`; `busy` says who is refused (the
  /// default suits the commands that write into a finished run).
  public static func take(run directory: String, busy: String? = nil) throws -> FileLock {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
      throw DataError(path: directory, message: "no such run directory")
    }
    let name = (directory as NSString).lastPathComponent
    return try FileLock(path: directory + "/.lock", waiting: false,
                        busy: busy ?? "run \(name) is being trained or written by another process; try again when it ends")
  }
}

/// A model's parameters in HDF5: one float32 dataset per parameter under
/// `/parameters`, named as in the model (`conv1.weight`), with its shape;
/// string attributes on `/` describe the run. Readable with h5py.
public enum ParameterFile {
  public static func write(_ parameters: [Parameter], to path: String, attributes: [String: String]) throws {
    let output = try AtomicOutput(path: path, replacing: true)
    let file = try HDF5File(creatingAt: output.temporaryPath, displayPath: path)
    try file.createGroup("parameters")
    for p in parameters {
      try file.write("parameters/\(p.name)", p.value.scalars, shape: p.value.shape)
    }
    try file.setAttribute("parameter_names", .strings(parameters.map(\.name)))
    for (key, value) in attributes.sorted(by: { $0.key < $1.key }) {
      try file.setAttribute(key, .string(value))
    }
    try file.close()
    try output.commit()
  }

  /// What a parameter file holds, read in one open.
  public struct Contents {
    /// In file order.
    public let parameters: [(name: String, value: Tensor)]
    /// The `sample_shape` attribute (`1x128x128`, `45`), when the file has one.
    public let sampleShape: [Int]?
    /// The content hash of the dataset the run trained on, when recorded.
    public let datasetSHA256: String?
  }

  public static func load(_ path: String) throws -> Contents {
    let file = try HDF5File(readingAt: path)
    guard let names = try file.attribute("parameter_names")?.stringsValue else {
      throw DataError(path: path, message: "not a Tandem parameter file (no parameter_names attribute)")
    }
    let parameters = try names.map { name in
      let dataset = try file.dataset("parameters/\(name)")
      return (name: name, value: Tensor(uncheckedShape: dataset.shape, scalars: try dataset.readAll(as: Float.self)))
    }
    let shape = try file.attribute("sample_shape")?.stringValue.map { $0.split(separator: "x").compactMap { Int($0) } }
    return Contents(parameters: parameters, sampleShape: shape?.isEmpty == false ? shape : nil,
                    datasetSHA256: try file.attribute("dataset_sha256")?.stringValue)
  }

  /// Parameters in file order, as `(name, tensor)`.
  public static func read(_ path: String) throws -> [(name: String, value: Tensor)] {
    try load(path).parameters
  }
}

/// `RUN/summary.json`, written by rank 0 when a run finishes.
public struct RunSummary: Codable, Sendable {
  public var runDirectory: String
  public var model: ModelName
  public var task: RunTask
  public var worldSize: Int
  public var epochs: Int
  public var steps: Int
  public var trainSamples: Int
  public var validation: [ClassificationMetrics]
  public var seconds: Double
  public var samplesPerSecond: Double
  /// The snapshot the run started from, when it keeps a store.
  public var snapshotID: String?
  /// The numeric configuration it trained with (`Numerics.identifier`); nil before numerics were pinned.
  public var numerics: String?
  /// The epoch (1-based) whose parameters are the run's model; nil: the last one.
  public var selectedEpoch: Int?
  /// Why training ended before `epochs`, when it did (early stopping).
  public var stoppedEarly: String?

  public init(runDirectory: String, model: ModelName, task: RunTask, worldSize: Int, epochs: Int, steps: Int, trainSamples: Int,
              validation: [ClassificationMetrics], seconds: Double, samplesPerSecond: Double, snapshotID: String?, numerics: String?) {
    self.runDirectory = runDirectory; self.model = model; self.task = task; self.worldSize = worldSize; self.epochs = epochs
    self.steps = steps; self.trainSamples = trainSamples; self.validation = validation; self.seconds = seconds
    self.samplesPerSecond = samplesPerSecond; self.snapshotID = snapshotID; self.numerics = numerics
  }

  public static func path(run directory: String) -> String { directory + "/summary.json" }
}

/// One source column's global importance: the mean |contribution| to the
/// logit over a split. `RUN/explanations/importance.json` is an array of these, largest
/// first (written by `tandem explain`, shown by the report).
public struct FeatureImportance: Codable, Equatable, Sendable {
  public var feature: String
  public var importance: Double

  public init(feature: String, importance: Double) {
    self.feature = feature
    self.importance = importance
  }
}

/// Run ids: `MODEL-YYYYMMDD-HHMMSS`, which sort by time.
public enum RunID {
  /// `20250615-120000`, UTC: the time part of run ids, which sorts by time.
  public static func timestamp(_ date: Date = Date()) -> String {
    let formatter = DateFormatter()
    formatter.locale = Locale(identifier: "en_US_POSIX")
    formatter.timeZone = TimeZone(identifier: "UTC")
    formatter.dateFormat = "yyyyMMdd-HHmmss"
    return formatter.string(from: date)
  }
}

/// How a process that launches a training (a retrain, through mpirun or
/// srun) hands it a lock and learns its result: through the environment and
/// a file, never by reading what the training prints.
public enum TrainingHandoff {
  /// A lock file the training takes and holds for its whole life, so a
  /// killed launcher cannot let another training start alongside it.
  public static let heldLockVariable = "TANDEM_HOLD_LOCK"
  /// A path where rank 0 writes a copy of `summary.json` when the run finishes.
  public static let resultFileVariable = "TANDEM_RESULT_FILE"
  /// A path where rank 0 writes its run directory as soon as it has one, so
  /// a supervising launcher can resume the run after a failure.
  public static let runDirectoryFileVariable = "TANDEM_RUN_DIRECTORY_FILE"
}
