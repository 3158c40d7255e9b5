import Foundation
import GRDB
import TandemData
import TandemRun
import TandemSystem

/// One run in the registry: who started it, from what (snapshot, code, data,
/// configuration, machine), how each epoch went and what it produced.
public struct RunRecord: Equatable, Sendable {
  /// A reference to the data a run read: the file as given, its content hash and the split used.
  public struct DataReference: Equatable, Sendable {
    public var path: String
    public var sha256: String
    public var split: Split

    public init(path: String, sha256: String, split: Split) {
      self.path = path
      self.sha256 = sha256
      self.split = split
    }
  }

  /// One epoch's validation metrics (a row of `epochs`).
  public struct Epoch: Equatable, Sendable, Codable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "epochs"
    public var runID: String
    public var epoch: Int
    public var metrics: ClassificationMetrics
    public var recordedAt: Date

    enum CodingKeys: String, CodingKey {
      case runID = "run_id", epoch, metrics, recordedAt = "recorded_at"
    }

    public init(runID: String, epoch: Int, metrics: ClassificationMetrics, recordedAt: Date = Date()) {
      self.runID = runID
      self.epoch = epoch
      self.metrics = metrics
      self.recordedAt = recordedAt
    }
  }

  /// The run directory's name (`xray-cnn-20250101-120000`), unique in a store.
  public var id: String
  public var snapshotID: String
  /// The user name ($USER, else the numeric uid).
  public var user: String
  /// `CodeVersion.summary` or any one-line description of the code.
  public var codeVersion: String
  public var startedAt: Date
  public var endedAt: Date?
  /// Read back as `failed` when a `running` run's heartbeat stopped: its
  /// processes died without recording an end (SIGKILL, a lost node).
  public var status: RunStatus
  /// When rank 0 last said it was alive (every `heartbeatInterval` seconds;
  /// the start until the first beat, and for rows older than heartbeats).
  public var heartbeatAt: Date
  /// The run file as given (TOML).
  public var configuration: String
  /// The machine and libraries it ran on (the snapshot's).
  public var environment: EnvironmentInfo
  public var trainData: DataReference
  /// The split evaluated after each epoch (validation or test).
  public var validationData: DataReference?
  /// The standardisation the model was trained with.
  public var featureStatistics: FeatureStatistics
  public var worldSize: Int
  public var runDirectory: String
  /// `parametersSHA256(_:)` of the final parameters.
  public var parametersSHA256: String?
  public var parametersFile: String?
  /// Filled by `RunRegistry.run(id:)`; empty in lists.
  public var epochs: [Epoch]

  public init(id: String, snapshotID: String, user: String = RunRecord.currentUser(), codeVersion: String,
              startedAt: Date = Date(), endedAt: Date? = nil, status: RunStatus = .running, configuration: String,
              environment: EnvironmentInfo, trainData: DataReference, validationData: DataReference?,
              featureStatistics: FeatureStatistics, worldSize: Int, runDirectory: String,
              parametersSHA256: String? = nil, parametersFile: String? = nil, epochs: [Epoch] = [],
              heartbeatAt: Date? = nil) {
    self.heartbeatAt = heartbeatAt ?? startedAt
    self.id = id
    self.snapshotID = snapshotID
    self.user = user
    self.codeVersion = codeVersion
    self.startedAt = startedAt
    self.endedAt = endedAt
    self.status = status
    self.configuration = configuration
    self.environment = environment
    self.trainData = trainData
    self.validationData = validationData
    self.featureStatistics = featureStatistics
    self.worldSize = worldSize
    self.runDirectory = runDirectory
    self.parametersSHA256 = parametersSHA256
    self.parametersFile = parametersFile
    self.epochs = epochs
  }

  /// Seconds between a running run's heartbeats.
  public static let heartbeatInterval: Double = 30
  /// A `running` row whose newest heartbeat is older than this is dead: ten
  /// beats missed, far beyond any pause of a live process.
  public static let heartbeatTimeout: Double = 300

  /// This record as it stands at `now`: a `running` run without a heartbeat
  /// for `heartbeatTimeout` is reported failed (nothing is written).
  public func checkedForHeartbeat(now: Date = Date()) -> RunRecord {
    guard status == .running else { return self }
    guard now.timeIntervalSince(heartbeatAt) > Self.heartbeatTimeout else { return self }
    var stale = self
    let formatter = ISO8601DateFormatter()
    stale.status = .failed(reason: "no heartbeat since \(formatter.string(from: heartbeatAt)): its processes ended without "
                           + "recording why (killed or crashed); tandem train --resume \(runDirectory) continues it")
    return stale
  }

  /// `$USER`, else `$LOGNAME`, else the password database's name for the
  /// uid (containers often set neither variable), else `uid <n>`.
  public static func currentUser() -> String {
    let environment = ProcessInfo.processInfo.environment
    for key in ["USER", "LOGNAME"] {
      if let name = environment[key], !name.isEmpty { return name }
    }
    return SystemProcess.userName ?? "uid \(SystemProcess.userID)"
  }
}

/// How a run stands in the registry: stored as `running`, `finished`,
/// `failed: <reason>` or `preempted: <reason>`.
public enum RunStatus: Equatable, Sendable, CustomStringConvertible, DatabaseValueConvertible {
  /// `preempted`: stopped on request with a checkpoint to resume from.
  case running, finished, failed(reason: String), preempted(reason: String)

  public var description: String {
    switch self {
    case .running: "running"
    case .finished: "finished"
    case .failed(let reason): "failed: \(reason)"
    case .preempted(let reason): "preempted: \(reason)"
    }
  }

  public init(text: String) {
    switch text {
    case "running": self = .running
    case "finished": self = .finished
    case _ where text.hasPrefix("preempted: "): self = .preempted(reason: String(text.dropFirst(11)))
    default: self = .failed(reason: text.hasPrefix("failed: ") ? String(text.dropFirst(8)) : text)
    }
  }

  public var databaseValue: DatabaseValue { description.databaseValue }

  public static func fromDatabaseValue(_ value: DatabaseValue) -> RunStatus? {
    String.fromDatabaseValue(value).map(RunStatus.init(text:))
  }
}

/// Per-feature mean and standard deviation of the training rows (empty for images).
public struct FeatureStatistics: Codable, Equatable, Sendable {
  public var mean: [Float]
  public var std: [Float]

  public init(mean: [Float], std: [Float]) {
    self.mean = mean
    self.std = std
  }
}

/// The `runs` table: one row per run, the data references flattened into
/// `train_*` and `validation_*` columns, the environment and statistics as JSON.
extension RunRecord: FetchableRecord, PersistableRecord {
  public static let databaseTableName = "runs"

  public init(row: Row) throws {
    var validation: DataReference?
    if let path: String = row["validation_path"] {
      validation = DataReference(path: path, sha256: row["validation_sha256"] ?? "",
                                 split: try Self.split(row["validation_split"]))
    }
    self.init(
      id: row["id"], snapshotID: row["snapshot_id"], user: row["user"], codeVersion: row["code_version"],
      startedAt: row["started_at"], endedAt: row["ended_at"], status: row["status"],
      configuration: row["configuration"], environment: try Self.decode(row["environment"], column: "environment"),
      trainData: DataReference(path: row["train_path"], sha256: row["train_sha256"], split: try Self.split(row["train_split"])),
      validationData: validation,
      featureStatistics: try Self.decode(row["feature_statistics"], column: "feature_statistics"),
      worldSize: row["world_size"], runDirectory: row["run_directory"], parametersSHA256: row["parameters_sha256"],
      parametersFile: row["parameters_file"], heartbeatAt: row["heartbeat_at"])
  }

  public func encode(to container: inout PersistenceContainer) throws {
    container["id"] = id
    container["snapshot_id"] = snapshotID
    container["user"] = user
    container["code_version"] = codeVersion
    container["started_at"] = startedAt
    container["ended_at"] = endedAt
    container["status"] = status
    container["configuration"] = configuration
    container["environment"] = try Self.json(environment)
    container["train_path"] = trainData.path
    container["train_sha256"] = trainData.sha256
    container["train_split"] = trainData.split.description
    container["validation_path"] = validationData?.path
    container["validation_sha256"] = validationData?.sha256
    container["validation_split"] = validationData?.split.description
    container["feature_statistics"] = try Self.json(featureStatistics)
    container["world_size"] = worldSize
    container["run_directory"] = runDirectory
    container["parameters_sha256"] = parametersSHA256
    container["parameters_file"] = parametersFile
    container["heartbeat_at"] = heartbeatAt
  }

  private static func split(_ name: String?) throws -> Split {
    guard let name, let split = Split(name: name) else { throw RowError("no split '\(name ?? "")'") }
    return split
  }

  /// A JSON column's text: keys sorted, so equal values are equal text.
  private static func json(_ value: some Encodable) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    return String(decoding: try encoder.encode(value), as: UTF8.self)
  }

  private static func decode<T: Decodable>(_ text: String, column: String) throws -> T {
    do { return try JSONDecoder().decode(T.self, from: Data(text.utf8)) } catch {
      throw RowError("column \(column) does not hold a \(T.self): \(error)")
    }
  }
}

/// A registry row that does not read back as its type.
struct RowError: Error, CustomStringConvertible {
  let description: String
  init(_ description: String) { self.description = description }
}
