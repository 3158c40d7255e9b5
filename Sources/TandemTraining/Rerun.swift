import Foundation
import TandemCUDA
import TandemRun
import TandemData
import TandemStore
import TandemTensor

/// A re-run of a snapshot: the run file, seed and data it names, and the
/// original run to compare with, found in the store alone.
public struct Rerun: Sendable {
  public let snapshotID: String
  public let manifest: SnapshotManifest
  /// The snapshot's run file, reading the stored dataset and writing under
  /// `output`, with no store of its own (a re-run is a check, not a new run).
  public let configuration: RunConfiguration
  /// The earliest finished run of the snapshot: the result to reproduce
  /// (looked up by the coordinator only).
  public let original: RunRecord?
  /// Differences people should know before trusting the comparison (other
  /// code, settings this version resolves differently).
  public let notes: [String]

  /// Plans a re-run of `snapshotID` from the store at `storeRoot`. The
  /// coordinator recomputes the stored dataset's content hash (one full read;
  /// a mismatch refuses the re-run) and finds the original run in the
  /// registry; the other ranks only need the snapshot and the dataset's path.
  public init(snapshotID: String, storeRoot: String, output: String, coordinator: Bool) throws {
    let store = try Store(root: storeRoot, create: false)
    let manifest = try store.snapshot(id: snapshotID)
    let dataset = coordinator ? try store.verifiedDataset(sha256: manifest.datasetSHA256)
      : try store.datasetPath(sha256: manifest.datasetSHA256)
    var configuration: RunConfiguration
    do {
      configuration = try RunConfiguration(toml: manifest.configTOML, file: "snapshot \(snapshotID.prefix(12))")
    } catch {
      throw StoreError(path: "snapshot \(snapshotID)", message: "its run file no longer parses: \(error)")
    }
    var notes: [String] = []
    let resolved = configuration.resolved()
    for key in RunConfiguration.differingKeys(resolved, manifest.resolvedConfig) {
      notes.append("setting \(key) resolves to \(resolved[key] ?? "nothing") now, \(manifest.resolvedConfig[key] ?? "nothing") in the snapshot")
    }
    // The bits depend on the numeric configuration alone: refuse what this
    // machine cannot compute rather than report a difference as a changed model.
    let was = manifest.environment
    if was.numerics == nil { configuration.cluster.numerics = .openBLAS }
    switch Numerics.reproducibility(of: was.numerics, recordedOpenBLASCore: was.openBLASCore) {
    case .reproducible(let note): if let note { notes.append("numerics: \(note)") }
    case .notReproducible(let why): throw CannotReproduceError(what: "snapshot \(snapshotID.prefix(12))", reason: why)
    }
    // A GPU run's bits belong to its GPU architecture and cuBLAS: probe this
    // machine's GPU (the rank's own, as training will) before anything runs.
    if let recorded = was.gpu {
      let probe = Result { () throws(CUDAError) in try CUDADevice.open() }
      let here = try? probe.get()
      if let why = recorded.refusal(toRerunOn: here.map(EnvironmentInfo.GPU.init)) {
        let cause = if case .failure(let error) = probe { " (\(error))" } else { "" }
        throw CannotReproduceError(what: "snapshot \(snapshotID.prefix(12))", reason: why + cause)
      }
      if let here, here.info.driver != recorded.driver || here.info.runtime != recorded.cudaRuntime {
        notes.append("CUDA driver \(here.info.driver) and runtime \(here.info.runtime) here, \(recorded.driver) and "
                     + "\(recorded.cudaRuntime) in the snapshot (the kernels and cuBLAS are the same)")
      }
    }
    let now = EnvironmentInfo.current(blasConfig: BLAS.configuration, blasCore: BLAS.coreName,
                                      blasThreads: configuration.cluster.blasThreads, mpiVersion: manifest.environment.mpiVersion)
    for (what, current, then) in [("CPU", now.cpuModel, was.cpuModel), ("HDF5", now.hdf5Version, was.hdf5Version)]
    where current != then {
      notes.append("\(what) is \(current) here, \(then) in the snapshot (the pinned numerics do not depend on it)")
    }
    if configuration.cluster.numerics == .openBLAS && now.openBLASConfig != was.openBLASConfig {
      notes.append("OpenBLAS is \(now.openBLASConfig) here, \(was.openBLASConfig) in the snapshot: the bits may differ")
    }
    let code = CodeVersion.current()
    if code != manifest.code { notes.append("code is \(code.summary), the snapshot ran \(manifest.code.summary)") }
    configuration.dataset = dataset
    configuration.output = output
    configuration.store = ""

    var original: RunRecord?
    if coordinator {
      let runs = try store.registry.runs(snapshotID: snapshotID).filter { $0.status == .finished && $0.parametersSHA256 != nil }
      original = runs.min { ($0.startedAt, $0.id) < ($1.startedAt, $1.id) }
      guard original != nil else {
        throw StoreError(path: store.registryPath, message: "no finished run of snapshot \(snapshotID.prefix(12))… to compare with")
      }
    }
    self.snapshotID = snapshotID
    self.manifest = manifest
    self.configuration = configuration
    self.original = original
    self.notes = notes
  }

  /// Compares the re-run's parameter file with the original's: bitwise, by the
  /// hash the registry recorded when the original finished, and tensor by
  /// tensor where the original file is still there.
  public func compare(parametersFile path: String) throws -> ParameterComparison {
    guard let original else {
      throw DataError(path: snapshotID, message: "this rank has no original run to compare with (compare on rank 0, which found it)")
    }
    let hash = try parametersSHA256(file: path)
    let recorded = original.parametersSHA256 ?? ""
    var comparison = ParameterComparison(snapshotID: snapshotID, originalRun: original.id, recordedSHA256: recorded,
                                         rerunSHA256: hash)
    guard let originalFile = original.parametersFile, FileManager.default.fileExists(atPath: originalFile) else {
      comparison.notes.append("the original parameter file is gone; compared by the recorded hash only")
      return comparison
    }
    if try parametersSHA256(file: originalFile) != recorded {
      comparison.notes.append("\(originalFile) no longer matches the hash recorded when the run finished")
    }
    let rerun = try ParameterFile.read(path), before = try ParameterFile.read(originalFile)
    guard rerun.map(\.name) == before.map(\.name), rerun.map(\.value.shape) == before.map(\.value.shape) else {
      comparison.notes.append("the parameter tensors differ in names or shapes")
      comparison.identical = false
      return comparison
    }
    comparison.tensors = zip(rerun, before).map { new, old in
      var worst: Float = 0
      var differing = 0
      for (a, b) in zip(new.value.scalars, old.value.scalars) where a.bitPattern != b.bitPattern {
        differing += 1
        let d = abs(a - b)
        worst = d.isNaN ? .nan : max(worst, d)
      }
      return .init(name: new.name, count: new.value.count, differing: differing, maxAbsDifference: worst)
    }
    return comparison
  }
}

/// The outcome of a re-run: `identical` means the parameters hash, over their
/// exact bits, to what the original run recorded.
public struct ParameterComparison: Codable, Sendable {
  public struct TensorDifference: Codable, Sendable {
    public var name: String
    public var count: Int
    /// Values whose bits differ.
    public var differing: Int
    public var maxAbsDifference: Float
  }

  public var snapshotID: String
  public var originalRun: String
  public var recordedSHA256: String
  public var rerunSHA256: String
  public var identical: Bool
  public var tensors: [TensorDifference] = []
  public var notes: [String] = []

  init(snapshotID: String, originalRun: String, recordedSHA256: String, rerunSHA256: String) {
    self.snapshotID = snapshotID
    self.originalRun = originalRun
    self.recordedSHA256 = recordedSHA256
    self.rerunSHA256 = rerunSHA256
    identical = recordedSHA256 == rerunSHA256
  }

  /// Writes the comparison as JSON (temporary file, rename).
  public func write(to path: String) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    try AtomicFile.write(try encoder.encode(self), to: path)
  }

  /// One line per differing tensor, for people.
  public var report: [String] {
    if identical { return ["identical"] }
    var lines = ["differs from run \(originalRun): parameters hash \(rerunSHA256.prefix(12))…, recorded \(recordedSHA256.prefix(12))…"]
    for t in tensors where t.differing > 0 {
      lines.append("  \(t.name): max |Δ| \(t.maxAbsDifference), \(t.differing) of \(t.count) values differ")
    }
    return lines
  }
}
