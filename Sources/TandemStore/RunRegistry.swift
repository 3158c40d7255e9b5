import Foundation
import TandemData
import GRDB

/// Every run recorded in one SQLite file, for `tandem runs` and for audits:
/// which runs used a snapshot, who ran what, what each produced.
///
/// SQLite in WAL mode through a GRDB `DatabasePool`: readers never block the
/// writer, and several processes (two jobs finishing at once) may write. Each
/// write is one `BEGIN IMMEDIATE` transaction, which takes the write lock at
/// its start and so waits (up to `busyTimeout`) instead of failing on a lock
/// upgrade; SQLite's journal keeps the file whole if a writer dies midway.
/// Opening (creating the schema, migrating it) happens under an exclusive
/// `flock` on a lock file beside the database, so two jobs opening a new store
/// at once cannot both create tables.
///
/// Schema (migration "v1"):
///
///     runs(id PRIMARY KEY, snapshot_id, user, code_version, started_at, ended_at,
///          status, configuration, environment, train_path, train_sha256, train_split,
///          validation_path, validation_sha256, validation_split, feature_statistics,
///          world_size, run_directory, parameters_sha256, parameters_file)
///     epochs(run_id REFERENCES runs, epoch, metrics, recorded_at, PRIMARY KEY (run_id, epoch))
///
/// Times are UTC text (`YYYY-MM-DD HH:MM:SS.SSS`, GRDB's format), which sorts.
public final class RunRegistry: Sendable {
  public let path: String
  private let pool: DatabasePool

  /// How long a write waits for another process's transaction before failing.
  public static let busyTimeout: TimeInterval = 30

  /// Opens (creating when absent) the registry at `path`; `lockPath` names the
  /// file locked while opening and migrating.
  public init(path: String, lockPath: String) throws {
    self.path = path
    var configuration = Configuration()
    configuration.busyMode = .timeout(Self.busyTimeout)
    configuration.label = "tandem-registry"
    let lock: FileLock
    do { lock = try FileLock(path: lockPath, waiting: true, busy: "") } catch {
      throw StoreError(path: lockPath, message: error.message)
    }
    defer { withExtendedLifetime(lock) {} }
    do {
      pool = try DatabasePool(path: path, configuration: configuration)
      // Another program's database must not get our tables added to it.
      let tables = try pool.read { db in try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table'") }
      if !tables.isEmpty && !tables.contains("grdb_migrations") {
        throw StoreError(path: path, message: "not a Tandem run registry (it holds tables \(tables.prefix(5).joined(separator: ", ")))")
      }
      try Self.migrator.migrate(pool)
      if try pool.read(Self.migrator.hasBeenSuperseded) {
        throw StoreError(path: path, message: "written by a newer Tandem (unknown schema migrations)")
      }
    } catch let error as StoreError {
      throw error
    } catch {
      throw StoreError(path: path, message: "cannot open the run registry: \(Self.describe(error))")
    }
  }

  private static var migrator: DatabaseMigrator {
    var migrator = DatabaseMigrator()
    migrator.registerMigration("v1") { db in
      try db.execute(sql: """
        CREATE TABLE runs (
          id TEXT PRIMARY KEY NOT NULL,
          snapshot_id TEXT NOT NULL,
          user TEXT NOT NULL,
          code_version TEXT NOT NULL,
          started_at DATETIME NOT NULL,
          ended_at DATETIME,
          status TEXT NOT NULL,
          configuration TEXT NOT NULL,
          environment TEXT NOT NULL,
          train_path TEXT NOT NULL,
          train_sha256 TEXT NOT NULL,
          train_split TEXT NOT NULL,
          validation_path TEXT,
          validation_sha256 TEXT,
          validation_split TEXT,
          feature_statistics TEXT NOT NULL,
          world_size INTEGER NOT NULL,
          run_directory TEXT NOT NULL,
          parameters_sha256 TEXT,
          parameters_file TEXT
        );
        CREATE INDEX runs_by_snapshot ON runs(snapshot_id);
        CREATE INDEX runs_by_start ON runs(started_at);
        CREATE TABLE epochs (
          run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
          epoch INTEGER NOT NULL,
          metrics TEXT NOT NULL,
          recorded_at DATETIME NOT NULL,
          PRIMARY KEY (run_id, epoch)
        );
        """)
    }
    migrator.registerMigration("v2-models") { db in
      try db.execute(sql: ModelRegistrySchema.v2)
    }
    migrator.registerMigration("v3-retrain") { db in
      try db.execute(sql: ModelRegistrySchema.v3)
    }
    migrator.registerMigration("v4-heartbeat") { db in
      try db.execute(sql: "ALTER TABLE runs ADD COLUMN heartbeat_at DATETIME")
    }
    return migrator
  }

  /// One line from a GRDB or SQLite error (their descriptions can span lines).
  static func describe(_ error: any Error) -> String {
    if let error = error as? DatabaseError {
      return "\(error.message ?? "SQLite error") (SQLite code \(error.extendedResultCode.rawValue))"
    }
    return "\(error)".replacingOccurrences(of: "\n", with: " ")
  }

  /// Runs `body` in one `BEGIN IMMEDIATE` transaction.
  func write<T>(_ what: String, _ body: (Database) throws -> T) throws -> T {
    do {
      return try pool.writeWithoutTransaction { db in
        var result: T?
        try db.inTransaction(.immediate) {
          result = try body(db)
          return .commit
        }
        return result!
      }
    } catch let error as StoreError {
      throw error
    } catch {
      throw StoreError(path: path, message: "\(what): \(Self.describe(error))")
    }
  }

  func read<T>(_ what: String, _ body: (Database) throws -> T) throws -> T {
    do {
      return try pool.read(body)
    } catch let error as StoreError {
      throw error  // already names the file and says what is wrong
    } catch {
      throw StoreError(path: path, message: "\(what): \(Self.describe(error))")
    }
  }

  // MARK: Recording

  /// Adds a run at its start. Its id must be new: a resumed run keeps its row
  /// and only records further epochs and its finish.
  public func recordStart(_ run: RunRecord) throws {
    try write("cannot record the start of run \(run.id)") { db in
      if try RunRecord.exists(db, key: run.id) {
        throw StoreError(path: path, message: "run \(run.id) is already recorded")
      }
      try run.insert(db)
      for var epoch in run.epochs {
        epoch.runID = run.id
        try epoch.save(db)
      }
    }
  }

  /// Records (or, for an epoch repeated after a resume, replaces) one epoch's metrics.
  public func record(_ epoch: RunRecord.Epoch) throws {
    try write("cannot record epoch \(epoch.epoch) of run \(epoch.runID)") { db in
      try requireRun(epoch.runID, db)
      try epoch.save(db)
    }
  }

  /// Records how the run ended.
  public func recordFinish(runID: String, endedAt: Date = Date(), status: RunStatus,
                           parametersSHA256: String?, parametersFile: String?) throws {
    try write("cannot record the end of run \(runID)") { db in
      try requireRun(runID, db)
      try db.execute(sql: """
        UPDATE runs SET ended_at = ?, status = ?, parameters_sha256 = ?, parameters_file = ? WHERE id = ?
        """, arguments: [endedAt, status, parametersSHA256, parametersFile, runID])
    }
  }

  /// A running run's sign of life (rank 0, every `RunRecord.heartbeatInterval`).
  public func heartbeat(runID: String, at time: Date = Date()) throws {
    try write("cannot record the heartbeat of run \(runID)") { db in
      try db.execute(sql: "UPDATE runs SET heartbeat_at = ? WHERE id = ? AND status = ?", arguments: [time, runID, RunStatus.running])
    }
  }

  /// A resumed run is running again until it records its end anew.
  public func recordResume(runID: String) throws {
    try write("cannot record the resume of run \(runID)") { db in
      try requireRun(runID, db)
      try db.execute(sql: "UPDATE runs SET ended_at = NULL, status = ?, heartbeat_at = ? WHERE id = ?",
                     arguments: [RunStatus.running, Date(), runID])
    }
  }

  private func requireRun(_ runID: String, _ db: Database) throws {
    guard try RunRecord.exists(db, key: runID) else {
      throw StoreError(path: path, message: "no run \(runID) (tandem runs list shows the recorded runs)")
    }
  }

  // MARK: Reading

  /// Every run, newest start first, without epochs.
  public func runs() throws -> [RunRecord] {
    try read("cannot list runs") { db in
      try RunRecord.order(Column("started_at").desc, Column("id").desc).fetchAll(db).map { $0.checkedForHeartbeat() }
    }
  }

  /// The runs started from one snapshot, newest first, without epochs.
  public func runs(snapshotID: String) throws -> [RunRecord] {
    try read("cannot list runs") { db in
      try RunRecord.filter(Column("snapshot_id") == snapshotID).order(Column("started_at").desc, Column("id").desc).fetchAll(db)
        .map { $0.checkedForHeartbeat() }
    }
  }

  /// One run with its epochs in order, or nil when there is no such run.
  public func run(id: String) throws -> RunRecord? {
    try read("cannot read run \(id)") { db in
      guard var run = try RunRecord.fetchOne(db, key: id) else { return nil }
      run.epochs = try RunRecord.Epoch.filter(Column("run_id") == id).order(Column("epoch")).fetchAll(db)
      return run.checkedForHeartbeat()
    }
  }

  /// `PRAGMA integrity_check`: "ok", or SQLite's list of problems.
  public func integrityCheck() throws -> String {
    try read("cannot check integrity") { db in
      try String.fetchAll(db, sql: "PRAGMA integrity_check").joined(separator: "; ")
    }
  }

  /// The journal mode in force ("wal").
  public func journalMode() throws -> String {
    try read("cannot read the journal mode") { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") ?? "" }
  }
}
