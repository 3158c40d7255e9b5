import Foundation

/// One run in the registry: who started it, from what (snapshot, code, data,
/// configuration, machine), how each epoch went and what it produced.
public struct RunRecord: Equatable, Sendable {
  /// A reference to the data a run read: the file as given, its content hash and the split used.
  public struct DataReference: Equatable, Sendable {
    public var path: String
    public var sha256: String
    /// `train`, `val` or `test`.
    public var split: String

    public init(path: String, sha256: String, split: String) {
      self.path = path
      self.sha256 = sha256
      self.split = split
    }
  }

  /// One epoch's metrics, as the JSON object the trainer wrote.
  public struct Epoch: Equatable, Sendable {
    public var epoch: Int
    public var metrics: String
    public var recordedAt: Date

    public init(epoch: Int, metrics: String, recordedAt: Date) {
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
  /// `running` until `recordFinish`, then `finished` or `failed: <reason>`.
  /// A run that stays `running` long after its start was killed.
  public var status: String
  /// The run file as given (TOML).
  public var configuration: String
  /// The environment as JSON (the snapshot's `EnvironmentInfo`).
  public var environment: String
  public var trainData: DataReference
  /// The split evaluated after each epoch (validation or test).
  public var validationData: DataReference?
  /// JSON, e.g. `{"mean":[…],"std":[…]}`: the standardisation the model was trained with.
  public var featureStatistics: String
  public var worldSize: Int
  public var runDirectory: String
  /// `parametersSHA256(_:)` of the final parameters.
  public var parametersSHA256: String?
  public var parametersFile: String?
  /// Filled by `RunRegistry.run(id:)`; empty in lists.
  public var epochs: [Epoch]

  public init(id: String, snapshotID: String, user: String = RunRecord.currentUser(), codeVersion: String,
              startedAt: Date = Date(), endedAt: Date? = nil, status: String = "running", configuration: String,
              environment: String, trainData: DataReference, validationData: DataReference?,
              featureStatistics: String, worldSize: Int, runDirectory: String,
              parametersSHA256: String? = nil, parametersFile: String? = nil, epochs: [Epoch] = []) {
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

  /// `$USER`, else `$LOGNAME`, else `uid <n>` (containers often set neither).
  public static func currentUser() -> String {
    let environment = ProcessInfo.processInfo.environment
    for key in ["USER", "LOGNAME"] {
      if let name = environment[key], !name.isEmpty { return name }
    }
    return "uid \(getuid())"
  }
}
