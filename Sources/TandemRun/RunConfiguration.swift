import Foundation
import TandemData
import TandemNN
import TandemTensor
import TOMLKit

/// A training run as described by its TOML file. Unknown keys are errors, so
/// a typo (`epoch = 5`) cannot silently fall back to a default.
///
/// ```toml
/// model = "xray-cnn"          # xray-cnn | churn-logreg | churn-mlp
/// dataset = "work/xray.h5"    # a Tandem HDF5 dataset (tandem ingest); relative to the working directory
/// task = "pneumonia"          # images: pneumonia (normal vs pneumonia) | pneumonia-type (bacterial vs viral)
/// output = "runs"             # each run writes OUTPUT/RUN-ID/
/// store = "store"             # snapshots, stored datasets and the run registry ("" : none)
/// seed = 1
/// epochs = 5
///
/// [training]                  # every key optional; defaults from REFERENCE_MODELS.md
/// global_batch = 64           # split evenly across ranks
/// learning_rate = 0.01        # default: 0.01 at 64 (xray) or 0.05 at 256 (churn), scaled with global_batch
/// momentum = 0.9
/// weight_decay = 1e-4
/// class_weights = [1.0, 2.5]  # per class, in the loss
/// threshold = 0.5             # decision threshold for validation metrics
/// train_split = "train"
/// validation_split = "val"
/// max_steps = 0               # stop after this many steps in all (0: no limit)
/// micro_batch = 16            # exact reduction's unit of work (default: a quarter of global_batch)
/// checkpoint_every = 50       # steps between checkpoints (also at each epoch end); 0: epoch ends only
/// keep_checkpoints = 3
///
/// [cluster]
/// collective_timeout = 120    # seconds any collective may take before the job aborts with a stall report
/// scatter = false             # true: rank 0 reads and sends each rank its rows (no shared filesystem)
/// blas_threads = 1            # OpenBLAS threads per rank (numerics = "openblas" only)
/// numerics = "pinned"         # pinned: Tandem's fixed-order kernels, the same bits on every machine | openblas
/// reduction = "exact"         # exact: same bits on any number of ranks | float: one Float32 allreduce
/// ```
public struct RunConfiguration: Codable, Sendable, Equatable {
  public var model: String
  public var dataset: String
  public var task: String
  public var output: String
  /// The store directory; empty when the run keeps no snapshot or registry row.
  public var store: String
  public var seed: UInt64
  public var epochs: Int
  public var training: Training
  public var cluster: Cluster

  public struct Training: Codable, Sendable, Equatable {
    public var globalBatch: Int?
    public var learningRate: Float?
    public var momentum: Float = 0.9
    public var weightDecay: Float = 1e-4
    public var classWeights: [Float]?
    public var threshold: Double = 0.5
    public var trainSplit = "train"
    public var validationSplit = "val"
    public var maxSteps = 0
    public var microBatch: Int?
    public var checkpointEvery = 50
    public var keepCheckpoints = 3

    static let keys = ["global_batch", "learning_rate", "momentum", "weight_decay", "class_weights",
                       "threshold", "train_split", "validation_split", "max_steps", "micro_batch",
                       "checkpoint_every", "keep_checkpoints"]
  }

  public struct Cluster: Codable, Sendable, Equatable {
    public var collectiveTimeout: Double = 120
    public var scatter = false
    public var blasThreads = 1
    public var reduction = GradientReduction.exact
    public var numerics = NumericPath.pinned

    static let keys = ["collective_timeout", "scatter", "blas_threads", "reduction", "numerics"]
  }

  /// Release rules: how the decision threshold is tuned and the quality gates
  /// a version must pass before `tandem models promote` puts it in production.
  public struct Release: Codable, Sendable, Equatable {
    /// The recall the pneumonia threshold is tuned for on the validation split.
    public var targetRecall = 0.95
    public var minRecall: Double?
    public var minAccuracy: Double?
    public var minAUC: Double?
    /// How much worse than the production version (on each gated metric) a new one may be.
    public var tolerance = 0.01

    static let keys = ["target_recall", "min_recall", "min_accuracy", "min_auc", "tolerance"]

    /// The promotion gates these settings ask for.
    public var gates: QualityGates {
      QualityGates(minRecall: minRecall, minAccuracy: minAccuracy, minAUC: minAUC, tolerance: tolerance)
    }

    /// Defaults per task: pneumonia screening must miss few cases; churn scores must rank well.
    static func defaults(task: String) -> Release {
      var r = Release()
      switch task {
      case "pneumonia": r.minRecall = 0.95; r.minAccuracy = 0.85
      case "pneumonia-type": r.minAccuracy = 0.70
      default: r.minAUC = 0.83
      }
      return r
    }
  }

  public var release: Release

  static let keys = ["model", "dataset", "task", "output", "store", "seed", "epochs", "training", "cluster", "release"]
  static let maximumBatch = 1 << 24
  static let maximumEpochs = 1_000_000

  /// The reference model this run trains.
  public var modelName: ModelName { get throws { try ModelName(parsing: model) } }

  /// The micro-batch size of exact reduction: fixed by the run, not by the
  /// world size, so any number of ranks computes the same micro-batches.
  public func microBatchSize() throws -> Int {
    if let m = training.microBatch { return m }
    return max(1, (try settings().globalBatch + 3) / 4)
  }

  /// Training settings with the reference defaults filled in.
  public func settings() throws -> TrainingSettings {
    var s = TrainingSettings.reference(for: try modelName, globalBatch: training.globalBatch)
    if let rate = training.learningRate { s.learningRate = rate }
    s.momentum = training.momentum
    s.weightDecay = training.weightDecay
    return s
  }

  /// Every setting after defaults, as strings: what a snapshot records, so a
  /// later Tandem that resolves the same file differently is noticed.
  public func resolved() throws -> [String: String] {
    let s = try settings()
    var values: [String: String] = [
      "model": model, "dataset": dataset, "task": task, "seed": String(seed), "epochs": String(epochs),
      "training.global_batch": String(s.globalBatch), "training.learning_rate": "\(s.learningRate)",
      "training.momentum": "\(s.momentum)", "training.weight_decay": "\(s.weightDecay)",
      "training.threshold": "\(training.threshold)", "training.train_split": training.trainSplit,
      "training.validation_split": training.validationSplit, "training.max_steps": String(training.maxSteps),
      "training.checkpoint_every": String(training.checkpointEvery),
      "training.keep_checkpoints": String(training.keepCheckpoints),
      "cluster.reduction": cluster.reduction.rawValue, "cluster.scatter": String(cluster.scatter),
      "cluster.blas_threads": String(cluster.blasThreads), "cluster.numerics": cluster.numerics.rawValue,
      "cluster.collective_timeout": "\(cluster.collectiveTimeout)",
    ]
    if cluster.reduction == .exact { values["training.micro_batch"] = String(try microBatchSize()) }
    if let w = training.classWeights { values["training.class_weights"] = w.map { "\($0)" }.joined(separator: ",") }
    return values
  }

  /// The keys, sorted, whose resolved values differ between two `resolved()`
  /// dictionaries (a key present in one only differs too).
  public static func differingKeys(_ a: [String: String], _ b: [String: String], ignoring: Set<String> = []) -> [String] {
    Set(a.keys).union(b.keys).subtracting(ignoring).sorted().filter { a[$0] != b[$0] }
  }

  /// Reads and validates `path`; every problem is a `ConfigurationError` naming the file.
  public init(contentsOf path: String) throws(ConfigurationError) {
    self = try Self.withText(contentsOf: path).configuration
  }

  /// The run file at `path`, parsed and checked, with the text it was parsed
  /// from (kept in checkpoints and snapshots, so a re-run reads the same bytes).
  public static func withText(contentsOf path: String) throws(ConfigurationError) -> (configuration: RunConfiguration, text: String) {
    let name = (path as NSString).lastPathComponent
    // readFileBytes: a FIFO in place of the file is refused, not waited on.
    let data: Data
    do { data = Data(try readFileBytes(path)) } catch {
      throw ConfigurationError(file: path, FileManager.default.fileExists(atPath: path) ? error.message : "no such file")
    }
    guard let text = String(data: data, encoding: .utf8) else { throw ConfigurationError(file: name, "not UTF-8 text") }
    return (try RunConfiguration(toml: text, file: name), text)
  }

  public init(toml text: String, file: String) throws(ConfigurationError) {
    let table = try TOMLText.parse(text, file: file)
    try Self.checkKeys(table, allowed: Self.keys, section: nil, file: file)
    for (section, keys) in [("training", Training.keys), ("cluster", Cluster.keys), ("release", Release.keys)] {
      guard let value = table[section] else { continue }
      guard let sub = value.table else { throw ConfigurationError(file: file, "'\(section)' must be a table ([\(section)])") }
      try Self.checkKeys(sub, allowed: keys, section: section, file: file)
    }
    func string(_ key: String, default value: String? = nil) throws(ConfigurationError) -> String {
      try TOMLText.string(table, key, default: value, file: file)
    }
    func integer(_ t: TOMLTable, _ key: String, _ label: String) throws(ConfigurationError) -> Int? {
      try TOMLText.integer(t, key, label, file: file)
    }
    func number(_ t: TOMLTable, _ key: String, _ label: String) throws(ConfigurationError) -> Double? {
      try TOMLText.number(t, key, label, file: file)
    }
    model = try string("model")
    dataset = try string("dataset")
    output = try string("output", default: "runs")
    store = try string("store", default: "store")
    let seedValue = try integer(table, "seed", "seed") ?? 1
    guard seedValue >= 0 else { throw ConfigurationError(file: file, "'seed' must be non-negative, got \(seedValue)") }
    seed = UInt64(seedValue)
    epochs = try integer(table, "epochs", "epochs") ?? 1
    let modelName: ModelName
    do { modelName = try ModelName(parsing: model) } catch { throw ConfigurationError(file: file, error.description) }
    task = try string("task", default: modelName.isImageModel ? "pneumonia" : "churn")

    training = Training()
    if let t = table["training"]?.table {
      training.globalBatch = try integer(t, "global_batch", "training.global_batch")
      training.learningRate = try number(t, "learning_rate", "training.learning_rate").map(Float.init)
      training.momentum = Float(try number(t, "momentum", "training.momentum") ?? 0.9)
      training.weightDecay = Float(try number(t, "weight_decay", "training.weight_decay") ?? 1e-4)
      training.threshold = try number(t, "threshold", "training.threshold") ?? 0.5
      training.maxSteps = try integer(t, "max_steps", "training.max_steps") ?? 0
      training.microBatch = try integer(t, "micro_batch", "training.micro_batch")
      training.checkpointEvery = try integer(t, "checkpoint_every", "training.checkpoint_every") ?? 50
      training.keepCheckpoints = try integer(t, "keep_checkpoints", "training.keep_checkpoints") ?? 3
      if let v = t["train_split"] {
        guard let s = v.string else { throw ConfigurationError(file: file, "'training.train_split' must be a string") }
        training.trainSplit = s
      }
      if let v = t["validation_split"] {
        guard let s = v.string else { throw ConfigurationError(file: file, "'training.validation_split' must be a string") }
        training.validationSplit = s
      }
      if let v = t["class_weights"] {
        guard let array = v.array, let weights = Optional(array.compactMap { $0.double ?? $0.int.map(Double.init) }),
              weights.count == array.count
        else { throw ConfigurationError(file: file, "'training.class_weights' must be an array of numbers") }
        training.classWeights = weights.map(Float.init)
      }
    }
    cluster = Cluster()
    if let c = table["cluster"]?.table {
      cluster.collectiveTimeout = try number(c, "collective_timeout", "cluster.collective_timeout") ?? 120
      cluster.blasThreads = try integer(c, "blas_threads", "cluster.blas_threads") ?? 1
      if let v = c["reduction"] {
        guard let text = v.string, let mode = GradientReduction(rawValue: text) else {
          throw ConfigurationError(file: file, "'cluster.reduction' must be \"exact\" or \"float\", got \(v.debugDescription)")
        }
        cluster.reduction = mode
      }
      if let v = c["numerics"] {
        guard let text = v.string, let path = NumericPath(rawValue: text) else {
          throw ConfigurationError(file: file, "'cluster.numerics' must be \"pinned\" or \"openblas\", got \(v.debugDescription)")
        }
        cluster.numerics = path
      }
      if let v = c["scatter"] {
        guard let b = v.bool else { throw ConfigurationError(file: file, "'cluster.scatter' must be true or false") }
        cluster.scatter = b
      }
    }
    release = Release.defaults(task: task)
    if let r = table["release"]?.table {
      release.targetRecall = try number(r, "target_recall", "release.target_recall") ?? release.targetRecall
      release.minRecall = try number(r, "min_recall", "release.min_recall") ?? release.minRecall
      release.minAccuracy = try number(r, "min_accuracy", "release.min_accuracy") ?? release.minAccuracy
      release.minAUC = try number(r, "min_auc", "release.min_auc") ?? release.minAUC
      release.tolerance = try number(r, "tolerance", "release.tolerance") ?? release.tolerance
    }
    try validate(file: file, model: modelName)
  }

  private func validate(file: String, model: ModelName) throws(ConfigurationError) {
    func fail(_ message: String) -> ConfigurationError { ConfigurationError(file: file, message) }
    guard epochs > 0 else { throw fail("'epochs' must be positive, got \(epochs)") }
    // Bounds keep every count representable in the step arithmetic (a batch
    // of 2^63 samples would overflow it) and far above any real use.
    if let b = training.globalBatch, !(1...Self.maximumBatch).contains(b) {
      throw fail("'training.global_batch' must be between 1 and \(Self.maximumBatch), got \(b)")
    }
    guard epochs <= Self.maximumEpochs else { throw fail("'epochs' must be at most \(Self.maximumEpochs), got \(epochs)") }
    if let r = training.learningRate, !(r > 0 && r.isFinite) { throw fail("'training.learning_rate' must be positive, got \(r)") }
    guard training.momentum >= 0 && training.momentum < 1 else { throw fail("'training.momentum' must be in [0, 1), got \(training.momentum)") }
    guard training.weightDecay >= 0 else { throw fail("'training.weight_decay' must be non-negative, got \(training.weightDecay)") }
    guard training.threshold > 0 && training.threshold < 1 else { throw fail("'training.threshold' must be in (0, 1), got \(training.threshold)") }
    if let m = training.microBatch, m <= 0 { throw fail("'training.micro_batch' must be positive, got \(m)") }
    let globalBatch = training.globalBatch ?? TrainingSettings.reference(for: model).globalBatch
    if let m = training.microBatch, m > globalBatch {
      throw fail("'training.micro_batch' (\(m)) must not exceed the global batch (\(globalBatch))")
    }
    guard cluster.collectiveTimeout.isFinite else { throw fail("'cluster.collective_timeout' must be finite, got \(cluster.collectiveTimeout)") }
    guard training.checkpointEvery >= 0 else { throw fail("'training.checkpoint_every' must be non-negative, got \(training.checkpointEvery)") }
    guard training.keepCheckpoints >= 1 else { throw fail("'training.keep_checkpoints' must be at least 1, got \(training.keepCheckpoints)") }
    guard training.maxSteps >= 0 else { throw fail("'training.max_steps' must be non-negative, got \(training.maxSteps)") }
    if let w = training.classWeights {
      guard w.count == 2, w.allSatisfy({ $0 > 0 && $0.isFinite }) else {
        throw fail("'training.class_weights' needs 2 positive weights, got \(w)")
      }
    }
    for (key, split) in [("train_split", training.trainSplit), ("validation_split", training.validationSplit)] {
      guard ["train", "val", "test"].contains(split) else { throw fail("'training.\(key)' must be train, val or test, got '\(split)'") }
    }
    guard cluster.collectiveTimeout > 0 else { throw fail("'cluster.collective_timeout' must be positive, got \(cluster.collectiveTimeout)") }
    guard cluster.blasThreads > 0 else { throw fail("'cluster.blas_threads' must be positive, got \(cluster.blasThreads)") }
    guard release.targetRecall > 0 && release.targetRecall <= 1 else {
      throw fail("'release.target_recall' must be in (0, 1], got \(release.targetRecall)")
    }
    for (key, value) in [("min_recall", release.minRecall), ("min_accuracy", release.minAccuracy), ("min_auc", release.minAUC)] {
      if let value, !(value >= 0 && value <= 1) { throw fail("'release.\(key)' must be in [0, 1], got \(value)") }
    }
    guard release.tolerance >= 0 else { throw fail("'release.tolerance' must be non-negative, got \(release.tolerance)") }
    let tasks = model.isImageModel ? ["pneumonia", "pneumonia-type"] : ["churn"]
    guard tasks.contains(task) else {
      throw fail("'task' for \(model.rawValue) must be \(tasks.joined(separator: " or ")), got '\(task)'")
    }
  }

  private static func checkKeys(_ table: TOMLTable, allowed: [String], section: String?, file: String) throws(ConfigurationError) {
    for key in table.keys where !allowed.contains(key) {
      let place = section.map { "[\($0)] " } ?? ""
      let guess = allowed.min { editDistance($0, key) < editDistance($1, key) }
      let hint = guess.flatMap { editDistance($0, key) <= 2 ? " (did you mean '\($0)'?)" : nil } ?? ""
      throw ConfigurationError(file: file, "unknown key \(place)'\(key)'\(hint)")
    }
  }

  private static func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    var row = Array(0...b.count)
    for i in 1...max(a.count, 1) where !a.isEmpty {
      var previous = row[0]
      row[0] = i
      for j in stride(from: 1, through: b.count, by: 1) {
        let old = row[j]
        row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] == b[j - 1] ? 0 : 1))
        previous = old
      }
    }
    return row[b.count]
  }
}

/// A problem with a run configuration file, naming the file.
public struct ConfigurationError: Error, CustomStringConvertible, Equatable {
  public let file: String
  public let message: String
  public init(file: String, _ message: String) { self.file = file; self.message = message }
  public var description: String { "\(file): \(message)" }
}
