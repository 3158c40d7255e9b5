import Foundation
import TandemData
import TandemRun
import TandemStore
import TandemSystem
import TandemTensor

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
  /// The numeric configuration that computed `probability` (`Numerics.identifier`);
  /// nil in records written before Tandem pinned its numerics.
  public var numerics: String?

  public init(model: String, version: Int, snapshotID: String, parametersSHA256: String, id: String, source: SampleSource,
              inputSHA256: String, probability: Double, probabilityBits: UInt32, label: String, threshold: Double,
              needsReview: Bool, time: Date, user: String, numerics: String? = Numerics.identifier) {
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
    self.numerics = numerics
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

  /// Appends `records` under the lock and fsyncs. A torn last line (a crash
  /// mid-append left a record without its newline, and that `predict` never
  /// reported success) is moved to `LOG.torn-OFFSET` and cut off first, so the
  /// new records start on a line of their own; returns that file's path.
  @discardableResult
  public func append(_ records: [PredictionRecord]) throws -> String? {
    guard !records.isEmpty else { return nil }
    try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    encoder.dateEncodingStrategy = .iso8601
    var text = Data()
    for record in records {
      text.append(try encoder.encode(record))
      text.append(0x0A)
    }
    // One appender at a time, across processes and ranks.
    let lock = try FileLock(path: path, waiting: true, busy: "")
    defer { withExtendedLifetime(lock) {} }
    let file: SystemFile
    do { file = try SystemFile(opening: path, O_RDWR | O_APPEND | O_CREAT) } catch {  // read too: the torn-tail check
      throw DataError(path: path, message: "cannot open the audit log: \(error)")
    }
    let torn = try cutTornTail(file)
    do {
      try file.write(text)
      try file.sync()
    } catch {
      throw DataError(path: path, message: "cannot append to the audit log (disk full?): \(error)")
    }
    return torn
  }

  private func cutTornTail(_ file: SystemFile) throws -> String? {
    let size: Int
    do { size = try file.status().size } catch { throw DataError(path: path, message: "cannot stat the audit log: \(error)") }
    guard size > 0 else { return nil }
    // A record is a few hundred bytes: the last newline lies in the final MiB.
    let window = min(size, 1 << 20)
    let tail: [UInt8]
    do { tail = try file.read(count: window, at: size - window) } catch {
      throw DataError(path: path, message: "cannot read the audit log's end: \(error)")
    }
    guard tail.count == window else { throw DataError(path: path, message: "the audit log shrank while being read") }
    guard tail.last != 0x0A else { return nil }
    let keep = tail.lastIndex(of: 0x0A).map { size - window + $0 + 1 } ?? (window == size ? 0 : -1)
    guard keep >= 0 else { throw DataError(path: path, message: "the last line is over 1 MiB long: not an audit log") }
    let sidecar = "\(path).torn-\(keep)"
    try AtomicFile.write(Data(tail[(window - (size - keep))...]), to: sidecar)
    do {
      try file.truncate(to: keep)
      try file.sync()
    } catch {
      throw DataError(path: path, message: "cannot cut the torn last line: \(error)")
    }
    return sidecar
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

/// The live metric of a model version from delayed ground truth: outcomes
/// known weeks after scoring, joined by id with the predictions the audit log
/// kept (the latest one per id), at the threshold each prediction used.
public enum LiveFromAudit {
  public static func metrics(log: AuditLog, version: ModelVersion, labels path: String, classNames: [String]) throws
    -> LiveMetric {
    let data: [UInt8]
    do { data = try readFileBytes(path) } catch { throw DataError(path: path, message: error.message) }
    let table = try CSVTable(bytes: data, path: path)
    guard let idColumn = table.header.firstIndex(of: "id"), let labelColumn = table.header.firstIndex(of: "label") else {
      throw DataError(path: path, message: "needs columns id and label, has \(table.header.joined(separator: ", "))")
    }
    var truth: [String: Int32] = [:]
    for (r, row) in table.rows.enumerated() {
      let value = row[labelColumn].trimmingCharacters(in: .whitespaces)
      guard let label = value == "1" ? 1 : value == "0" ? 0 : classNames.firstIndex(of: value).map(Int32.init) else {
        throw DataError(path: path, message: "line \(table.lines[r]): label '\(value)' is not 0, 1, \(classNames.joined(separator: " or "))")
      }
      truth[row[idColumn]] = label
    }
    var latest: [String: PredictionRecord] = [:]
    for record in try log.records() where record.version == version.version { latest[record.id] = record }
    let joined = latest.values.filter { truth[$0.id] != nil }.sorted { $0.id < $1.id }
    guard !joined.isEmpty else {
      throw DataError(path: path, message: "no id matches a prediction of \(version.name)@\(version.version) in \(log.path)")
    }
    // Each prediction counts at its own threshold: compare labels, not scores.
    var tp = 0, fp = 0, fn = 0, tn = 0
    for record in joined {
      switch (record.probability >= record.threshold, truth[record.id]! == 1) {
      case (true, true): tp += 1
      case (true, false): fp += 1
      case (false, true): fn += 1
      case (false, false): tn += 1
      }
    }
    let auc = ClassificationMetrics.rocAUC(scores: joined.map { Float($0.probability) }, labels: joined.map { truth[$0.id]! })
    let accuracy = Double(tp + tn) / Double(joined.count)
    let recall: Double = tp + fn == 0 ? 0 : Double(tp) / Double(tp + fn)
    return LiveMetric(count: joined.count, accuracy: accuracy, recall: recall, rocAUC: auc)
  }
}
