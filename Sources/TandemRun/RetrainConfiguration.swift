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
/// metrics_dir = "/var/lib/node_exporter/textfile"   # optional: Prometheus textfile metrics of each retrain and its training
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
  /// Where the retrain's outcome (and its training's progress) go as Prometheus textfile metrics.
  public var metricsDirectory: String?
  /// When retraining is due (`[monitor]`).
  public var thresholds: MonitorThresholds

  public init(contentsOf path: String) throws(ConfigurationError) {
    let name = (path as NSString).lastPathComponent
    let top = TOMLSection(try TOMLText.parse(try TOMLText.read(path, what: "retrain file"), file: name), file: name)
    func string(_ key: String, default value: String? = nil) throws(ConfigurationError) -> String {
      let s = try top.string(key, default: value)
      guard !s.isEmpty else { throw top.fail("'\(key)' must be a non-empty string") }
      return s
    }
    model = try string("model")
    guard model.utf8.allSatisfy({ (97...122).contains($0) || (48...57).contains($0) || $0 == 45 }) else {
      throw top.fail("model name '\(model)' must be lower-case letters, digits and '-'")
    }
    run = try string("run")
    self.data = try string("data")
    store = try string("store", default: "store")
    ranks = try top.integer("ranks", valid: { $0 > 0 }, "positive") ?? 1
    launcher = try top.strings("launcher", example: "[\"mpirun\", \"-np\", \"{ranks}\"]") ?? ["mpirun", "-np", "{ranks}"]
    metricsDirectory = try top.optionalString("metrics_dir")
    thresholds = MonitorThresholds()
    if let m = try top.section("monitor") {
      thresholds.psi = try m.number("psi_threshold") ?? thresholds.psi
      thresholds.labelShift = try m.number("label_shift_threshold") ?? thresholds.labelShift
      thresholds.metricDrop = try m.number("metric_drop") ?? thresholds.metricDrop
      try m.finish()
    }
    try top.finish()
  }

  /// The run file for this retrain: `run` with `dataset` and `store` replaced
  /// (and `metrics_dir`, when the retrain file has one), checked like any run file.
  public func runFile() throws -> String {
    let table = try TOMLText.parse(try TOMLText.read(run, what: "run file named by 'run'"), file: run)
    table["dataset"] = self.data
    table["store"] = store
    if let metricsDirectory { table["metrics_dir"] = metricsDirectory }
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
