import ArgumentParser
import Foundation
import TandemData
import TandemRun
import TandemStore

/// `--json` on the list and show commands: one JSON document on standard
/// output instead of the text, with the schema of docs/json.md. Every
/// document is an object whose `schema` names its kind and whose
/// `schema_version` changes only when a field is removed or changes meaning.
struct JSONFlag: ParsableArguments {
  @Flag(help: "Print one JSON document instead of text (schema: docs/json.md).") var json = false
}

enum JSONOutput {
  static let schemaVersion = 1

  /// Keys in snake_case (`snakeCase`), sorted; dates in ISO 8601 (UTC); a metric that is
  /// undefined (an AUC with one class) as the string "NaN".
  static let encoder: JSONEncoder = {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    encoder.keyEncodingStrategy = .custom { path in SnakeKey(snakeCase(path.last!.stringValue)) }
    encoder.dateEncodingStrategy = .iso8601
    encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
    return encoder
  }()

  /// `rocAUC` → `roc_auc`, `logicalCPUs` → `logical_cpus`, `openBLASConfig` →
  /// `open_blas_config`, `parametersSHA256` → `parameters_sha256`; keys
  /// without capitals (`run_id`, `cluster.blas_threads`) stay as they are.
  static func snakeCase(_ key: String) -> String {
    let c = Array(key)
    var out = ""
    for i in c.indices {
      let ch = c[i]
      if ch.isUppercase, i > 0 {
        let previous = c[i - 1], next = i + 1 < c.count ? c[i + 1] : nil
        // An acronym's plural `s` (CPUs) belongs to it, not to a new word.
        let pluralS = next == "s" && (i + 2 == c.count || !c[i + 2].isLowercase)
        if previous.isLowercase || previous.isNumber || (previous.isUppercase && next?.isLowercase == true && !pluralS) {
          out.append("_")
        }
      }
      out.append(contentsOf: ch.lowercased())
    }
    return out
  }

  private struct SnakeKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ s: String) { stringValue = s }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
  }

  static func print(_ schema: String, _ body: some Encodable) throws {
    let data = try encoder.encode(Document(schema: schema, body: body))
    printNow(String(decoding: data, as: UTF8.self))
  }

  /// The envelope: `schema`, `schema_version`, then the body's own keys.
  private struct Document<Body: Encodable>: Encodable {
    let schema: String
    let body: Body
    enum Keys: String, CodingKey { case schema, schemaVersion }
    func encode(to encoder: any Encoder) throws {
      var c = encoder.container(keyedBy: Keys.self)
      try c.encode(schema, forKey: .schema)
      try c.encode(JSONOutput.schemaVersion, forKey: .schemaVersion)
      try body.encode(to: encoder)
    }
  }
}

/// A run of the registry as `runs list --json` and `runs show --json` print it.
struct RunJSON: Encodable {
  struct DataReference: Encodable { let path, sha256, split: String }
  struct Epoch: Encodable { let epoch: Int; let metrics: ClassificationMetrics; let recordedAt: Date }

  let id: String
  /// `running`, `finished`, `failed` or `preempted`; the reason apart.
  let status: String
  let reason: String?
  let user: String
  let startedAt: Date
  let endedAt: Date?
  let durationSeconds: Double?
  let heartbeatAt: Date
  let runDirectory: String
  let snapshotId: String
  let codeVersion: String
  let worldSize: Int
  let model: String?
  let task: String?
  let trainData: DataReference
  let validationData: DataReference?
  let parametersFile: String?
  let parametersSha256: String?
  /// The newest epoch's validation metrics: what `runs list` shows.
  let lastValidation: ClassificationMetrics?
  // Only in `runs show`:
  let configuration: String?
  let environment: EnvironmentInfo?
  let featureStatistics: FeatureStatistics?
  let epochs: [Epoch]?

  init(_ run: RunRecord, full: Bool) {
    id = run.id
    switch run.status {
    case .running: status = "running"; reason = nil
    case .finished: status = "finished"; reason = nil
    case .failed(let r): status = "failed"; reason = r
    case .preempted(let r): status = "preempted"; reason = r
    }
    user = run.user
    startedAt = run.startedAt
    endedAt = run.endedAt
    durationSeconds = run.endedAt.map { $0.timeIntervalSince(run.startedAt) }
    heartbeatAt = run.heartbeatAt
    runDirectory = run.runDirectory
    snapshotId = run.snapshotID
    codeVersion = run.codeVersion
    worldSize = run.worldSize
    let configuration = try? RunConfiguration(toml: run.configuration, file: "run \(run.id)")
    model = configuration?.model.rawValue
    task = configuration?.task.rawValue
    func data(_ d: RunRecord.DataReference) -> DataReference { DataReference(path: d.path, sha256: d.sha256, split: d.split.description) }
    trainData = data(run.trainData)
    validationData = run.validationData.map(data)
    parametersFile = run.parametersFile
    parametersSha256 = run.parametersSHA256
    lastValidation = run.epochs.last?.metrics
    self.configuration = full ? run.configuration : nil
    environment = full ? run.environment : nil
    featureStatistics = full ? run.featureStatistics : nil
    epochs = full ? run.epochs.map { Epoch(epoch: $0.epoch, metrics: $0.metrics, recordedAt: $0.recordedAt) } : nil
  }
}

/// A registered version with whether it is in production.
struct ModelVersionJSON: Encodable {
  let version: ModelVersion
  enum Keys: String, CodingKey { case production }
  func encode(to encoder: any Encoder) throws {
    try version.encode(to: encoder)
    var c = encoder.container(keyedBy: Keys.self)
    try c.encode(version.isProduction, forKey: .production)
  }
}
