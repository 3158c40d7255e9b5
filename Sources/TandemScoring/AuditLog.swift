import Foundation
import TandemData
import TandemStore

/// One prediction as the audit log keeps it: enough to score it again and
/// prove the same model gives the same output for the same input.
public struct PredictionRecord: Codable, Sendable, Equatable {
  public var model: String
  public var version: Int
  public var snapshotID: String
  public var parametersSHA256: String
  public var id: String
  public var source: SampleSource
  /// SHA-256 of the float32 input the model saw.
  public var inputSHA256: String
  public var probability: Double
  /// The probability's float32 bits, for an exact comparison.
  public var probabilityBits: UInt32
  public var label: String
  public var threshold: Double
  public var needsReview: Bool
  public var time: Date
  public var user: String

  public init(model: String, version: Int, snapshotID: String, parametersSHA256: String, id: String, source: SampleSource,
              inputSHA256: String, probability: Double, probabilityBits: UInt32, label: String, threshold: Double,
              needsReview: Bool, time: Date, user: String) {
    self.model = model
    self.version = version
    self.snapshotID = snapshotID
    self.parametersSHA256 = parametersSHA256
    self.id = id
    self.source = source
    self.inputSHA256 = inputSHA256
    self.probability = probability
    self.probabilityBits = probabilityBits
    self.label = label
    self.threshold = threshold
    self.needsReview = needsReview
    self.time = time
    self.user = user
  }
}

/// `STORE/audit/<model>.jsonl`: one JSON object per prediction, appended
/// under an exclusive lock and fsynced before `predict` reports success, so
/// two scoring jobs never interleave lines and none is lost to a crash.
public struct AuditLog {
  public let path: String

  public init(store: Store, model: String) {
    path = store.root + "/audit/\(model).jsonl"
  }

  public func append(_ records: [PredictionRecord]) throws {
    guard !records.isEmpty else { return }
    try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    encoder.dateEncodingStrategy = .iso8601
    var text = Data()
    for record in records {
      text.append(try encoder.encode(record))
      text.append(0x0A)
    }
    let fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0o644)
    guard fd >= 0 else { throw DataError(path: path, message: "cannot open the audit log: \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    flock(fd, LOCK_EX)
    defer { flock(fd, LOCK_UN) }
    let written = text.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    guard written == text.count, fsync(fd) == 0 else {
      throw DataError(path: path, message: "cannot append to the audit log (disk full?): \(String(cString: strerror(errno)))")
    }
  }

  /// Every record, in order; a damaged line is an error naming its number.
  public func records() throws -> [PredictionRecord] {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw DataError(path: path, message: "no audit log (nothing was scored with this model)")
    }
    let decoder = JSONDecoder()
    decoder.dateDecodingStrategy = .iso8601
    var out: [PredictionRecord] = []
    for (k, line) in data.split(separator: 0x0A).enumerated() where !line.isEmpty {
      do { out.append(try decoder.decode(PredictionRecord.self, from: Data(line))) } catch {
        throw DataError(path: path, message: "line \(k + 1) is not a prediction record: \(error)")
      }
    }
    return out
  }
}
