import Foundation
import TandemData
import TandemRun
import TandemSystem

/// The run store: one directory that makes every run auditable after the fact.
///
///     STORE/datasets/<sha256>.h5      each dataset once, named by its content hash
///                                     (a read-only copy of the ingested file)
///     STORE/snapshots/<id>.json       snapshot manifests; <id> = SHA-256 of the file's bytes
///     STORE/models/<sha256>.h5        parameters of each registered model version, by parameters hash
///     STORE/registry.sqlite           the run registry and model registry (SQLite, WAL), plus -wal and -shm
///     STORE/registry.lock             taken while a process opens and migrates the registry
///
/// Every stored file is written whole (temporary file, fsync, rename, fsync of
/// the directory) and never modified afterwards, so a crash or a concurrent
/// job cannot leave a half-written snapshot or dataset; the registry relies on
/// SQLite's own transactions. The store is shared by every run that points at
/// it; a dataset used by a hundred runs is stored once.
public struct Store: Sendable {
  public let root: String
  private let registryBox = RegistryBox()

  /// Opens the store at `root`, creating it (and its subdirectories) when
  /// `create` is true; otherwise a missing store is an error naming it.
  public init(root: String, create: Bool = true) throws {
    self.root = root
    if let status = FileSystem.status(root) {
      guard status.kind == .directory else { throw StoreError(path: root, message: "not a directory, so not a store") }
    } else if !create {
      throw StoreError(path: root, message: "no store here (the first run with a store creates it; pass --store DIR)")
    }
    if create {
      for directory in [root, datasetsDirectory, snapshotsDirectory] { try StoreFiles.makeDirectory(directory) }
    }
  }

  public var datasetsDirectory: String { root + "/datasets" }
  public var snapshotsDirectory: String { root + "/snapshots" }
  public var registryPath: String { root + "/registry.sqlite" }

  // MARK: Identifiers

  /// Throws unless `value` is 64 lower-case hex digits, the only form of a
  /// dataset hash or snapshot id. Checked before any path is built from it, so
  /// `../etc/passwd` or `a/b` can never name a file outside the store.
  public static func checkHash(_ value: String, kind: String) throws(StoreError) {
    guard isHash(value) else {
      let shown = value.isEmpty ? "an empty string" : "'\(value.prefix(80))'"
      throw StoreError(path: shown, message: "not a \(kind): expected 64 lower-case hex digits (SHA-256)")
    }
  }

  /// 64 lower-case hex digits.
  static func isHash(_ value: String) -> Bool {
    value.utf8.count == 64 && value.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
  }

  // MARK: Datasets

  /// The path a dataset with this content hash has in the store (whether or not it is there).
  public func datasetPath(sha256: String) throws(StoreError) -> String {
    try Self.checkHash(sha256, kind: "dataset hash")
    return datasetsDirectory + "/\(sha256).h5"
  }

  /// Puts the dataset at `path` into `datasets/<sha256>.h5` unless it is already
  /// there, and returns the stored path.
  ///
  /// `contentSHA256` must equal the file's `content_sha256` attribute; on first
  /// storing, the content hash is also recomputed from the data, so a file
  /// damaged after ingest is refused here rather than stored under a hash it
  /// does not have. A hash already stored is not copied or checked again
  /// (`verifiedDataset` checks it on use).
  ///
  /// The stored file is a read-only copy (a reflink where the filesystem
  /// has them, else bytes: temporary file, fsync, rename), never a hard link:
  /// an in-place edit of the user's file (h5py in `r+` mode) would otherwise
  /// change the snapshot's data too.
  @discardableResult
  public func storeDataset(at path: String, contentSHA256: String) throws -> String {
    try Self.checkHash(contentSHA256, kind: "dataset hash")
    let stored = try datasetPath(sha256: contentSHA256)
    if FileSystem.isRegularFile(stored) { return stored }
    guard FileSystem.isRegularFile(path) else { throw StoreError(path: path, message: "no such dataset file") }
    let attribute: String?
    do {
      attribute = try HDF5File(readingAt: path).attribute(ContentHash.attributeName)?.stringValue
    } catch {
      throw StoreError(path: path, message: "cannot read as a Tandem dataset: \(error.message)")
    }
    guard let attribute else {
      throw StoreError(path: path, message: "no \(ContentHash.attributeName) attribute: not a dataset written by tandem ingest")
    }
    guard attribute == contentSHA256 else {
      throw StoreError(path: path, message: "its \(ContentHash.attributeName) is \(attribute.prefix(12))…, not \(contentSHA256.prefix(12))…")
    }
    // open() follows a symbolic link: the store holds the data, not a link to it.
    try StoreFiles.copy(from: path, to: stored, mode: 0o444)
    // One read, of the copy: it catches a file damaged after ingest and an
    // edit racing the copy alike.
    let computed: String
    do {
      computed = try ContentHash.compute(path: stored)
    } catch {
      FileSystem.remove(stored)
      throw StoreError(path: path, message: "cannot hash its contents: \(error.message)")
    }
    guard computed == contentSHA256 else {
      FileSystem.remove(stored)
      throw StoreError(path: path, message: "contents hash to \(computed.prefix(12))…, but the file says \(contentSHA256.prefix(12))…: "
                       + "damaged after ingest, or changed while it was being stored")
    }
    return stored
  }

  /// The stored dataset with this content hash, after recomputing the hash
  /// from its data, so a flipped byte anywhere in the data is caught before a
  /// run trusts it. Costs one full read of the file.
  public func verifiedDataset(sha256: String) throws -> String {
    let stored = try datasetPath(sha256: sha256)
    guard FileSystem.isRegularFile(stored) else {
      throw StoreError(path: stored, message: "no stored dataset with hash \(sha256.prefix(12))…")
    }
    let computed: String
    do {
      computed = try ContentHash.compute(path: stored)
    } catch {
      throw StoreError(path: stored, message: "stored dataset is unreadable, corrupt: \(error.message)")
    }
    guard computed == sha256 else {
      throw StoreError(path: stored, message: "stored dataset is corrupt: its contents hash to \(computed.prefix(12))…, not \(sha256.prefix(12))…")
    }
    return stored
  }

  // MARK: Snapshots

  func snapshotPath(id: String) throws(StoreError) -> String {
    try Self.checkHash(id, kind: "snapshot id")
    return snapshotsDirectory + "/\(id).json"
  }

  /// Stores `manifest` as `snapshots/<id>.json` and returns its id. Idempotent:
  /// saving an equal manifest again writes nothing. An existing file with other
  /// bytes under that name is damage, reported rather than overwritten.
  ///
  /// The dataset must be stored first (`storeDataset`), so that every snapshot
  /// can be exported whole.
  @discardableResult
  public func saveSnapshot(_ manifest: SnapshotManifest) throws -> String {
    let dataset = try datasetPath(sha256: manifest.datasetSHA256)
    guard FileSystem.isRegularFile(dataset) else {
      throw StoreError(path: dataset, message: "dataset not in the store; storeDataset before saveSnapshot")
    }
    let bytes = manifest.canonicalJSON()
    let id = manifest.id
    let path = try snapshotPath(id: id)
    if let existing = FileManager.default.contents(atPath: path) {
      guard existing == bytes else {
        throw StoreError(path: path, message: "exists with other contents (damaged?); move it away to store the snapshot again")
      }
      return id
    }
    try StoreFiles.write(bytes, to: path, mode: 0o444)
    return id
  }

  /// The snapshot with this id, checked against its id (a damaged file is an
  /// error naming it, not a silently different manifest).
  public func snapshot(id: String) throws -> SnapshotManifest {
    let path = try snapshotPath(id: id)
    guard let data = FileManager.default.contents(atPath: path) else {
      throw StoreError(path: id, message: "no such snapshot in \(snapshotsDirectory) (tandem snapshot list --store \(root) shows them)")
    }
    let manifest = try SnapshotManifest.decode(data, path: path)
    guard manifest.id == id, manifest.canonicalJSON() == data else {
      throw StoreError(path: path, message: "contents do not hash to the snapshot id: the file is damaged")
    }
    return manifest
  }

  /// Every snapshot, most recently stored first. Files that are not named like
  /// a snapshot (a temporary file left by a crash) are ignored; a damaged one
  /// is an error naming it.
  public func snapshots() throws -> [(id: String, manifest: SnapshotManifest)] {
    var found: [(id: String, modified: Double, manifest: SnapshotManifest)] = []
    for name in try StoreFiles.entries(of: snapshotsDirectory) where name.hasSuffix(".json") {
      let id = String(name.dropLast(5))
      guard Self.isHash(id) else { continue }
      let modified = FileSystem.status(snapshotsDirectory + "/" + name)?.modified ?? 0
      found.append((id, modified, try snapshot(id: id)))
    }
    found.sort { ($0.modified, $0.id) > ($1.modified, $1.id) }
    return found.map { ($0.id, $0.manifest) }
  }

  /// Writes what is needed to repeat the run into `directory` (created if
  /// absent; existing files are never replaced): `manifest.json` (the stored
  /// bytes, so its SHA-256 is the id), `config.toml` (the run file as given)
  /// and the dataset under its original file name, verified and copied.
  public func exportSnapshot(id: String, to directory: String) throws {
    let manifest = try snapshot(id: id)
    let dataset = try verifiedDataset(sha256: manifest.datasetSHA256)
    var datasetName = URL(fileURLWithPath: manifest.datasetFileName).lastPathComponent
    if ["", ".", "..", "/", "manifest.json", "config.toml"].contains(datasetName) {
      datasetName = "\(manifest.datasetSHA256).h5"
    }
    try StoreFiles.makeDirectory(directory)
    let present = try StoreFiles.entries(of: directory)
    guard present.isEmpty else {
      throw StoreError(path: directory, message: "is not empty (\(present.count) entries); export into a new or empty directory")
    }
    let outputs = ["manifest.json", "config.toml", datasetName].map { directory + "/" + $0 }
    try StoreFiles.write(manifest.canonicalJSON(), to: outputs[0])
    try StoreFiles.write(Data(manifest.configTOML.utf8), to: outputs[1])
    try StoreFiles.copy(from: dataset, to: outputs[2])
  }

  // MARK: Models

  public var modelsDirectory: String { root + "/models" }

  /// Copies a run's parameter file to `models/<parametersSHA256>.h5`
  /// (read-only) unless it is there, after checking it hashes to that.
  @discardableResult
  public func storeModel(at path: String, parametersSHA256 expected: String) throws -> String {
    try Self.checkHash(expected, kind: "parameters hash")
    let stored = modelsDirectory + "/\(expected).h5"
    if FileSystem.isRegularFile(stored) { return stored }
    let actual = try parametersSHA256(file: path)
    guard actual == expected else {
      throw StoreError(path: path, message: "parameters hash to \(actual.prefix(12))…, but the run recorded \(expected.prefix(12))…: changed since the run")
    }
    try StoreFiles.makeDirectory(modelsDirectory)
    try StoreFiles.copy(from: path, to: stored, mode: 0o444)
    return stored
  }

  /// The stored parameter file of `version`, after recomputing its hash: a
  /// file changed after registration is an error naming it.
  public func verifiedModel(_ version: ModelVersion) throws -> String {
    let path = version.parametersFile
    guard FileSystem.isRegularFile(path) else {
      throw StoreError(path: path, message: "parameter file of \(version.name)@\(version.version) is missing")
    }
    let actual: String
    do { actual = try parametersSHA256(file: path) } catch {
      throw StoreError(path: path, message: "parameter file of \(version.name)@\(version.version) is unreadable (tampered with?): \(error)")
    }
    guard actual == version.parametersSHA256 else {
      throw StoreError(path: path, message: "parameter file of \(version.name)@\(version.version) was modified: "
                       + "hashes to \(actual.prefix(12))…, registered as \(version.parametersSHA256.prefix(12))…")
    }
    return path
  }

  // MARK: Registry

  /// The run registry in `registry.sqlite`, opened (and created or migrated)
  /// on first use and shared by later uses of this `Store` value and its copies.
  /// The recorded run `id`; an unknown id is an error saying where to look.
  public func recordedRun(id: String) throws -> RunRecord {
    guard let run = try registry.run(id: id) else {
      throw StoreError(path: id, message: "no such run in \(registryPath) (tandem runs list --store \(root) shows them)")
    }
    return run
  }

  public var registry: RunRegistry {
    get throws {
      // SQLite would take a 0-byte file for a new, empty registry and orphan
      // every snapshot: a store that has snapshots has lost its registry.
      if FileSystem.status(registryPath)?.size == 0, case let snapshots = try StoreFiles.entries(of: snapshotsDirectory), !snapshots.isEmpty {
        throw StoreError(path: registryPath, message: "is empty (0 bytes) but the store holds \(snapshots.count) snapshot(s): "
                         + "the registry was truncated or replaced; restore it from a backup")
      }
      return try registryBox.registry(path: registryPath, lockPath: root + "/registry.lock")
    }
  }
}

/// Holds a store's registry once opened: opening runs migrations under a file
/// lock, which is not worth repeating for every record.
private final class RegistryBox: @unchecked Sendable {
  private let lock = NSLock()
  private var opened: RunRegistry?

  func registry(path: String, lockPath: String) throws -> RunRegistry {
    lock.lock()
    defer { lock.unlock() }
    if let opened { return opened }
    let registry = try RunRegistry(path: path, lockPath: lockPath)
    opened = registry
    return registry
  }
}
