import Foundation
import TandemRun
import GRDB


/// One version of a named model (`pneumonia`, `pneumonia-type`, `churn`):
/// the run and snapshot it came from, its parameters (kept in the store by
/// their hash), the decision threshold tuned for it, its evaluation and gates.
public struct ModelVersion: Equatable, Sendable, Codable, FetchableRecord, PersistableRecord {
  public static let databaseTableName = "model_versions"
  public var name: String
  public var version: Int
  /// The run it came from, and the snapshot that run started from.
  public var runID, snapshotID: String
  public var parametersSHA256: String
  /// `STORE/models/<parametersSHA256>.h5`, read-only.
  public var parametersFile: String
  /// The run directory (its config.toml names the architecture and data).
  public var runDirectory: String
  public var threshold: Double
  public var thresholdPolicy: String
  public var metrics: GatedMetrics
  public var gates: QualityGates
  public var createdAt: Date
  public var createdBy: String
  /// True for the version now in production (from `model_production`, not a column).
  public var isProduction = false

  enum CodingKeys: String, CodingKey {
    case name, version, runID = "run_id", snapshotID = "snapshot_id", parametersSHA256 = "parameters_sha256"
    case parametersFile = "parameters_file", runDirectory = "run_directory", threshold, thresholdPolicy = "threshold_policy"
    case metrics, gates, createdAt = "created_at", createdBy = "created_by"
  }

  public init(name: String, version: Int, runID: String, snapshotID: String, parametersSHA256: String,
              parametersFile: String, runDirectory: String, threshold: Double, thresholdPolicy: String,
              metrics: GatedMetrics, gates: QualityGates, createdAt: Date = Date(),
              createdBy: String = RunRecord.currentUser(), isProduction: Bool = false) {
    self.name = name
    self.version = version
    self.runID = runID
    self.snapshotID = snapshotID
    self.parametersSHA256 = parametersSHA256
    self.parametersFile = parametersFile
    self.runDirectory = runDirectory
    self.threshold = threshold
    self.thresholdPolicy = thresholdPolicy
    self.metrics = metrics
    self.gates = gates
    self.createdAt = createdAt
    self.createdBy = createdBy
    self.isProduction = isProduction
  }
}

/// A promotion decision, kept whether it succeeded or was refused.
public struct Promotion: Equatable, Sendable, Codable, FetchableRecord, PersistableRecord {
  public static let databaseTableName = "promotions"
  public let name: String
  public let version: Int
  public let accepted: Bool
  /// Why: the gates it passed, or each one it failed.
  public let reason: String
  public let at: Date
  public let by: String
}

/// What one scheduled `tandem retrain` decided, and why.
public struct RetrainDecision: Equatable, Sendable, Codable, FetchableRecord, PersistableRecord {
  public static let databaseTableName = "retrain_decisions"

  public enum Outcome: String, Sendable, Codable, DatabaseValueConvertible {
    case notDue = "not due", promoted, refused, skipped, failed
  }

  public var model: String
  public var startedAt: Date
  public var endedAt: Date
  public var outcome: Outcome
  public var detail: String
  public var runID: String?

  enum CodingKeys: String, CodingKey {
    case model, startedAt = "started_at", endedAt = "ended_at", outcome, detail, runID = "run_id"
  }

  public init(model: String, startedAt: Date, endedAt: Date = Date(), outcome: Outcome, detail: String, runID: String? = nil) {
    self.model = model
    self.startedAt = startedAt
    self.endedAt = endedAt
    self.outcome = outcome
    self.detail = detail
    self.runID = runID
  }
}

enum ModelRegistrySchema {
  static let v3 = """
    CREATE TABLE retrain_decisions (
      model TEXT NOT NULL,
      started_at DATETIME NOT NULL,
      ended_at DATETIME NOT NULL,
      outcome TEXT NOT NULL,
      detail TEXT NOT NULL,
      run_id TEXT
    );
    """

  static let v2 = """
    CREATE TABLE model_versions (
      name TEXT NOT NULL,
      version INTEGER NOT NULL,
      run_id TEXT NOT NULL,
      snapshot_id TEXT NOT NULL,
      parameters_sha256 TEXT NOT NULL,
      parameters_file TEXT NOT NULL,
      run_directory TEXT NOT NULL,
      threshold REAL NOT NULL,
      threshold_policy TEXT NOT NULL,
      metrics TEXT NOT NULL,
      gates TEXT NOT NULL,
      created_at DATETIME NOT NULL,
      created_by TEXT NOT NULL,
      PRIMARY KEY (name, version),
      UNIQUE (name, run_id)
    );
    CREATE TABLE model_production (
      name TEXT PRIMARY KEY NOT NULL,
      version INTEGER NOT NULL,
      promoted_at DATETIME NOT NULL,
      promoted_by TEXT NOT NULL
    );
    CREATE TABLE promotions (
      name TEXT NOT NULL,
      version INTEGER NOT NULL,
      accepted INTEGER NOT NULL,
      reason TEXT NOT NULL,
      at DATETIME NOT NULL,
      by TEXT NOT NULL
    );
    """
}

/// Model versions and promotions, in the run registry's database (same file,
/// same transactions, so a version can never name a run that is not there).
extension RunRegistry {
  /// Adds the next version of `version.name` (its `version` field is ignored)
  /// and returns it; a run already registered under that name returns its
  /// existing version unchanged, so re-evaluating never forks a model.
  public func register(_ version: ModelVersion) throws -> ModelVersion {
    try write("cannot register a version of model \(version.name)") { db in
      if let existing = try ModelVersion.filter(Column("name") == version.name && Column("run_id") == version.runID).fetchOne(db) {
        return Self.marked(existing, try Self.production(db))
      }
      let next = (try Int.fetchOne(db, sql: "SELECT MAX(version) FROM model_versions WHERE name = ?",
                                   arguments: [version.name]) ?? 0) + 1
      var added = version
      added.version = next
      added.isProduction = false
      try added.insert(db)
      return added
    }
  }

  /// Every version of `name` (or of every model), newest first.
  public func modelVersions(name: String? = nil) throws -> [ModelVersion] {
    try read("cannot list model versions") { db in
      let production = try Self.production(db)
      var request = ModelVersion.order(Column("name"), Column("version").desc)
      if let name { request = request.filter(Column("name") == name) }
      return try request.fetchAll(db).map { Self.marked($0, production) }
    }
  }

  /// One version; `nil` version means the production one. Unknown names and
  /// versions are errors that say what exists.
  public func modelVersion(name: String, version: Int? = nil) throws -> ModelVersion {
    try read("cannot read model \(name)") { db in
      let production = try Self.production(db)
      let known = try Int.fetchAll(db, sql: "SELECT version FROM model_versions WHERE name = ? ORDER BY version", arguments: [name])
      guard !known.isEmpty else {
        let names = try String.fetchAll(db, sql: "SELECT DISTINCT name FROM model_versions ORDER BY name")
        throw StoreError(path: path, message: "no model named '\(name)' (known: \(names.isEmpty ? "none" : names.joined(separator: ", ")))")
      }
      guard let wanted = version ?? production[name] else {
        throw StoreError(path: path, message: "model \(name) has no production version yet (versions \(known.map(String.init).joined(separator: ", ")); name one with \(name)@VERSION)")
      }
      guard let found = try ModelVersion.fetchOne(db, key: ["name": name, "version": wanted]) else {
        throw StoreError(path: path, message: "model \(name) has no version \(wanted) (versions \(known.map(String.init).joined(separator: ", ")))")
      }
      return Self.marked(found, production)
    }
  }

  /// The production version of `name`, or nil when it has none (no versions,
  /// or none promoted yet); a registry that cannot be read is an error.
  public func productionVersion(name: String) throws -> ModelVersion? {
    let version: Int? = try read("cannot read production of \(name)") { db in try Self.production(db)[name] }
    return try version.map { try modelVersion(name: name, version: $0) }
  }

  /// Puts `name` version `version` in production if it passes its gates and
  /// is not worse than the current production version beyond the tolerance.
  /// The decision is recorded either way; a refusal throws with the reasons
  /// and leaves production unchanged.
  @discardableResult
  public func promote(name: String, version: Int, by user: String = RunRecord.currentUser(), at date: Date = Date()) throws -> ModelVersion {
    let candidate = try modelVersion(name: name, version: version)
    let outcome: Result<ModelVersion, StoreError> = try write("cannot promote \(name) version \(version)") { db in
      let production = try Self.production(db)
      var current: (version: Int, metrics: GatedMetrics)?
      if let live = production[name], live != version, let row = try ModelVersion.fetchOne(db, key: ["name": name, "version": live]) {
        current = (live, row.metrics)
      }
      let reasons = candidate.gates.failures(candidate.metrics, production: current)
      let accepted = reasons.isEmpty
      let reason = accepted ? "passed its gates" + (current.map { _ in " and is no worse than version \(production[name]!)" } ?? "")
        : reasons.joined(separator: "; ")
      try Promotion(name: name, version: version, accepted: accepted, reason: reason, at: date, by: user).insert(db)
      guard accepted else {
        return .failure(StoreError(path: "\(name)@\(version)", message: "not promoted: \(reason); production stays "
                                   + (production[name].map { "version \($0)" } ?? "empty")))
      }
      try db.execute(sql: "INSERT OR REPLACE INTO model_production (name, version, promoted_at, promoted_by) VALUES (?, ?, ?, ?)",
                     arguments: [name, version, date, user])
      var promoted = candidate
      promoted.isProduction = true
      return .success(promoted)
    }
    return try outcome.get()
  }

  /// Promotion decisions for `name`, oldest first.
  public func promotions(name: String) throws -> [Promotion] {
    try read("cannot read promotions of \(name)") { db in
      try Promotion.filter(Column("name") == name).order(Column("at"), Column.rowID).fetchAll(db)
    }
  }

  /// When and by whom `name`'s production version was promoted.
  public func productionPromotion(name: String) throws -> (version: Int, at: Date, by: String)? {
    try read("cannot read production of \(name)") { db in
      try Row.fetchOne(db, sql: "SELECT * FROM model_production WHERE name = ?", arguments: [name]).map {
        ($0["version"], $0["promoted_at"], $0["promoted_by"])
      }
    }
  }

  public func record(_ decision: RetrainDecision) throws {
    try write("cannot record a retrain decision for \(decision.model)") { db in
      try decision.insert(db)
    }
  }

  /// Retrain decisions for `model`, oldest first.
  public func retrainDecisions(model: String) throws -> [RetrainDecision] {
    try read("cannot read retrain decisions") { db in
      try RetrainDecision.filter(Column("model") == model).order(Column("started_at"), Column.rowID).fetchAll(db)
    }
  }

  private static func production(_ db: Database) throws -> [String: Int] {
    var out: [String: Int] = [:]
    for row in try Row.fetchAll(db, sql: "SELECT name, version FROM model_production") { out[row["name"]] = row["version"] }
    return out
  }

  private static func marked(_ version: ModelVersion, _ production: [String: Int]) -> ModelVersion {
    var marked = version
    marked.isProduction = production[version.name] == version.version
    return marked
  }
}
