import Foundation
import TandemData
import TandemStore
import TandemRun
import TandemSystem

/// Everything a report shows about one run, read from its directory and the
/// store: metrics per step and epoch, evaluations, explanations, the summary,
/// the snapshot manifest and registry row, and the run file.
///
/// Only `metrics.jsonl` is required. A file that is present but unreadable is
/// an error naming it; an absent optional part (no evaluation yet, no
/// explanations, no store) becomes a note in the page instead.
public struct RunReport: Sendable {
  public typealias RankTiming = MetricsFile.StepLine.RankTiming
  public typealias CheckpointWrite = MetricsFile.CheckpointLine

  public struct Step: Sendable, Equatable {
    public var epoch: Int
    /// The step within its epoch, from 1, as `metrics.jsonl` has it.
    public var step: Int
    /// Counted over all epochs from 1: every epoch has the same number of
    /// steps (the training split and global batch do not change), so a step
    /// keeps its place even when a resumed run's log lacks the steps before
    /// its checkpoint.
    public var globalStep: Int
    public var loss: Double
    public var learningRate: Double?
    public var ranks: [RankTiming]
  }

  public struct EpochValidation: Sendable, Equatable {
    public var epoch: Int
    public var validation: ClassificationMetrics
  }

  public var runDirectory: String
  public var runID: String
  /// In order; a step logged twice (a resumed run) keeps its last line.
  public var steps: [Step] = []
  public var epochs: [EpochValidation] = []
  public var checkpoints: [CheckpointWrite] = []
  /// One per `evaluation-SPLIT.json`, test first.
  public var evaluations: [Evaluation] = []
  public var summary: RunSummary?
  /// `config.toml` as written, when present.
  public var configurationText: String?
  public var importance: [FeatureImportance]?
  /// `explanations/*.png`, by file name.
  public var heatmaps: [(name: String, png: Data)] = []
  public var hasExplanations = false
  public var storeRoot: String?
  public var snapshot: SnapshotManifest?
  public var registryRecord: RunRecord?
  /// Why the snapshot or registry row is missing, for the page.
  public var storeNotes: [String] = []
  /// The run's dataset: size, splits and class balance (nil when it cannot be read, with a note).
  public var data: DatasetInspection.Summary?
  public var dataNote: String?
  /// The versions registered from this run, each with the production version
  /// it was compared with on the same test samples; and production now.
  public var registeredVersions: [ModelVersion] = []
  public var production: ModelVersion?
  /// Steps per epoch (every epoch has as many): places steps on an epoch axis.
  public var stepsPerEpoch = 0

  /// Reads the run in `runDirectory`. `store` overrides the run file's
  /// `store` key (which, like the run file's other paths, is relative to
  /// the working directory).
  public init(runDirectory: String, store: String? = nil) throws {
    let directory = runDirectory.count > 1 && runDirectory.hasSuffix("/") ? String(runDirectory.dropLast()) : runDirectory
    self.runDirectory = directory
    runID = URL(fileURLWithPath: directory).standardizedFileURL.lastPathComponent
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
      throw DataError(path: directory, message: "no such run directory")
    }
    try readMetrics(directory + "/metrics.jsonl")
    try readEvaluations()
    try readExplanations(directory + "/explanations")

    let summaryPath = RunSummary.path(run: directory)
    if let data = FileManager.default.contents(atPath: summaryPath) {
      do { summary = try JSONDecoder().decode(RunSummary.self, from: data) } catch {
        throw DataError(path: summaryPath, message: "not a readable run summary: \(error.localizedDescription)")
      }
    }
    configurationText = (FileManager.default.contents(atPath: directory + "/config.toml")).map { String(decoding: $0, as: UTF8.self) }
    readStore(override: store)
    readData()
  }

  /// The dataset the run file names; a report on a moved run still works, saying so.
  private mutating func readData() {
    guard let configurationText, let configuration = try? RunConfiguration(toml: configurationText, file: "config.toml") else {
      dataNote = "No readable run file, so no dataset to summarise."
      return
    }
    do { data = try DatasetInspection(path: configuration.dataset).summary() } catch {
      dataNote = "The dataset is not readable here: \(error)"
    }
  }

  private mutating func readMetrics(_ path: String) throws {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw DataError(path: path, message: FileManager.default.fileExists(atPath: path)
                      ? "cannot read the metrics file" : "no metrics file: not a training run directory")
    }
    struct Kind: Decodable { var type: String }
    struct StepKey: Hashable { var epoch, step: Int }
    var stepsByNumber: [StepKey: Step] = [:]
    var epochsByNumber: [Int: ClassificationMetrics] = [:]
    let decoder = JSONDecoder()
    for (index, line) in data.split(separator: UInt8(ascii: "\n")).enumerated() {
      let number = index + 1
      guard !line.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\r") }) else { continue }
      let kind: Kind
      do { kind = try decoder.decode(Kind.self, from: Data(line)) } catch {
        throw DataError(path: path, message: "line \(number): not a metrics record (JSON with a \"type\")")
      }
      func record<T: Decodable>(_ type: T.Type, needs fields: String) throws -> T {
        do { return try decoder.decode(T.self, from: Data(line)) } catch {
          throw DataError(path: path, message: "line \(number): a \(kind.type) record needs \(fields)")
        }
      }
      switch kind.type {
      case "step":
        let s = try record(MetricsFile.StepLine.self, needs: "epoch, step and loss")
        stepsByNumber[StepKey(epoch: s.epoch, step: s.step)] = Step(epoch: s.epoch, step: s.step, globalStep: 0, loss: s.loss,
                                                                    learningRate: s.learningRate, ranks: s.ranks)
      case "epoch":
        let e = try record(MetricsFile.EpochLine.self, needs: "epoch and validation")
        epochsByNumber[e.epoch] = e.validation
      case "checkpoint":
        checkpoints.append(try record(MetricsFile.CheckpointLine.self, needs: "step, ms and file"))
      default:
        continue  // a record type from a newer Tandem: not shown, not an error
      }
    }
    let stepsPerEpoch = stepsByNumber.keys.map(\.step).max() ?? 0
    self.stepsPerEpoch = stepsPerEpoch
    steps = stepsByNumber.values.map { s in
      var s = s
      s.globalStep = (s.epoch - 1) * stepsPerEpoch + s.step
      return s
    }.sorted { $0.globalStep < $1.globalStep }
    epochs = epochsByNumber.map { EpochValidation(epoch: $0.key, validation: $0.value) }.sorted { $0.epoch < $1.epoch }
  }

  private mutating func readEvaluations() throws {
    let names: [String]
    do { names = try FileSystem.entries(of: runDirectory) } catch { throw DataError(path: runDirectory, message: "cannot list: \(error)") }
    let files = names.filter { $0.hasPrefix("evaluation-") && $0.hasSuffix(".json") }
    // Test first: it is the held-out measurement; the others follow by name.
    let ordered = files.sorted { ($0 == "evaluation-test.json" ? 0 : 1, $0) < ($1 == "evaluation-test.json" ? 0 : 1, $1) }
    evaluations = try ordered.map { try Evaluation.read(runDirectory + "/" + $0) }
  }

  private mutating func readExplanations(_ directory: String) throws {
    guard FileSystem.status(directory)?.kind == .directory else { return }
    let names: [String]
    do { names = try FileSystem.entries(of: directory) } catch { throw DataError(path: directory, message: "cannot list: \(error)") }
    hasExplanations = true
    let importancePath = directory + "/importance.json"
    if let data = FileManager.default.contents(atPath: importancePath) {
      do { importance = try JSONDecoder().decode([FeatureImportance].self, from: data) } catch {
        throw DataError(path: importancePath, message: "not a list of {feature, importance}: \(error.localizedDescription)")
      }
    }
    for name in names.sorted() where name.lowercased().hasSuffix(".png") {
      let path = directory + "/" + name
      guard let data = FileManager.default.contents(atPath: path) else {
        throw DataError(path: path, message: "cannot read the image")
      }
      guard data.starts(with: [0x89, 0x50, 0x4E, 0x47]) else { throw DataError(path: path, message: "not a PNG file") }
      heatmaps.append((name, data))
    }
  }

  /// The snapshot and registry row. Never throws: a report on a copied run
  /// directory, or after the store moved, is still worth having.
  private mutating func readStore(override: String?) {
    var root = override
    if root == nil {
      if let configurationText {
        do {
          root = try RunConfiguration(toml: configurationText, file: runDirectory + "/config.toml").store
        } catch {
          storeNotes.append("The run file could not be read for its store (\(error)); pass --store DIR.")
          return
        }
      } else {
        root = "store"
      }
    }
    guard let root, !root.isEmpty else {
      storeNotes.append("The run keeps no store (store = \"\"): no snapshot or registry row.")
      return
    }
    storeRoot = root
    let opened: Store
    do { opened = try Store(root: root, create: false) } catch {
      storeNotes.append("Store not available: \(error)")
      return
    }
    if let id = summary?.snapshotID {
      do { snapshot = try opened.snapshot(id: id) } catch { storeNotes.append("Snapshot not available: \(error)") }
    } else {
      storeNotes.append(summary == nil ? "No summary.json (the run did not finish), so no snapshot id."
                                       : "The summary names no snapshot.")
    }
    // Opening the registry creates one where there is none; a report only reads.
    guard FileManager.default.fileExists(atPath: opened.registryPath) else {
      storeNotes.append("\(opened.registryPath): no run registry in the store.")
      return
    }
    do {
      registryRecord = try opened.registry.run(id: runID)
      if registryRecord == nil { storeNotes.append("\(opened.registryPath): run \(runID) is not in the registry.") }
      let task = (try? RunConfiguration(toml: configurationText ?? "", file: "config.toml"))?.task.rawValue
      if let task {
        registeredVersions = try opened.registry.modelVersions(name: task).filter { $0.runID == runID }.sorted { $0.version < $1.version }
        production = try opened.registry.productionVersion(name: task)
      }
    } catch {
      storeNotes.append("Registry not readable: \(error)")
    }
  }
}
