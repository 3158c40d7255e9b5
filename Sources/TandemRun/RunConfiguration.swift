import Foundation
import TandemData
import TandemNN
import TandemTensor
import TOMLKit

/// A training run as described by its TOML file. Unknown keys are errors, so
/// a typo (`epoch = 5`) cannot silently fall back to a default.
///
/// ```toml
/// model = "xray-cnn"          # xray-cnn | xray-cnn-gn | xray-cnn-deep | churn-logreg | churn-mlp
/// dataset = "work/xray.h5"    # a Tandem HDF5 dataset (tandem ingest); relative to the working directory
/// task = "pneumonia"          # images: pneumonia (normal vs pneumonia) | pneumonia-type (bacterial vs viral)
/// output = "runs"             # each run writes OUTPUT/RUN-ID/
/// store = "store"             # snapshots, stored datasets and the run registry ("" : none)
/// metrics_dir = "/var/lib/node_exporter/textfile"   # optional: Prometheus textfile metrics of progress
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
/// schedule = "constant"       # constant | cosine: decays to final_learning_rate x learning_rate by the last step
/// warmup_epochs = 0.0         # learning rate rises linearly from 0 over this many epochs (fractions allowed)
/// final_learning_rate = 0.01  # cosine only: the last step's rate, as a fraction of learning_rate
/// selection = "last"          # last | best-auc: model.h5 holds the epoch with the best validation AUC
/// patience = 0                # stop after this many epochs without a better validation AUC (0: never)
/// solver = "sgd"              # sgd | lbfgs: full-batch L-BFGS, tables only, with epochs = 1
/// max_iterations = 100        # lbfgs only
/// tolerance = 1e-4            # lbfgs only: converged when no gradient entry exceeds this (scikit-learn's default)
///
/// [augmentation]              # images only; each change drawn per (seed, epoch, sample); all 0: none
/// shift = 0.0                 # largest translation, fraction of the side
/// zoom = 0.0                  # zoom in [1 - zoom, 1 + zoom]
/// rotation = 0.0              # largest rotation, degrees
/// brightness = 0.0            # largest brightness change, fraction of the full range
/// contrast = 0.0              # contrast factor in [1 - contrast, 1 + contrast]
/// gamma = 0.0                 # gamma in [e^-gamma, e^gamma]
/// noise = 0.0                 # largest Gaussian noise std, fraction of the full range
/// sharpness = 0.0             # unsharp-mask amount in [-sharpness, sharpness]; -1 is a 3 x 3 blur
/// low_resolution = 0.0        # probability of seeing the image at half resolution
///
/// [cluster]
/// collective_timeout = 120    # seconds any collective may take before the job aborts with a stall report
/// scatter = false             # true: rank 0 reads and sends each rank its rows (no shared filesystem)
/// blas_threads = 1            # OpenBLAS threads per rank (numerics = "openblas" only)
/// numerics = "pinned"         # pinned: Tandem's fixed-order kernels, the same bits on every machine | openblas
/// reduction = "exact"         # exact: same bits on any number of ranks | float: one Float32 allreduce
/// device = "cpu"              # cpu | cuda: forward and backward on one GPU per rank (the CUDA backend, docs/cuda.md)
/// ```
public struct RunConfiguration: Codable, Sendable, Equatable {
  public var model: ModelName
  public var dataset: String
  public var task: RunTask
  public var output: String
  /// The store directory; empty when the run keeps no snapshot or registry row.
  public var store: String
  /// Where rank 0 keeps a Prometheus textfile of the run's progress; it
  /// changes no result, so `resolved()` leaves it out.
  public var metricsDirectory: String?
  public var seed: UInt64
  public var epochs: Int
  public var training: Training
  public var augmentation = ImageAugmentation.none
  public var cluster: Cluster

  public struct Training: Codable, Sendable, Equatable {
    public var globalBatch: Int?
    public var learningRate: Float?
    public var momentum: Float = 0.9
    public var weightDecay: Float = 1e-4
    public var classWeights: [Float]?
    public var threshold: Double = 0.5
    public var trainSplit = Split.train
    public var validationSplit = Split.validation
    public var maxSteps = 0
    public var microBatch: Int?
    public var checkpointEvery = 50
    public var keepCheckpoints = 3
    public var schedule = LearningRateSchedule.Shape.constant
    public var warmupEpochs = 0.0
    public var finalLearningRate = 0.01
    public var selection = ModelSelection.last
    public var patience = 0
    public var solver = Solver.sgd
    public var maxIterations = 100
    public var tolerance = 1e-4
  }

  /// How the parameters are fitted.
  public enum Solver: String, Codable, Sendable, CaseIterable {
    /// Minibatch SGD with momentum: every model.
    case sgd
    /// Full-batch L-BFGS on the whole training split (tables): one pass per
    /// evaluation, tens of evaluations in all.
    case lbfgs
  }

  public struct Cluster: Codable, Sendable, Equatable {
    public var collectiveTimeout: Double = 120
    public var scatter = false
    public var blasThreads = 1
    public var reduction = GradientReduction.exact
    public var numerics = NumericPath.pinned
    public var device = ComputeDeviceKind.cpu
  }

  /// Where each rank computes forward and backward passes.
  public enum ComputeDeviceKind: String, Codable, Sendable, CaseIterable {
    case cpu
    /// One GPU per rank through the CUDA backend (libtandem_cuda.so, opened at run time).
    case cuda
  }

  /// Release rules: how the decision threshold is tuned and the quality gates
  /// a version must pass before `tandem models promote` puts it in production.
  public struct Release: Codable, Sendable, Equatable {
    /// The recall the pneumonia threshold is tuned for on the validation split.
    public var targetRecall = 0.95
    /// The promotion gates (and how much worse than production a version may be).
    public var gates: QualityGates

    /// Defaults per task: pneumonia screening must miss few cases; churn scores must rank well.
    static func defaults(task: RunTask) -> Release {
      switch task {
      case .pneumonia: Release(gates: QualityGates(minRecall: 0.95, minAccuracy: 0.85))
      case .pneumoniaType: Release(gates: QualityGates(minAccuracy: 0.70))
      case .churn: Release(gates: QualityGates(minAUC: 0.83))
      }
    }
  }

  public var release: Release

  static let maximumBatch = 1 << 24
  static let maximumEpochs = 1_000_000

  /// The micro-batch size of exact reduction: fixed by the run, not by the
  /// world size, so any number of ranks computes the same micro-batches.
  public func microBatchSize() -> Int {
    training.microBatch ?? max(1, (settings().globalBatch + 3) / 4)
  }

  /// Training settings with the reference defaults filled in.
  public func settings() -> TrainingSettings {
    var s = TrainingSettings.reference(for: model, globalBatch: training.globalBatch)
    if let rate = training.learningRate { s.learningRate = rate }
    s.momentum = training.momentum
    s.weightDecay = training.weightDecay
    return s
  }

  /// Every setting after defaults, as strings: what a snapshot records, so a
  /// later Tandem that resolves the same file differently is noticed.
  public func resolved() -> [String: String] {
    let s = settings()
    var values: [String: String] = [
      "model": model.rawValue, "dataset": dataset, "task": task.rawValue, "seed": String(seed), "epochs": String(epochs),
      "training.global_batch": String(s.globalBatch), "training.learning_rate": "\(s.learningRate)",
      "training.momentum": "\(s.momentum)", "training.weight_decay": "\(s.weightDecay)",
      "training.threshold": "\(training.threshold)", "training.train_split": training.trainSplit.description,
      "training.validation_split": training.validationSplit.description, "training.max_steps": String(training.maxSteps),
      "training.checkpoint_every": String(training.checkpointEvery),
      "training.keep_checkpoints": String(training.keepCheckpoints),
      "cluster.reduction": cluster.reduction.rawValue, "cluster.scatter": String(cluster.scatter),
      "cluster.blas_threads": String(cluster.blasThreads), "cluster.numerics": cluster.numerics.rawValue,
      "cluster.collective_timeout": "\(cluster.collectiveTimeout)",
    ]
    if cluster.reduction == .exact { values["training.micro_batch"] = String(microBatchSize()) }
    // Recorded only off the CPU, so every CPU snapshot resolves as before.
    if cluster.device != .cpu { values["cluster.device"] = cluster.device.rawValue }
    // Recorded only when set, so snapshots of runs from before these keys resolve as they did.
    if training.schedule != .constant || training.warmupEpochs != 0 {
      values["training.schedule"] = training.schedule.rawValue
      values["training.warmup_epochs"] = "\(training.warmupEpochs)"
      if training.schedule == .cosine { values["training.final_learning_rate"] = "\(training.finalLearningRate)" }
    }
    if training.selection != .last { values["training.selection"] = training.selection.rawValue }
    if training.patience != 0 { values["training.patience"] = String(training.patience) }
    if training.solver != .sgd {
      values["training.solver"] = training.solver.rawValue
      values["training.max_iterations"] = String(training.maxIterations)
      values["training.tolerance"] = "\(training.tolerance)"
    }
    if !augmentation.isNone {
      let a = augmentation
      for (key, value) in [("shift", a.shift), ("zoom", a.zoom), ("rotation", a.rotation), ("brightness", a.brightness),
                           ("contrast", a.contrast), ("gamma", a.gamma), ("noise", a.noise), ("sharpness", a.sharpness),
                           ("low_resolution", a.lowResolution)] {
        values["augmentation.\(key)"] = "\(value)"
      }
    }
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
  /// With `overrides` (`KEY=VALUE`, from `train --set` and its flags), the
  /// text is the run file with them laid over it (`RunFileOverrides`), and an
  /// error in the merged file names them.
  public static func withText(contentsOf path: String, overrides: [String] = []) throws(ConfigurationError)
    -> (configuration: RunConfiguration, text: String) {
    try withText(try readText(contentsOf: path), file: (path as NSString).lastPathComponent, overrides: overrides)
  }

  /// A run file's text, with the checks every read of one makes (a FIFO, a directory, size, UTF-8).
  public static func readText(contentsOf path: String) throws(ConfigurationError) -> String {
    try TOMLText.read(path, what: "run file")
  }

  /// `text`, a run file named `file`, parsed with `overrides` applied.
  public static func withText(_ text: String, file: String, overrides: [String] = []) throws(ConfigurationError)
    -> (configuration: RunConfiguration, text: String) {
    guard !overrides.isEmpty else { return (try RunConfiguration(toml: text, file: file), text) }
    let merged = try RunFileOverrides.apply(overrides, to: text, file: file)
    do {
      return (try RunConfiguration(toml: merged, file: file), merged)
    } catch {
      throw ConfigurationError(file: file, "with \(RunFileOverrides.describe(overrides)): \(error.message)")
    }
  }

  /// Parses and checks one run file's text. Each key is named once, in the
  /// reader below, with its type and range; `validate` adds the checks that
  /// span keys.
  public init(toml text: String, file: String) throws(ConfigurationError) {
    let top = TOMLSection(try TOMLText.parse(text, file: file), file: file)
    let positive: (Int) -> Bool = { $0 > 0 }, nonNegative: (Int) -> Bool = { $0 >= 0 }
    let modelText = try top.string("model")
    do { model = try ModelName(parsing: modelText) } catch { throw top.fail(error.description) }
    dataset = try top.string("dataset")
    let tasks = RunTask.tasks(for: model)
    task = try top.choice("task", names: tasks.map(\.rawValue)) { name in RunTask(rawValue: name).flatMap { tasks.contains($0) ? $0 : nil } }
      ?? tasks[0]
    output = try top.string("output", default: "runs")
    store = try top.string("store", default: "store")
    metricsDirectory = try top.optionalString("metrics_dir")
    seed = UInt64(try top.integer("seed", valid: nonNegative, "non-negative") ?? 1)
    epochs = try top.integer("epochs", valid: positive, "positive") ?? 1
    guard epochs <= Self.maximumEpochs else { throw top.fail("'epochs' must be at most \(Self.maximumEpochs), got \(epochs)") }

    training = Training()
    if let t = try top.section("training") {
      training.globalBatch = try t.integer("global_batch", valid: { (1...Self.maximumBatch).contains($0) }, "between 1 and \(Self.maximumBatch)")
      training.learningRate = try t.number("learning_rate", valid: { $0 > 0 && $0.isFinite }, "positive").map(Float.init)
      training.momentum = try t.number("momentum", valid: { $0 >= 0 && $0 < 1 }, "in [0, 1)").map(Float.init) ?? training.momentum
      training.weightDecay = try t.number("weight_decay", valid: { $0 >= 0 }, "non-negative").map(Float.init) ?? training.weightDecay
      if let w = try t.numbers("class_weights") {
        guard w.count == 2, w.allSatisfy({ $0 > 0 && $0.isFinite }) else { throw t.fail("'training.class_weights' needs 2 positive weights, got \(w)") }
        training.classWeights = w.map(Float.init)
      }
      training.threshold = try t.number("threshold", valid: { $0 > 0 && $0 < 1 }, "in (0, 1)") ?? training.threshold
      training.trainSplit = try t.choice("train_split", names: Split.names, Split.init(name:)) ?? training.trainSplit
      training.validationSplit = try t.choice("validation_split", names: Split.names, Split.init(name:)) ?? training.validationSplit
      training.maxSteps = try t.integer("max_steps", valid: nonNegative, "non-negative") ?? training.maxSteps
      training.microBatch = try t.integer("micro_batch", valid: positive, "positive")
      training.checkpointEvery = try t.integer("checkpoint_every", valid: nonNegative, "non-negative") ?? training.checkpointEvery
      training.keepCheckpoints = try t.integer("keep_checkpoints", valid: { $0 >= 1 }, "at least 1") ?? training.keepCheckpoints
      training.schedule = try t.choice("schedule", names: LearningRateSchedule.Shape.allCases.map(\.rawValue),
                                       LearningRateSchedule.Shape.init(rawValue:)) ?? training.schedule
      training.warmupEpochs = try t.number("warmup_epochs", valid: { $0 >= 0 && $0.isFinite }, "non-negative") ?? training.warmupEpochs
      training.finalLearningRate = try t.number("final_learning_rate", valid: { $0 >= 0 && $0 <= 1 }, "in [0, 1]")
        ?? training.finalLearningRate
      training.selection = try t.choice("selection", names: ModelSelection.allCases.map(\.rawValue), ModelSelection.init(rawValue:))
        ?? training.selection
      training.patience = try t.integer("patience", valid: nonNegative, "non-negative") ?? training.patience
      training.solver = try t.choice("solver", names: Solver.allCases.map(\.rawValue), Solver.init(rawValue:)) ?? training.solver
      training.maxIterations = try t.integer("max_iterations", valid: positive, "positive") ?? training.maxIterations
      training.tolerance = try t.number("tolerance", valid: { $0 >= 0 && $0.isFinite }, "non-negative") ?? training.tolerance
      if training.solver == .lbfgs {
        guard !model.isImageModel else { throw t.fail("'training.solver' lbfgs fits tables only, not \(model.rawValue)") }
        guard epochs == 1 else { throw t.fail("'training.solver' lbfgs makes one pass to convergence: set epochs = 1 (and max_iterations), not \(epochs)") }
      }
      try t.finish()
    }
    if let a = try top.section("augmentation") {
      guard model.isImageModel else { throw a.fail("[augmentation] applies to image models only, not \(model.rawValue)") }
      let fraction: (Double) -> Bool = { $0 >= 0 && $0 <= 0.5 }
      augmentation.shift = try a.number("shift", valid: fraction, "in [0, 0.5]") ?? 0
      augmentation.zoom = try a.number("zoom", valid: fraction, "in [0, 0.5]") ?? 0
      augmentation.rotation = try a.number("rotation", valid: { $0 >= 0 && $0 <= 45 }, "in [0, 45] degrees") ?? 0
      augmentation.brightness = try a.number("brightness", valid: fraction, "in [0, 0.5]") ?? 0
      augmentation.contrast = try a.number("contrast", valid: { $0 >= 0 && $0 < 1 }, "in [0, 1)") ?? 0
      augmentation.gamma = try a.number("gamma", valid: { $0 >= 0 && $0 <= 1 }, "in [0, 1]") ?? 0
      augmentation.noise = try a.number("noise", valid: { $0 >= 0 && $0 <= 0.2 }, "in [0, 0.2]") ?? 0
      augmentation.sharpness = try a.number("sharpness", valid: { $0 >= 0 && $0 <= 2 }, "in [0, 2]") ?? 0
      augmentation.lowResolution = try a.number("low_resolution", valid: { $0 >= 0 && $0 <= 1 }, "in [0, 1]") ?? 0
      try a.finish()
    }
    cluster = Cluster()
    if let c = try top.section("cluster") {
      cluster.collectiveTimeout = try c.number("collective_timeout", valid: { $0 > 0 && $0.isFinite }, "positive and finite") ?? cluster.collectiveTimeout
      cluster.scatter = try c.bool("scatter") ?? cluster.scatter
      cluster.blasThreads = try c.integer("blas_threads", valid: positive, "positive") ?? cluster.blasThreads
      cluster.numerics = try c.choice("numerics", names: NumericPath.allCases.map(\.rawValue), NumericPath.init(rawValue:)) ?? cluster.numerics
      cluster.reduction = try c.choice("reduction", names: GradientReduction.allCases.map(\.rawValue).reversed(),
                                       GradientReduction.init(rawValue:)) ?? cluster.reduction
      cluster.device = try c.choice("device", names: ComputeDeviceKind.allCases.map(\.rawValue), ComputeDeviceKind.init(rawValue:)) ?? cluster.device
      try c.finish()
    }
    release = Release.defaults(task: task)
    if let r = try top.section("release") {
      let unit: (Double) -> Bool = { $0 >= 0 && $0 <= 1 }
      release.targetRecall = try r.number("target_recall", valid: { $0 > 0 && $0 <= 1 }, "in (0, 1]") ?? release.targetRecall
      release.gates.minRecall = try r.number("min_recall", valid: unit, "in [0, 1]") ?? release.gates.minRecall
      release.gates.minAccuracy = try r.number("min_accuracy", valid: unit, "in [0, 1]") ?? release.gates.minAccuracy
      release.gates.minAUC = try r.number("min_auc", valid: unit, "in [0, 1]") ?? release.gates.minAUC
      release.gates.tolerance = try r.number("tolerance", valid: { $0 >= 0 }, "non-negative") ?? release.gates.tolerance
      try r.finish()
    }
    try top.finish()
    let globalBatch = training.globalBatch ?? TrainingSettings.reference(for: model).globalBatch
    if let m = training.microBatch, m > globalBatch {
      throw top.fail("'training.micro_batch' (\(m)) must not exceed the global batch (\(globalBatch))")
    }
  }
}

/// A problem with a run configuration file, naming the file.
public struct ConfigurationError: Error, CustomStringConvertible, Equatable {
  public let file: String
  public let message: String
  public init(file: String, _ message: String) { self.file = file; self.message = message }
  public var description: String { "\(file): \(message)" }
}
