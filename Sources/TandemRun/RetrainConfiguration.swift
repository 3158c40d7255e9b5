import Foundation
import TandemData
import TOMLKit

/// `tandem retrain`'s file: which registered model to keep fresh, the run
/// file to train it with, the newest data, and when retraining is due.
///
/// ```toml
/// model = "churn"                      # registered model name (pneumonia, pneumonia-type, churn)
/// run = "churn-mlp.toml"               # run file for training; its `dataset` and `store` are replaced
/// data = "incoming/churn-latest.h5"    # the newest data, a Tandem HDF5 dataset
/// store = "store"
/// ranks = 2
/// launcher = ["mpirun", "-np", "{ranks}"]   # {ranks} is replaced; e.g. ["srun"] under Slurm
/// [monitor]
/// psi_threshold = 0.2
/// label_shift_threshold = 0.1
/// metric_drop = 0.05                   # with labels: live AUC/accuracy/recall this far below the test value
/// ```
public struct RetrainConfiguration: Sendable, Equatable {
  public var model: String
  public var run: String
  public var data: String
  public var store: String
  public var ranks: Int
  public var launcher: [String]
  /// When retraining is due (`[monitor]`).
  public var thresholds: MonitorThresholds

  static let keys = ["model", "run", "data", "store", "ranks", "launcher", "monitor"]
  static let monitorKeys = ["psi_threshold", "label_shift_threshold", "metric_drop"]

  public init(contentsOf path: String) throws(ConfigurationError) {
    let name = (path as NSString).lastPathComponent
    guard let data = try? readFileBytes(path), let text = String(validating: data, as: UTF8.self) else {
      throw ConfigurationError(file: name, "cannot read the retrain file (missing, not a regular file, or not UTF-8 text)")
    }
    let table = try TOMLText.parse(text, file: name)
    for key in table.keys where !Self.keys.contains(key) { throw ConfigurationError(file: name, "unknown key '\(key)'") }
    func string(_ key: String, default value: String? = nil) throws(ConfigurationError) -> String {
      let s = try TOMLText.string(table, key, default: value, file: name)
      guard !s.isEmpty else { throw ConfigurationError(file: name, "'\(key)' must be a non-empty string") }
      return s
    }
    model = try string("model")
    guard model.utf8.allSatisfy({ (97...122).contains($0) || (48...57).contains($0) || $0 == 45 }) else {
      throw ConfigurationError(file: name, "model name '\(model)' must be lower-case letters, digits and '-'")
    }
    run = try string("run")
    self.data = try string("data")
    store = try string("store", default: "store")
    ranks = try TOMLText.integer(table, "ranks", "ranks", file: name) ?? 1
    guard ranks > 0 else { throw ConfigurationError(file: name, "'ranks' must be positive, got \(ranks)") }
    if let v = table["launcher"] {
      guard let array = v.array, !array.isEmpty, array.allSatisfy({ $0.string != nil }) else {
        throw ConfigurationError(file: name, "'launcher' must be a non-empty array of strings, e.g. [\"mpirun\", \"-np\", \"{ranks}\"]")
      }
      launcher = array.compactMap(\.string)
    } else {
      launcher = ["mpirun", "-np", "{ranks}"]
    }
    thresholds = MonitorThresholds()
    if let m = table["monitor"] {
      guard let t = m.table else { throw ConfigurationError(file: name, "'monitor' must be a table ([monitor])") }
      for key in t.keys where !Self.monitorKeys.contains(key) { throw ConfigurationError(file: name, "unknown key [monitor] '\(key)'") }
      thresholds.psi = try TOMLText.number(t, "psi_threshold", "monitor.psi_threshold", file: name) ?? thresholds.psi
      thresholds.labelShift = try TOMLText.number(t, "label_shift_threshold", "monitor.label_shift_threshold", file: name)
        ?? thresholds.labelShift
      thresholds.metricDrop = try TOMLText.number(t, "metric_drop", "monitor.metric_drop", file: name) ?? thresholds.metricDrop
    }
  }

  /// The run file for this retrain: `run` with `dataset` and `store` replaced,
  /// checked like any run file.
  public func runFile() throws -> String {
    guard let data = try? readFileBytes(run), let text = String(validating: data, as: UTF8.self) else {
      throw ConfigurationError(file: run, "cannot read the run file named by 'run'")
    }
    let table = try TOMLText.parse(text, file: run)
    table["dataset"] = self.data
    table["store"] = store
    let out = table.convert(to: .toml)
    _ = try RunConfiguration(toml: out, file: run)
    return out
  }

  /// The launcher's arguments with `{ranks}` replaced.
  public var launcherArguments: [String] { launcher.map { $0.replacingOccurrences(of: "{ranks}", with: String(ranks)) } }
}

/// Thresholds that make retraining due, shared by `tandem monitor` and the
/// retrain file's `[monitor]` table.
public struct MonitorThresholds: Codable, Sendable, Equatable {
  /// Any feature's PSI above this is drift.
  public var psi: Double
  /// An absolute change of the positive-class rate above this is drift.
  public var labelShift: Double
  /// With labels: a gated metric this far below the version's own evaluation is decay.
  public var metricDrop: Double

  public static let defaultPSI = 0.2, defaultLabelShift = 0.1, defaultMetricDrop = 0.05

  public init(psi: Double = defaultPSI, labelShift: Double = defaultLabelShift, metricDrop: Double = defaultMetricDrop) {
    self.psi = psi
    self.labelShift = labelShift
    self.metricDrop = metricDrop
  }
}
