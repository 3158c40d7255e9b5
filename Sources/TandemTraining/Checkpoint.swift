import Crypto
import Foundation
import TandemRun
import TandemData
import TandemNN
import TandemSystem
import TandemTensor

/// Everything needed to continue a run exactly where it stopped: parameters,
/// momentum, and the position in the data order. The data order itself
/// needs no saved RNG state: it follows from (seed, epoch), so the epoch and
/// the number of steps done in it say which sample comes next.
///
/// One HDF5 file, readable with h5py: `/parameters/NAME` and `/velocity/NAME`
/// (float32, the parameter's shape), and attributes `format`, `epoch`,
/// `step_in_epoch`, `global_step`, `seed`, `config_toml`, `validation_json`,
/// `parameter_names`, and `checksum`: SHA-256 over all of the above, so a
/// truncated or altered file is detected rather than resumed from.
public struct Checkpoint: Equatable {
  public static let format = "tandem-checkpoint-1"

  public var parameters: [(name: String, value: Tensor)]
  public var velocities: [[Float]]
  /// The epoch in progress (0-based) and the steps already done in it.
  public var epoch: Int
  public var stepInEpoch: Int
  public var globalStep: Int
  public var seed: UInt64
  public var configTOML: String
  /// Validation metrics of the finished epochs, as JSON.
  public var validationJSON: String
  /// The training data's content hash; nil in checkpoints written before it was recorded.
  public var datasetSHA256: String?

  public static func == (a: Checkpoint, b: Checkpoint) -> Bool {
    a.parameters.map(\.name) == b.parameters.map(\.name) && a.parameters.map(\.value) == b.parameters.map(\.value)
      && a.velocities == b.velocities && a.epoch == b.epoch && a.stepInEpoch == b.stepInEpoch
      && a.globalStep == b.globalStep && a.seed == b.seed && a.configTOML == b.configTOML
      && a.validationJSON == b.validationJSON && a.datasetSHA256 == b.datasetSHA256
  }

  public init(parameters: [(name: String, value: Tensor)], velocities: [[Float]], epoch: Int, stepInEpoch: Int,
              globalStep: Int, seed: UInt64, configTOML: String, validationJSON: String, datasetSHA256: String? = nil) {
    self.parameters = parameters
    self.velocities = velocities
    self.epoch = epoch
    self.stepInEpoch = stepInEpoch
    self.globalStep = globalStep
    self.seed = seed
    self.configTOML = configTOML
    self.validationJSON = validationJSON
    self.datasetSHA256 = datasetSHA256
  }

  /// SHA-256 over the logical contents, in a fixed order.
  public var checksum: String {
    var hash = SHA256()
    func add(_ value: Int64) { withUnsafeBytes(of: value.littleEndian) { hash.update(bufferPointer: $0) } }
    func add(_ text: String) { add(Int64(text.utf8.count)); hash.update(data: Data(text.utf8)) }
    func add(_ floats: [Float]) {
      add(Int64(floats.count))
      // Float32 little-endian bytes, as on every platform Tandem targets; hashing
      // the buffer directly keeps a checkpoint of xray-cnn to milliseconds.
      #if _endian(little)
      floats.withUnsafeBytes { hash.update(bufferPointer: $0) }
      #else
      for f in floats { withUnsafeBytes(of: f.bitPattern.littleEndian) { hash.update(bufferPointer: $0) } }
      #endif
    }
    add(Self.format)
    for (p, v) in zip(parameters, velocities) {
      add(p.name)
      add(Int64(p.value.shape.count))
      p.value.shape.forEach { add(Int64($0)) }
      add(p.value.scalars)
      add(v)
    }
    [epoch, stepInEpoch, globalStep].forEach { add(Int64($0)) }
    add(Int64(bitPattern: seed))
    add(configTOML)
    add(validationJSON)
    // Absent in older checkpoints, whose checksums must still verify.
    if let datasetSHA256 { add(datasetSHA256) }
    return hash.finalize().map { String(format: "%02x", $0) }.joined()
  }

  /// Writes atomically: temporary file, fsync, rename, fsync of the directory.
  public func write(to path: String) throws {
    let output = try AtomicOutput(path: path, replacing: true)
    let file = try HDF5File(creatingAt: output.temporaryPath, displayPath: path)
    try file.createGroup("parameters")
    try file.createGroup("velocity")
    for (p, v) in zip(parameters, velocities) {
      try file.write("parameters/\(p.name)", p.value.scalars, shape: p.value.shape)
      try file.write("velocity/\(p.name)", v, shape: p.value.shape)
    }
    try file.setAttribute("format", .string(Self.format))
    try file.setAttribute("parameter_names", .strings(parameters.map(\.name)))
    try file.setAttribute("epoch", .int(Int64(epoch)))
    try file.setAttribute("step_in_epoch", .int(Int64(stepInEpoch)))
    try file.setAttribute("global_step", .int(Int64(globalStep)))
    try file.setAttribute("seed", .string(String(seed)))
    try file.setAttribute("config_toml", .string(configTOML))
    try file.setAttribute("validation_json", .string(validationJSON))
    if let datasetSHA256 { try file.setAttribute("dataset_sha256", .string(datasetSHA256)) }
    try file.setAttribute("checksum", .string(checksum))
    try file.close()
    try output.commit()
  }

  /// Reads and verifies a checkpoint; any damage is an error naming the file.
  public init(contentsOf path: String) throws {
    let file = try HDF5File(readingAt: path)
    func string(_ name: String) throws -> String {
      guard let v = try file.attribute(name)?.stringValue else {
        throw DataError(path: path, message: "not a Tandem checkpoint (attribute '\(name)' missing)")
      }
      return v
    }
    func int(_ name: String) throws -> Int {
      guard let v = try file.attribute(name)?.intValue else {
        throw DataError(path: path, message: "not a Tandem checkpoint (attribute '\(name)' missing)")
      }
      return Int(v)
    }
    guard try string("format") == Self.format else {
      throw DataError(path: path, message: "unknown checkpoint format '\(try string("format"))'")
    }
    guard let names = try file.attribute("parameter_names")?.stringsValue else {
      throw DataError(path: path, message: "not a Tandem checkpoint (no parameter_names)")
    }
    parameters = try names.map { name in
      let d = try file.dataset("parameters/\(name)")
      return (name, Tensor(uncheckedShape: d.shape, scalars: try d.readAll(as: Float.self)))
    }
    velocities = try names.map { try file.dataset("velocity/\($0)").readAll(as: Float.self) }
    epoch = try int("epoch")
    stepInEpoch = try int("step_in_epoch")
    globalStep = try int("global_step")
    guard let seed = UInt64(try string("seed")) else { throw DataError(path: path, message: "bad seed attribute") }
    self.seed = seed
    configTOML = try string("config_toml")
    validationJSON = try string("validation_json")
    datasetSHA256 = try file.attribute("dataset_sha256")?.stringValue
    let stored = try string("checksum")
    guard stored == checksum else {
      throw DataError(path: path, message: "checksum mismatch (stored \(stored.prefix(12)), contents \(checksum.prefix(12))): damaged checkpoint")
    }
  }
}

/// The checkpoints of one run: `RUN/checkpoints/step-NNNNNNNN.h5`, newest last.
public struct CheckpointDirectory {
  public let path: String

  public init(run: String) { path = run + "/checkpoints" }

  public func fileName(globalStep: Int) -> String { String(format: "%@/step-%08d.h5", path, globalStep) }

  /// Checkpoint files by step, oldest first (temporary files are ignored).
  public func files() throws -> [String] {
    let names: [String]
    do { names = try FileSystem.entries(of: path) } catch { throw DataError(path: path, message: "cannot list checkpoints: \(error)") }
    return names.filter { $0.hasPrefix("step-") && $0.hasSuffix(".h5") }.sorted().map { path + "/" + $0 }
  }

  /// Writes `checkpoint`, then deletes all but the newest `keep`.
  public func save(_ checkpoint: Checkpoint, keep: Int) throws {
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    try checkpoint.write(to: fileName(globalStep: checkpoint.globalStep))
    // An old checkpoint that cannot be removed costs only disk space.
    for old in try files().dropLast(keep) { FileSystem.remove(old) }
  }

  /// The newest checkpoint that reads back and passes its checksum; damaged
  /// newer ones are skipped, each with a warning.
  public func newestValid(warn: (String) -> Void) throws -> Checkpoint? {
    for file in try files().reversed() {
      do {
        return try Checkpoint(contentsOf: file)
      } catch {
        warn("warning: skipping \(file): \(error)")
      }
    }
    return nil
  }
}
