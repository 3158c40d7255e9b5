import Foundation
import TandemData
import TandemRun

/// Two recorded runs side by side: what a review asks first about last
/// month's model and this one. Settings are compared as the snapshots
/// resolved them (defaults filled in), metrics from the registry's epochs and
/// each run's test evaluation, parameters tensor by tensor from model.h5.
public struct RunComparison: Encodable {
  public struct Row: Encodable, Equatable {
    public let key: String
    public let a, b: String?
  }

  public struct Metrics: Encodable {
    public let split: String
    public let accuracy, rocAUC, precision, recall, f1: Double
    public let threshold: Double?
  }

  public struct Tensor: Encodable {
    public let name: String
    public let shape: [Int]
    /// Elements whose bits differ, and the largest absolute difference.
    public let differing: Int
    public let maxAbsoluteDifference: Double
  }

  public struct Parameters: Encodable {
    /// Both parameter files hash the same (bit for bit the same model).
    public let identical: Bool
    /// Tensor by tensor, when both files exist and hold the same names and shapes.
    public let tensors: [Tensor]?
    /// Why tensors could not be compared (a missing file, another architecture).
    public let note: String?
  }

  public let a: String
  public let b: String
  /// Facts about each run: model, data, snapshot, code, machine, outcome.
  public let facts: [Row]
  /// Resolved settings that differ (all of them equal: empty).
  public let settings: [Row]
  /// The newest validation epoch, then the test evaluation where `tandem evaluate` has run.
  public let metricsA: [Metrics]
  public let metricsB: [Metrics]
  public let parameters: Parameters

  public init(store: Store, a idA: String, b idB: String) throws {
    let ra = try store.recordedRun(id: idA), rb = try store.recordedRun(id: idB)
    a = ra.id; b = rb.id
    let sa = try? store.snapshot(id: ra.snapshotID), sb = try? store.snapshot(id: rb.snapshotID)
    let ca = try? RunConfiguration(toml: ra.configuration, file: "run \(ra.id)")
    let cb = try? RunConfiguration(toml: rb.configuration, file: "run \(rb.id)")

    func row(_ key: String, _ f: (RunRecord) -> String?) -> Row { Row(key: key, a: f(ra), b: f(rb)) }
    facts = [
      Row(key: "model", a: ca?.model.rawValue, b: cb?.model.rawValue),
      Row(key: "task", a: ca?.task.rawValue, b: cb?.task.rawValue),
      row("status") { $0.status.description },
      row("started") { ISO8601DateFormatter().string(from: $0.startedAt) },
      row("duration seconds") { r in r.endedAt.map { String(format: "%.1f", $0.timeIntervalSince(r.startedAt)) } },
      row("train data") { "\($0.trainData.path) (\($0.trainData.sha256.prefix(12)), split \($0.trainData.split))" },
      row("snapshot") { $0.snapshotID },
      row("code") { $0.codeVersion },
      row("world size") { String($0.worldSize) },
      row("numerics") { $0.environment.numerics },
      row("cpu") { $0.environment.cpuModel },
      row("user") { $0.user },
    ]
    let resolvedA = sa?.resolvedConfig ?? ca?.resolved() ?? [:], resolvedB = sb?.resolvedConfig ?? cb?.resolved() ?? [:]
    settings = RunConfiguration.differingKeys(resolvedA, resolvedB).map { Row(key: $0, a: resolvedA[$0], b: resolvedB[$0]) }
    metricsA = Self.metrics(ra)
    metricsB = Self.metrics(rb)
    parameters = Self.parameters(ra, rb)
  }

  private static func metrics(_ run: RunRecord) -> [Metrics] {
    var out: [Metrics] = []
    if let last = run.epochs.last {
      let m = last.metrics
      out.append(Metrics(split: "\(run.validationData?.split.description ?? "val") (epoch \(last.epoch))", accuracy: m.accuracy,
                         rocAUC: m.rocAUC, precision: m.precision, recall: m.recall, f1: m.f1, threshold: m.threshold))
    }
    if let e = try? Evaluation.read(Evaluation.path(run: run.runDirectory, split: .test)) {
      let m = e.metrics
      out.append(Metrics(split: "test (tuned threshold)", accuracy: m.accuracy, rocAUC: m.rocAUC, precision: m.precision,
                         recall: m.recall, f1: m.f1, threshold: e.threshold))
    }
    return out
  }

  private static func parameters(_ a: RunRecord, _ b: RunRecord) -> Parameters {
    let identical = a.parametersSHA256 != nil && a.parametersSHA256 == b.parametersSHA256
    guard let fa = a.parametersFile, let fb = b.parametersFile else {
      return Parameters(identical: identical, tensors: nil, note: "a run has no final parameters (not finished)")
    }
    guard let pa = try? ParameterFile.read(fa), let pb = try? ParameterFile.read(fb) else {
      return Parameters(identical: identical, tensors: nil, note: "a parameter file cannot be read (\(fa), \(fb))")
    }
    guard pa.map(\.name) == pb.map(\.name), pa.map(\.value.shape) == pb.map(\.value.shape) else {
      return Parameters(identical: false, tensors: nil, note: "different architectures: the tensors do not correspond")
    }
    let tensors = zip(pa, pb).map { x, y in
      var differing = 0, largest = 0.0
      for (u, v) in zip(x.value.scalars, y.value.scalars) where u.bitPattern != v.bitPattern {
        differing += 1
        largest = max(largest, abs(Double(u) - Double(v)))
      }
      return Tensor(name: x.name, shape: x.value.shape, differing: differing, maxAbsoluteDifference: largest)
    }
    return Parameters(identical: identical || tensors.allSatisfy { $0.differing == 0 }, tensors: tensors, note: nil)
  }
}
