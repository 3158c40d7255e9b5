import Foundation
import TandemData
import TandemRun
import TandemSystem

/// `metrics.jsonl`: one JSON object per line, per step (loss and every rank's
/// compute / data-wait / allreduce milliseconds), per epoch (validation) and
/// per checkpoint (milliseconds to write it).
final class MetricsLog {
  private let handle: FileHandle
  let path: String

  /// Opens for appending: a resumed run continues its log.
  init(path: String) throws {
    self.path = path
    if !FileManager.default.fileExists(atPath: path) { _ = FileManager.default.createFile(atPath: path, contents: nil) }
    guard let handle = FileHandle(forWritingAtPath: path) else {
      throw DataError(path: path, message: "cannot open the metrics file for writing")
    }
    try handle.seekToEnd()
    self.handle = handle
  }

  deinit { try? handle.close() }

  func write(epoch: Int, firstStep: Int, losses: [Double], learningRates: [Double] = [], timings: [Double], worldSize: Int,
             validation: ClassificationMetrics) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    var text = ""
    for (k, loss) in losses.enumerated() {
      let s = firstStep + k
      var ranks: [MetricsFile.StepLine.RankTiming] = []
      for r in 0..<worldSize {
        let slot = (s * worldSize + r) * 3
        ranks.append(.init(rank: r, computeMs: timings[slot] * 1e3, dataWaitMs: timings[slot + 1] * 1e3,
                           allreduceMs: timings[slot + 2] * 1e3))
      }
      let line = MetricsFile.StepLine(epoch: epoch, step: s + 1, loss: loss,
                                      learningRate: k < learningRates.count ? learningRates[k] : nil, ranks: ranks)
      text += String(decoding: try encoder.encode(line), as: UTF8.self) + "\n"
    }
    text += String(decoding: try encoder.encode(MetricsFile.EpochLine(epoch: epoch, validation: validation)), as: UTF8.self) + "\n"
    try handle.write(contentsOf: Data(text.utf8))
    try handle.synchronize()
  }

  /// One line per checkpoint, written when it is: how long writing it took.
  func write(checkpointAt step: Int, seconds: Double, path: String) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    let line = MetricsFile.CheckpointLine(step: step, ms: seconds * 1e3, file: (path as NSString).lastPathComponent)
    try handle.write(contentsOf: try encoder.encode(line) + Data("\n".utf8))
  }

  /// Where a resumed run picked up. Step lines are written at each epoch's
  /// end, so the interrupted process's steps of this epoch are not in the
  /// log; this line says so instead of leaving a silent gap.
  func write(resumeAt epoch: Int, stepInEpoch: Int, globalStep: Int, worldSize: Int) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    let line = MetricsFile.ResumeLine(epoch: epoch, step: stepInEpoch, globalStep: globalStep, worldSize: worldSize,
                          note: stepInEpoch > 0 ? "steps 1 to \(stepInEpoch) of epoch \(epoch) ran before the interruption; their step records were not written"
                            : "resumed at the start of epoch \(epoch)")
    try handle.write(contentsOf: try encoder.encode(line) + Data("\n".utf8))
    try handle.synchronize()
  }
}

/// Progress on rank 0: a bar redrawn in place on a terminal, plain lines
/// (at most one every few seconds, plus each epoch's last step) otherwise.
///
/// Under mpirun, rank 0's standard output is a pseudo-terminal whatever the
/// user's own output is, so a bar is drawn there only when asked for with
/// `TANDEM_PROGRESS=bar` (and never when `TANDEM_PROGRESS=plain`).
final class ProgressReporter {
  private let enabled: Bool
  private let totalSteps: Int
  private let unit: String
  private let log: (String) -> Void
  private let terminal: Bool = {
    let environment = ProcessInfo.processInfo.environment
    switch environment["TANDEM_PROGRESS"] {
    case "bar": return true
    case "plain": return false
    default: return isatty(1) != 0 && environment["OMPI_COMM_WORLD_SIZE"] == nil && environment["PMI_SIZE"] == nil
    }
  }()
  private let start = Date()
  private var lastLine = Date.distantPast

  init(enabled: Bool, totalSteps: Int, unit: String, log: @escaping (String) -> Void) {
    self.enabled = enabled
    self.totalSteps = totalSteps
    self.unit = unit
    self.log = log
  }

  /// Shows the step (rank 0 only) and returns its rate and ETA in seconds.
  @discardableResult
  func update(epoch: Int, epochs: Int, step: Int, stepsInEpoch: Int, globalStep: Int, loss: Double, samples: Int)
    -> (samplesPerSecond: Double, eta: Double)? {
    guard enabled else { return nil }
    let elapsed = Date().timeIntervalSince(start)
    let rate = Double(samples) / max(elapsed, 1e-9)
    let eta = elapsed / Double(globalStep) * Double(max(totalSteps - globalStep, 0))
    let text = String(format: "epoch %d/%d  step %d/%d  loss %.4f  %.0f %@/s  ETA %@",
                      epoch, epochs, step, stepsInEpoch, loss, rate, unit, Self.duration(eta))
    if terminal {
      let width = 24, filled = width * step / max(stepsInEpoch, 1)
      let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
      FileHandle.standardOutput.write(Data("\r\u{1B}[K[\(bar)] \(text)".utf8))
    } else if step == stepsInEpoch || Date().timeIntervalSince(lastLine) >= 2 {
      lastLine = Date()
      log(text)
    }
    return (rate, eta)
  }

  func finishEpoch() {
    if enabled && terminal { FileHandle.standardOutput.write(Data("\r\u{1B}[K".utf8)) }
  }

  static func duration(_ seconds: Double) -> String {
    let s = Int(seconds.rounded())
    return s >= 3600 ? "\(s / 3600)h\(s % 3600 / 60)m" : s >= 60 ? "\(s / 60)m\(s % 60)s" : "\(s)s"
  }
}

/// Deliberate failures for testing that a job never hangs, driven by the
/// environment variable `TANDEM_FAULT` = `KIND:rank=R:step=S`, where KIND is
/// `kill` (SIGKILL itself), `raise` (throw an error) or `stall` (stop
/// responding), on rank R before global step S (counted from 0).
public struct FaultInjection: Sendable, Equatable {
  /// `filesize` lowers the rank's file-size limit (RLIMIT_FSIZE) to `kib`
  /// KiB: from then on, writes past it fail as on a full disk, with the
  /// kernel's own error. (A limit set before launch would stop MPI itself,
  /// whose shared-memory segments are files too.)
  /// `term` sends the rank SIGTERM, as a scheduler's preemption does.
  public enum Kind: String, Sendable { case kill, raise, stall, filesize, term }
  public var kind: Kind?
  public var rank = 0
  public var step = 0
  public var kib = 0

  public static let none = FaultInjection(kind: nil)

  public init(kind: Kind?, rank: Int = 0, step: Int = 0) {
    self.kind = kind; self.rank = rank; self.step = step
  }

  /// Parses `TANDEM_FAULT`; a malformed value is an error, not a silent no-op.
  public init(environment: [String: String]) throws {
    guard let spec = environment["TANDEM_FAULT"], !spec.isEmpty else { self = .none; return }
    let parts = spec.split(separator: ":").map(String.init)
    guard let kind = parts.first.flatMap(Kind.init(rawValue:)) else {
      throw DataError(path: "TANDEM_FAULT", message: "'\(spec)': expected kill|raise|stall|term:rank=R:step=S or filesize:rank=R:step=S:kib=K")
    }
    self.kind = kind
    for part in parts.dropFirst() {
      let kv = part.split(separator: "=").map(String.init)
      guard kv.count == 2, let value = Int(kv[1]) else {
        throw DataError(path: "TANDEM_FAULT", message: "'\(spec)': bad field '\(part)'")
      }
      switch kv[0] {
      case "rank": rank = value
      case "step": step = value
      case "kib": kib = value
      default: throw DataError(path: "TANDEM_FAULT", message: "'\(spec)': unknown field '\(kv[0])'")
      }
    }
  }

  func trigger(rank: Int, step: Int) throws {
    guard let kind, rank == self.rank, step == self.step else { return }
    switch kind {
    case .kill: SystemProcess.kill(SystemProcess.id, SIGKILL)
    case .term: SystemProcess.kill(SystemProcess.id, SIGTERM)
    case .raise: throw DataError(path: "TANDEM_FAULT", message: "injected failure on rank \(rank) at step \(step)")
    case .stall: while true { Thread.sleep(forTimeInterval: 60) }
    case .filesize: SystemProcess.limitFileSize(to: UInt64(kib) * 1024)
    }
  }
}

/// Rank 0's Prometheus textfile of a run's progress,
/// `DIR/tandem_training_TASK_MODEL.prom` (one file per task and model, so a
/// scheduled retrain replaces its predecessor's): written at most every five
/// seconds while training and at each epoch, checkpoint and end. A write that
/// fails (a full disk) is reported once and never stops the training.
final class TrainingMetrics {
  enum State: String, CaseIterable { case running, finished, preempted, failed }

  private let directory: String
  private let fileName: String
  private let labels: [(String, String)]
  private let log: (String) -> Void
  private let started = Date()
  private var lastWrite = Date.distantPast
  private var failedOnce = false

  var state = State.running
  var epoch = 0, epochs = 0, step = 0, totalSteps = 0
  var loss = Double.nan, samplesPerSecond = 0.0, etaSeconds = Double.nan
  var validationAUC: Double?
  var lastCheckpoint: Date?

  init(directory: String, run: String, configuration: RunConfiguration, worldSize: Int, log: @escaping (String) -> Void) {
    self.directory = directory
    fileName = "tandem_training_\(configuration.task.rawValue)_\(configuration.model.rawValue)"
    labels = [("run", run), ("model", configuration.model.rawValue), ("task", configuration.task.rawValue),
              ("world_size", String(worldSize))]
    epochs = configuration.epochs
    self.log = log
  }

  /// Writes now when `force` or five seconds have passed since the last write.
  func write(force: Bool = false) {
    let now = Date()
    guard force || now.timeIntervalSince(lastWrite) >= 5 else { return }
    lastWrite = now
    var file = PrometheusTextfile()
    for s in State.allCases {
      file.gauge("tandem_training_state", "1 for the run's state (running, finished, preempted, failed), 0 for the others.",
                 s == state ? 1 : 0, labels: labels + [("state", s.rawValue)])
    }
    file.gauge("tandem_training_epoch", "Epoch in progress (1-based).", Double(epoch), labels: labels)
    file.gauge("tandem_training_epochs", "Epochs the run file asks for.", Double(epochs), labels: labels)
    file.gauge("tandem_training_step", "Global steps done.", Double(step), labels: labels)
    file.gauge("tandem_training_steps", "Global steps the run will take.", Double(totalSteps), labels: labels)
    file.gauge("tandem_training_loss", "Training loss of the latest step.", loss, labels: labels)
    file.gauge("tandem_training_samples_per_second", "Training samples per second since this process started.",
               samplesPerSecond, labels: labels)
    file.gauge("tandem_training_eta_seconds", "Estimated seconds until the last step.", etaSeconds, labels: labels)
    if let validationAUC {
      file.gauge("tandem_training_validation_auc", "Validation ROC AUC of the latest finished epoch.", validationAUC, labels: labels)
    }
    if let lastCheckpoint {
      file.gauge("tandem_training_last_checkpoint_timestamp_seconds", "Unix time of the newest checkpoint.",
                 lastCheckpoint.timeIntervalSince1970, labels: labels)
      file.gauge("tandem_training_checkpoint_age_seconds", "Seconds between the newest checkpoint and this file's update.",
                 now.timeIntervalSince(lastCheckpoint), labels: labels)
    }
    file.gauge("tandem_training_started_timestamp_seconds", "Unix time this process started training.",
               started.timeIntervalSince1970, labels: labels)
    file.gauge("tandem_training_updated_timestamp_seconds", "Unix time of this file's update (stale when it stops moving).",
               now.timeIntervalSince1970, labels: labels)
    do { try file.write(directory: directory, name: fileName) } catch {
      if !failedOnce { log("note: cannot write Prometheus metrics (training goes on): \(error)") }
      failedOnce = true
    }
  }
}
