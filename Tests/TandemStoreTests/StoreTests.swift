import Foundation
import Testing
import TandemData
import TandemStore
import TandemTestSupport

struct StoreTests {
  @Test func storingTheSameDataTwiceKeepsOneFile() throws {
    let work = Fixtures.folder()
    let store = try Store(root: work + "/store")
    let (path, hash) = try Fixtures.dataset(in: work)
    let stored = try store.storeDataset(at: path, contentSHA256: hash)
    #expect(stored == store.datasetsDirectory + "/\(hash).h5")
    let first = Fixtures.identity(stored)
    // A read-only copy, never a hard link: the user's file stays the user's.
    #expect(first.inode != Fixtures.identity(path).inode && first.links == 1 && Fixtures.identity(path).links == 1)
    #expect(access(stored, W_OK) != 0 || getuid() == 0)
    #expect((try FileManager.default.attributesOfItem(atPath: stored)[.posixPermissions] as? Int) == 0o444)

    // A second copy of the same data (another run, another directory) is not stored again.
    let copy = work + "/copy.h5"
    try FileManager.default.copyItem(atPath: path, toPath: copy)
    #expect(try store.storeDataset(at: copy, contentSHA256: hash) == stored)
    let second = Fixtures.identity(stored)
    #expect(second.inode == first.inode && second.links == 1 && second.modified == first.modified)
    #expect(Fixtures.identity(copy).links == 1)
    #expect(try FileManager.default.contentsOfDirectory(atPath: store.datasetsDirectory) == ["\(hash).h5"])
    #expect(try store.verifiedDataset(sha256: hash) == stored)
  }

  /// Editing the ingested file in place (as h5py's r+ mode does) must not
  /// touch the snapshot's data: the store holds its own copy.
  @Test func anInPlaceEditOfTheUsersFileLeavesTheStoredCopyIntact() throws {
    let work = Fixtures.folder()
    let store = try Store(root: work + "/store")
    let (path, hash) = try Fixtures.dataset(in: work)
    try store.storeDataset(at: path, contentSHA256: hash)
    let size = try #require(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
    let handle = try #require(FileHandle(forUpdatingAtPath: path))
    try handle.seek(toOffset: UInt64(size - 64))
    try handle.write(contentsOf: Data(repeating: 0x5A, count: 32))
    try handle.close()
    #expect(try store.verifiedDataset(sha256: hash) == store.datasetsDirectory + "/\(hash).h5")
  }

  @Test func storingRefusesAHashTheFileDoesNotHave() throws {
    let work = Fixtures.folder()
    let store = try Store(root: work + "/store")
    let (path, _) = try Fixtures.dataset(in: work)
    let (_, otherHash) = try Fixtures.dataset(in: work, variant: 1)
    let error = try #require(throws: StoreError.self) { try store.storeDataset(at: path, contentSHA256: otherHash) }
    #expect(error.description.hasPrefix(path + ": its content_sha256 is"))
    #expect(throws: StoreError.self) { try store.storeDataset(at: work + "/missing.h5", contentSHA256: otherHash) }
    #expect(throws: StoreError.self) { try store.storeDataset(at: path, contentSHA256: "../../etc/passwd") }
    #expect(try FileManager.default.contentsOfDirectory(atPath: store.datasetsDirectory).isEmpty)
  }

  @Test func aFlippedByteInAStoredDatasetIsCaughtAndNothingElseIsHarmed() throws {
    let work = Fixtures.folder()
    let store = try Store(root: work + "/store")
    let (path, hash) = try Fixtures.dataset(in: work)
    let stored = try store.storeDataset(at: path, contentSHA256: hash)
    let id = try store.saveSnapshot(Fixtures.manifest(datasetSHA256: hash))
    try store.registry.recordStart(Fixtures.run(id: "run-1", snapshotID: id))
    try store.registry.record(RunRecord.Epoch(runID: "run-1", epoch: 1, metrics: Fixtures.metrics(loss: 0.8)))

    // Flip one bit of one stored feature value (found by its float32 bytes).
    var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: stored)))
    let needle = withUnsafeBytes(of: (Fixtures.marker + 7).bitPattern.littleEndian, Array.init)
    let offset = try #require((0...(bytes.count - 4)).first { Array(bytes[$0..<($0 + 4)]) == needle })
    bytes[offset] ^= 0x01
    try Data(bytes).write(to: URL(fileURLWithPath: stored))

    let error = try #require(throws: StoreError.self) { try store.verifiedDataset(sha256: hash) }
    #expect(error.description.hasPrefix(stored + ": stored dataset is corrupt"))
    #expect(error.description.contains(String(hash.prefix(12))))
    // An export refuses the damaged data and writes nothing.
    let export = work + "/export"
    #expect(throws: StoreError.self) { try store.exportSnapshot(id: id, to: export) }
    #expect(!FileManager.default.fileExists(atPath: export + "/manifest.json"))
    // The snapshot and the registry are as they were.
    #expect(try store.snapshot(id: id) == Fixtures.manifest(datasetSHA256: hash))
    #expect(try store.snapshots().map(\.id) == [id])
    let run = try #require(try store.registry.run(id: "run-1"))
    #expect(run.snapshotID == id && run.epochs.map(\.epoch) == [1])
    #expect(try store.registry.integrityCheck() == "ok")
  }

  @Test func aDatasetThatIsNotHDF5IsReportedByName() throws {
    let work = Fixtures.folder()
    let store = try Store(root: work + "/store")
    let hash = String(repeating: "0f", count: 32)
    let stored = try store.datasetPath(sha256: hash)
    try Data("not hdf5".utf8).write(to: URL(fileURLWithPath: stored))
    let error = try #require(throws: StoreError.self) { try store.verifiedDataset(sha256: hash) }
    #expect(error.description.hasPrefix(stored + ": stored dataset is unreadable"))
    let missing = try #require(throws: StoreError.self) { try store.verifiedDataset(sha256: String(repeating: "1", count: 64)) }
    #expect(missing.description.contains("no stored dataset"))
  }

  @Test func savingASnapshotIsIdempotentAndTheFileHashesToItsId() throws {
    let work = Fixtures.folder()
    let store = try Store(root: work + "/store")
    let (path, hash) = try Fixtures.dataset(in: work)
    // The dataset must be in the store first.
    #expect(throws: StoreError.self) { try store.saveSnapshot(Fixtures.manifest(datasetSHA256: hash)) }
    try store.storeDataset(at: path, contentSHA256: hash)
    let manifest = Fixtures.manifest(datasetSHA256: hash)
    let id = try store.saveSnapshot(manifest)
    #expect(id == manifest.id)
    let file = store.snapshotsDirectory + "/\(id).json"
    let before = Fixtures.identity(file)
    #expect(try store.saveSnapshot(manifest) == id)
    let after = Fixtures.identity(file)
    #expect(after.inode == before.inode && after.modified == before.modified)
    let bytes = try Data(contentsOf: URL(fileURLWithPath: file))
    #expect(sha256Hex(bytes) == id)
    let other = try store.saveSnapshot(Fixtures.manifest(datasetSHA256: hash, seed: 2))
    #expect(Set(try store.snapshots().map(\.id)) == [id, other])
    // A stray temporary file from a crashed writer is not a snapshot.
    try Data().write(to: URL(fileURLWithPath: store.snapshotsDirectory + "/.\(id).json.tmp-1-2"))
    #expect(try store.snapshots().count == 2)
  }

  @Test func badSnapshotIdsGiveClearErrorsAndTouchNothing() throws {
    let work = Fixtures.folder()
    let store = try Store(root: work + "/store")
    let (path, hash) = try Fixtures.dataset(in: work)
    try store.storeDataset(at: path, contentSHA256: hash)
    let id = try store.saveSnapshot(Fixtures.manifest(datasetSHA256: hash))
    let malformed = ["../etc", "a/b", "", String(id.dropLast()), id + "0", id.uppercased(), "../" + id.dropFirst(3),
                     String(id.dropLast(2)) + "/.", String(repeating: "g", count: 64)]
    for bad in malformed {
      let error = try #require(throws: StoreError.self) { try store.snapshot(id: bad) }
      #expect(error.description.hasSuffix("not a snapshot id: expected 64 lower-case hex digits (SHA-256)"), "\(bad): \(error)")
      #expect(throws: StoreError.self) { try store.exportSnapshot(id: bad, to: work + "/export") }
    }
    #expect(try #require(throws: StoreError.self) { try store.snapshot(id: "") }.description.hasPrefix("an empty string"))
    let unknown = String(repeating: "0", count: 64)
    let error = try #require(throws: StoreError.self) { try store.snapshot(id: unknown) }
    #expect(error.description == "\(unknown): no such snapshot in \(store.snapshotsDirectory) (tandem snapshot list --store \(store.root) shows them)")
    #expect(!FileManager.default.fileExists(atPath: work + "/export"))
    #expect(try store.snapshot(id: id) == Fixtures.manifest(datasetSHA256: hash))
  }

  @Test func aDamagedSnapshotFileIsReportedByName() throws {
    let work = Fixtures.folder()
    let store = try Store(root: work + "/store")
    let (path, hash) = try Fixtures.dataset(in: work)
    try store.storeDataset(at: path, contentSHA256: hash)
    let id = try store.saveSnapshot(Fixtures.manifest(datasetSHA256: hash))
    let file = store.snapshotsDirectory + "/\(id).json"
    chmod(file, 0o644)
    var text = try String(contentsOfFile: file, encoding: .utf8)
    text = text.replacingOccurrences(of: "\"seed\":1", with: "\"seed\":7")
    try text.write(toFile: file, atomically: false, encoding: .utf8)
    let error = try #require(throws: StoreError.self) { try store.snapshot(id: id) }
    #expect(error.description == "\(file): contents do not hash to the snapshot id: the file is damaged")
    #expect(throws: StoreError.self) { try store.saveSnapshot(Fixtures.manifest(datasetSHA256: hash)) }
  }

  @Test func exportWritesTheManifestTheRunFileAndTheData() throws {
    let work = Fixtures.folder()
    let store = try Store(root: work + "/store")
    let (path, hash) = try Fixtures.dataset(in: work)
    try store.storeDataset(at: path, contentSHA256: hash)
    let manifest = Fixtures.manifest(datasetSHA256: hash)
    let id = try store.saveSnapshot(manifest)
    let export = work + "/export"
    try store.exportSnapshot(id: id, to: export)
    #expect(Set(try FileManager.default.contentsOfDirectory(atPath: export)) == ["manifest.json", "config.toml", "churn.h5"])
    #expect(sha256Hex(try Data(contentsOf: URL(fileURLWithPath: export + "/manifest.json"))) == id)
    #expect(try String(contentsOfFile: export + "/config.toml", encoding: .utf8) == manifest.configTOML)
    #expect(try ContentHash.compute(path: export + "/churn.h5") == hash)
    // A copy, not a link: editing the export cannot damage the store.
    #expect(Fixtures.identity(export + "/churn.h5").inode != Fixtures.identity(path).inode)
    // Existing files are never replaced.
    let again = try #require(throws: StoreError.self) { try store.exportSnapshot(id: id, to: export) }
    #expect(again.description == "\(export): is not empty (3 entries); export into a new or empty directory")
    // Any non-empty directory (say /etc) is refused, not only one holding an export.
    let busy = work + "/busy"
    try FileManager.default.createDirectory(atPath: busy, withIntermediateDirectories: true)
    try Data("x".utf8).write(to: URL(fileURLWithPath: busy + "/hosts"))
    #expect(throws: StoreError.self) { try store.exportSnapshot(id: id, to: busy) }
    #expect(try FileManager.default.contentsOfDirectory(atPath: busy) == ["hosts"])
  }

  /// A registry truncated to 0 bytes, or another program's SQLite file, is
  /// an error: neither may be taken for a new, empty registry.
  @Test func anEmptiedOrForeignRegistryIsAnErrorNotANewRegistry() throws {
    let work = Fixtures.folder()
    let store = try Store(root: work + "/store")
    let (path, hash) = try Fixtures.dataset(in: work)
    try store.storeDataset(at: path, contentSHA256: hash)
    _ = try store.saveSnapshot(Fixtures.manifest(datasetSHA256: hash))
    _ = try store.registry.runs()
    for suffix in ["", "-wal", "-shm"] { unlink(store.registryPath + suffix) }
    FileManager.default.createFile(atPath: store.registryPath, contents: Data())
    let reopened = try Store(root: work + "/store", create: false)
    let emptied = try #require(throws: StoreError.self) { _ = try reopened.registry }
    #expect(emptied.description.contains("is empty (0 bytes) but the store holds 1 snapshot(s)"), "\(emptied)")

    let foreign = work + "/foreign.sqlite"
    let made = try TandemProcess.run([], executable: "/usr/bin/env", arguments: ["python3", "-c",
      "import sqlite3; c = sqlite3.connect('\(foreign)'); c.execute('CREATE TABLE invoices (n INTEGER)'); c.commit()"])
    #expect(made.status == 0, "\(made)")
    let refused = try #require(throws: StoreError.self) { _ = try RunRegistry(path: foreign, lockPath: foreign + ".lock") }
    #expect(refused.description.contains("not a Tandem run registry (it holds tables invoices)"), "\(refused)")
  }

  @Test func aMissingStoreIsAnErrorWhenNotCreating() throws {
    let work = Fixtures.folder()
    let error = try #require(throws: StoreError.self) { try Store(root: work + "/none", create: false) }
    #expect(error.description.hasPrefix(work + "/none: no store here"))
    #expect(!FileManager.default.fileExists(atPath: work + "/none"))
  }
}
