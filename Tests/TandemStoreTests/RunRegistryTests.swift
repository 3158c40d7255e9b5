import Foundation
import Testing
import GRDB
import TandemRun
import TandemStore

struct RunRegistryTests {
  @Test func recordsAStartItsEpochsAndItsFinish() throws {
    let store = try Store(root: Fixtures.folder() + "/store")
    let registry = try store.registry
    #expect(try registry.journalMode() == "wal")
    let snapshot = String(repeating: "5", count: 64)
    let start = Date(timeIntervalSince1970: 1_750_000_000.25)
    var run = Fixtures.run(id: "churn-mlp-20250615-120000", snapshotID: snapshot, startedAt: start)
    try registry.recordStart(run)
    try registry.record(RunRecord.Epoch(runID: run.id, epoch: 1, metrics: Fixtures.metrics(loss: 0.71), recordedAt: start.addingTimeInterval(10)))
    try registry.record(RunRecord.Epoch(runID: run.id, epoch: 2, metrics: Fixtures.metrics(loss: 0.75), recordedAt: start.addingTimeInterval(20)))
    // An epoch repeated after a resume replaces the first record.
    try registry.record(RunRecord.Epoch(runID: run.id, epoch: 2, metrics: Fixtures.metrics(loss: 0.76), recordedAt: start.addingTimeInterval(30)))
    let end = start.addingTimeInterval(40)
    try registry.recordFinish(runID: run.id, endedAt: end, status: .finished,
                              parametersSHA256: String(repeating: "e", count: 64), parametersFile: "runs/x/model.h5")

    let read = try #require(try registry.run(id: run.id))
    run.endedAt = end
    run.status = .finished
    run.parametersSHA256 = String(repeating: "e", count: 64)
    run.parametersFile = "runs/x/model.h5"
    run.epochs = [.init(runID: run.id, epoch: 1, metrics: Fixtures.metrics(loss: 0.71), recordedAt: start.addingTimeInterval(10)),
                  .init(runID: run.id, epoch: 2, metrics: Fixtures.metrics(loss: 0.76), recordedAt: start.addingTimeInterval(30))]
    #expect(read == run)
    #expect(try registry.runs().map(\.id) == [run.id])
    #expect(try registry.runs().first?.epochs.isEmpty == true)
    #expect(try registry.runs(snapshotID: snapshot).map(\.id) == [run.id])
    #expect(try registry.runs(snapshotID: String(repeating: "6", count: 64)).isEmpty)
    #expect(try registry.run(id: "nope") == nil)
    // Reopened from disk (a new Store value, as a later command would).
    let reopened = try Store(root: store.root, create: false).registry
    #expect(try reopened.run(id: run.id) == run)
  }

  @Test func runsAreListedNewestFirstAndNoValidationReferenceIsKept() throws {
    let registry = try Store(root: Fixtures.folder() + "/store").registry
    // Recent: an old row still `running` would read back as failed (no heartbeat).
    let t = Date(timeIntervalSinceNow: -120)
    var noValidation = Fixtures.run(id: "b", snapshotID: "s", startedAt: t.addingTimeInterval(60))
    noValidation.validationData = nil
    try registry.recordStart(Fixtures.run(id: "a", snapshotID: "s", startedAt: t))
    try registry.recordStart(noValidation)
    try registry.recordStart(Fixtures.run(id: "c", snapshotID: "s", startedAt: t.addingTimeInterval(30)))
    #expect(try registry.runs().map(\.id) == ["b", "c", "a"])
    #expect(try registry.run(id: "b")?.validationData == nil)
    #expect(try registry.run(id: "b")?.status == .running)
  }

  @Test func duplicateAndUnknownRunsAreClearErrors() throws {
    let store = try Store(root: Fixtures.folder() + "/store")
    let registry = try store.registry
    try registry.recordStart(Fixtures.run(id: "r1", snapshotID: "s"))
    let duplicate = try #require(throws: StoreError.self) { try registry.recordStart(Fixtures.run(id: "r1", snapshotID: "t")) }
    #expect(duplicate.description == "\(store.registryPath): run r1 is already recorded")
    let epoch = try #require(throws: StoreError.self) { try registry.record(RunRecord.Epoch(runID: "r2", epoch: 1, metrics: Fixtures.metrics(loss: 1))) }
    #expect(epoch.description == "\(store.registryPath): no run r2 (tandem runs list shows the recorded runs)")
    #expect(throws: StoreError.self) {
      try registry.recordFinish(runID: "r2", status: .finished, parametersSHA256: nil, parametersFile: nil)
    }
    #expect(try registry.runs().map(\.snapshotID) == ["s"])
  }

  /// Eight writers, each with its own connection pool (as separate jobs
  /// would have), record 50 runs each into one new registry file at once.
  @Test func concurrentWritersLoseNothing() throws {
    let root = Fixtures.folder() + "/store"
    _ = try Store(root: root)
    let writers = 8, perWriter = 50
    let failures = Failures()
    DispatchQueue.concurrentPerform(iterations: writers) { w in
      do {
        // A fresh Store value per writer: each opens (and races to create) the registry.
        let registry = try Store(root: root).registry
        for k in 0..<perWriter {
          let id = "w\(w)-r\(k)"
          try registry.recordStart(Fixtures.run(id: id, snapshotID: "s\(w)"))
          try registry.record(RunRecord.Epoch(runID: id, epoch: 1, metrics: Fixtures.metrics(loss: Double(k))))
          try registry.recordFinish(runID: id, status: .finished, parametersSHA256: nil, parametersFile: nil)
        }
      } catch {
        failures.append("writer \(w): \(error)")
      }
    }
    #expect(failures.all.isEmpty)
    let registry = try Store(root: root).registry
    let runs = try registry.runs()
    #expect(runs.count == writers * perWriter)
    #expect(Set(runs.map(\.id)).count == writers * perWriter)
    #expect(runs.allSatisfy { $0.status == .finished })
    #expect(try registry.runs(snapshotID: "s3").count == perWriter)
    #expect(try registry.run(id: "w7-r49")?.epochs.map(\.metrics.loss) == [49])
    #expect(try registry.integrityCheck() == "ok")
    #expect(try registry.journalMode() == "wal")
  }
}

extension RunRegistryTests {
  static let hasPython: Bool = {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", "-c", "import sqlite3"]
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    guard (try? process.run()) != nil else { return false }
    process.waitUntilExit()
    return process.terminationStatus == 0
  }()

  /// Another process (Python's sqlite3, holding its write transactions open a
  /// little) writes runs while four writers here do: nobody fails with
  /// "database is locked", and every row of both is there.
  @Test(.enabled(if: hasPython)) func writersInAnotherProcessAreWaitedFor() throws {
    let root = Fixtures.folder() + "/store"
    let store = try Store(root: root)
    _ = try store.registry
    let script = """
      import sqlite3, sys, time
      db = sqlite3.connect(sys.argv[1], timeout=30, isolation_level=None)
      for k in range(50):
          db.execute("BEGIN IMMEDIATE")
          db.execute("INSERT INTO runs (id, snapshot_id, user, code_version, started_at, status, configuration, "
                     "environment, train_path, train_sha256, train_split, feature_statistics, world_size, run_directory) "
                     "VALUES (?, 'py', 'python', '0', '2025-01-01 00:00:00.000', 'finished', '', ?, 'p', 's', 'train', "
                     "?, 1, 'd')", ("py-%d" % k, sys.argv[2], sys.argv[3]))
          time.sleep(0.002)
          db.execute("COMMIT")
      """
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    let environment = String(decoding: try JSONEncoder().encode(Fixtures.environment), as: UTF8.self)
    process.arguments = ["python3", "-c", script, store.registryPath, environment, #"{"mean":[],"std":[]}"#]
    let errors = Pipe()
    process.standardError = errors
    try process.run()
    let failures = Failures()
    DispatchQueue.concurrentPerform(iterations: 4) { w in
      do {
        let registry = try Store(root: root).registry
        for k in 0..<50 {
          try registry.recordStart(Fixtures.run(id: "w\(w)-r\(k)", snapshotID: "swift"))
          try registry.recordFinish(runID: "w\(w)-r\(k)", status: .finished, parametersSHA256: nil, parametersFile: nil)
        }
      } catch {
        failures.append("writer \(w): \(error)")
      }
    }
    process.waitUntilExit()
    let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    #expect(process.terminationStatus == 0, "python: \(stderr)")
    #expect(failures.all.isEmpty)
    let registry = try store.registry
    #expect(try registry.runs(snapshotID: "py").count == 50)
    #expect(try registry.runs(snapshotID: "swift").count == 200)
    #expect(try registry.integrityCheck() == "ok")
  }
}

/// Errors collected from several threads.
final class Failures: @unchecked Sendable {
  private let lock = NSLock()
  private var items: [String] = []
  func append(_ item: String) { lock.lock(); items.append(item); lock.unlock() }
  var all: [String] { lock.lock(); defer { lock.unlock() }; return items }

  /// Each column reads back as its type; a failed run's reason survives the
  /// round trip, and a damaged JSON column is an error naming the registry,
  /// not an empty value.
  @Test func typedColumnsRoundTripAndADamagedOneIsAnError() throws {
    let store = try Store(root: Fixtures.folder() + "/store")
    let registry = try store.registry
    try registry.recordStart(Fixtures.run(id: "f", snapshotID: "s"))
    try registry.recordFinish(runID: "f", status: .failed(reason: "rank 1: lost"), parametersSHA256: nil, parametersFile: nil)
    let read = try #require(try registry.run(id: "f"))
    #expect(read.status == .failed(reason: "rank 1: lost") && read.status.description == "failed: rank 1: lost")
    #expect(read.environment == Fixtures.environment && read.trainData.split == .train && read.validationData?.split == .validation)

    let database = try DatabaseQueue(path: store.registryPath)
    try database.write { try $0.execute(sql: "UPDATE runs SET environment = '{\"os\":' WHERE id = 'f'") }
    let error = try #require(throws: StoreError.self) { try registry.run(id: "f") }
    #expect(error.description.hasPrefix("\(store.registryPath): cannot read run f: column environment does not hold a EnvironmentInfo"), "\(error)")
  }
}

extension RunRegistryTests {
  /// A `running` row whose heartbeat stopped (SIGKILL, a lost node) reads back
  /// as failed, saying since when and how to continue; a beating one stays
  /// running, and an ended one keeps its status however old.
  @Test func aRunningRowWithoutAHeartbeatReadsBackAsFailed() throws {
    let registry = try Store(root: Fixtures.folder() + "/store").registry
    let snapshot = String(repeating: "7", count: 64)
    let old = Date(timeIntervalSinceNow: -RunRecord.heartbeatTimeout - 60)
    for id in ["dead", "alive", "done"] { try registry.recordStart(Fixtures.run(id: id, snapshotID: snapshot, startedAt: old)) }
    try registry.heartbeat(runID: "alive")
    try registry.recordFinish(runID: "done", status: .finished, parametersSHA256: nil, parametersFile: nil)
    // A heartbeat never revives a run that has ended.
    try registry.heartbeat(runID: "done")
    let status = { (id: String) in try #require(try registry.run(id: id)).status }
    #expect(try status("alive") == .running)
    #expect(try status("done") == .finished)
    let dead = try status("dead").description
    #expect(dead.hasPrefix("failed: no heartbeat since ") && dead.contains("tandem train --resume runs/dead"), "\(dead)")
    #expect(try registry.runs().first { $0.id == "dead" }?.status.description == dead)
    // A resume makes it running again, with a fresh heartbeat.
    try registry.recordResume(runID: "dead")
    #expect(try status("dead") == .running)
  }
}
