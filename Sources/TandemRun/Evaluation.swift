import Foundation
import TandemData
import TandemNN
import TandemTensor

/// How a model's decision threshold is chosen on the validation split.
public enum ThresholdPolicy: Codable, Sendable, Equatable, CustomStringConvertible {
  /// The highest threshold at which the validation recall's 95 % Wilson
  /// lower bound reaches `recall`. Tuning to the point estimate alone lands
  /// on the target only half the time on new data; the bound leaves a margin
  /// that shrinks as the validation split grows.
  case targetRecall(Double)
  /// The threshold with the highest accuracy.
  case bestAccuracy
  /// A fixed threshold.
  case fixed(Double)

  /// The policy for a task: pneumonia screening must miss few cases; the
  /// subtype model and churn scoring are judged by accuracy and ranking.
  public static func `default`(task: RunTask, targetRecall: Double) -> ThresholdPolicy {
    switch task {
    case .pneumonia: .targetRecall(targetRecall)
    case .pneumoniaType: .bestAccuracy
    case .churn: .fixed(0.5)
    }
  }

  public var description: String {
    switch self {
    case .targetRecall(let r): return "highest threshold whose validation recall has a 95% lower bound >= \(r)"
    case .bestAccuracy: return "best accuracy on validation"
    case .fixed(let t): return "fixed at \(t)"
    }
  }

  /// The lower end of the 95 % Wilson score interval for a proportion.
  public static func wilsonLowerBound(successes: Int, trials: Int, z: Double = 1.96) -> Double {
    guard trials > 0 else { return 0 }
    let n = Double(trials), p = Double(successes) / n
    let centre = p + z * z / (2 * n)
    let spread = z * (p * (1 - p) / n + z * z / (4 * n * n)).squareRoot()
    return (centre - spread) / (1 + z * z / n)
  }

  /// The chosen threshold for `scores` with `labels` (1 = positive).
  public func choose(scores: [Float], labels: [Int32]) -> Double {
    switch self {
    case .fixed(let t):
      return t
    case .targetRecall(let target):
      // Walk thresholds from the highest score down; recall only grows.
      let positives = labels.filter { $0 == 1 }.count
      guard positives > 0 else { return 0.5 }
      let order = scores.indices.sorted { scores[$0] > scores[$1] }
      var found = 0
      var i = 0
      while i < order.count {
        let s = scores[order[i]]
        while i < order.count && scores[order[i]] == s {
          if labels[order[i]] == 1 { found += 1 }
          i += 1
        }
        if Self.wilsonLowerBound(successes: found, trials: positives) >= target { return Double(s) }
      }
      return Double(scores.min() ?? 0)
    case .bestAccuracy:
      var best = (accuracy: -1.0, threshold: 0.5)
      for t in Set(scores).sorted() {
        let a = ClassificationMetrics(scores: scores, labels: labels, loss: 0, threshold: Double(t)).accuracy
        if a > best.accuracy { best = (a, Double(t)) }
      }
      return best.threshold
    }
  }
}

/// A finished run evaluated on one split at its tuned threshold: what
/// `tandem evaluate` writes to `RUN/evaluation-SPLIT.json` and what the
/// model registry's gates are checked against.
public struct Evaluation: Codable, Sendable {
  public struct ThresholdRow: Codable, Sendable, Equatable {
    public var threshold: Double
    public var accuracy: Double
    public var precision: Double
    public var recall: Double
    public var f1: Double
    public var falseNegatives: Int
    public var falsePositives: Int
  }

  /// Predicted probabilities in `[lower, upper)` against how often the positive class occurred there.
  public struct CalibrationBin: Codable, Sendable, Equatable {
    public var lower: Double
    public var upper: Double
    public var count: Int
    public var meanPredicted: Double
    public var observedRate: Double
  }

  public struct ROCPoint: Codable, Sendable, Equatable {
    public var fpr: Double
    public var tpr: Double
    public var threshold: Double
  }

  public var run: String
  public var model: String
  public var task: RunTask
  public var split: Split
  public var datasetSHA256: String
  public var classNames: [String]
  public var threshold: Double
  public var thresholdPolicy: String
  /// Metrics on the validation split at the chosen threshold (where it was tuned).
  public var validation: ClassificationMetrics
  /// Metrics on `split` at the chosen threshold.
  public var metrics: ClassificationMetrics
  public var falseNegatives: Int { metrics.confusion[1][0] }
  public var roc: [ROCPoint]
  /// Metrics on `split` at thresholds 0.05, 0.10, ..., 0.95 and the chosen one.
  public var thresholdTable: [ThresholdRow]
  public var calibration: [CalibrationBin]
  /// Count-weighted mean |mean predicted - observed rate| over the calibration bins.
  public var expectedCalibrationError: Double
  /// Temperature scaling fitted on the validation split: `σ(logit / T)`
  /// minimises the validation log loss. It keeps every score's rank, so the
  /// threshold's decisions do not change; it says how over-confident the
  /// model is (T > 1) and gives calibrated probabilities.
  public var temperature: Double?
  /// `expectedCalibrationError` of `split`'s scores after temperature scaling.
  public var calibratedExpectedCalibrationError: Double?
  /// The split under each of `ImageTransform.shifts`, at the tuned threshold
  /// (`tandem evaluate --shifts`; images only).
  public var shifts: [ShiftResult]?
  public var evaluatedAt: Date
  /// The numeric configuration that computed the scores (`Numerics.identifier`).
  public var numerics: String?

  public init(run: String, model: String, task: RunTask, split: Split, datasetSHA256: String, classNames: [String],
              policy: ThresholdPolicy, validationScores: [Float], validationLabels: [Int32],
              scores: [Float], labels: [Int32], loss: Double, evaluatedAt: Date = Date()) {
    self.run = run
    self.model = model
    self.task = task
    self.split = split
    self.datasetSHA256 = datasetSHA256
    self.classNames = classNames
    numerics = Numerics.identifier
    threshold = policy.choose(scores: validationScores, labels: validationLabels)
    thresholdPolicy = policy.description
    validation = ClassificationMetrics(scores: validationScores, labels: validationLabels, loss: 0, threshold: threshold)
    metrics = ClassificationMetrics(scores: scores, labels: labels, loss: loss, threshold: threshold)
    roc = ClassificationMetrics.rocCurve(scores: scores, labels: labels).map {
      ROCPoint(fpr: $0.fpr, tpr: $0.tpr, threshold: $0.threshold.isFinite ? Double($0.threshold) : 1)
    }
    let grid = (1...19).map { Double($0) / 20 }
    let chosen = threshold
    thresholdTable = (grid.contains { abs($0 - chosen) < 1e-9 } ? grid : grid + [threshold]).sorted().map { t in
      let m = ClassificationMetrics(scores: scores, labels: labels, loss: 0, threshold: t)
      return ThresholdRow(threshold: t, accuracy: m.accuracy, precision: m.precision, recall: m.recall, f1: m.f1,
                          falseNegatives: m.confusion[1][0], falsePositives: m.confusion[0][1])
    }
    calibration = Self.calibrationBins(scores: scores, labels: labels)
    expectedCalibrationError = Self.calibrationError(calibration)
    let t = Self.fitTemperature(scores: validationScores, labels: validationLabels)
    temperature = t
    calibratedExpectedCalibrationError = Self.calibrationError(
      Self.calibrationBins(scores: scores.map { Self.scaled($0, temperature: t) }, labels: labels))
    self.evaluatedAt = evaluatedAt
  }

  /// The split's metrics with every image changed one way.
  public struct ShiftResult: Codable, Sendable, Equatable {
    public var shift: String
    public var accuracy: Double
    public var recall: Double
    public var specificity: Double
    public var rocAUC: Double
    /// The mean score of the negative class (healthy, bacterial): how far the shift pushes it towards the positive.
    public var meanNegativeScore: Double

    public init(shift: String, scores: [Float], labels: [Int32], threshold: Double) {
      let m = ClassificationMetrics(scores: scores, labels: labels, loss: 0, threshold: threshold)
      self.shift = shift
      accuracy = m.accuracy
      recall = m.recall
      specificity = m.specificity
      rocAUC = m.rocAUC
      let negatives = zip(scores, labels).filter { $0.1 == 0 }.map { Double($0.0) }
      meanNegativeScore = negatives.isEmpty ? 0 : negatives.reduce(0, +) / Double(negatives.count)
    }
  }

  /// Scores in ten equal-width bins, each with its mean score and observed positive rate.
  public static func calibrationBins(scores: [Float], labels: [Int32]) -> [CalibrationBin] {
    var bins = (0..<10).map { CalibrationBin(lower: Double($0) / 10, upper: Double($0 + 1) / 10, count: 0,
                                             meanPredicted: 0, observedRate: 0) }
    for (s, y) in zip(scores, labels) {
      let b = min(9, max(0, Int(Double(s) * 10)))
      bins[b].count += 1
      bins[b].meanPredicted += Double(s)
      bins[b].observedRate += y == 1 ? 1 : 0
    }
    for b in bins.indices where bins[b].count > 0 {
      bins[b].meanPredicted /= Double(bins[b].count)
      bins[b].observedRate /= Double(bins[b].count)
    }
    return bins
  }

  /// Count-weighted mean |mean predicted − observed rate| over `bins`.
  public static func calibrationError(_ bins: [CalibrationBin]) -> Double {
    let count = bins.reduce(0) { $0 + $1.count }
    let total = bins.reduce(0.0) { $0 + Double($1.count) * abs($1.meanPredicted - $1.observedRate) }
    return count == 0 ? 0 : total / Double(count)
  }

  static func logit(_ p: Float) -> Double {
    let q = min(max(Double(p), 1e-7), 1 - 1e-7)
    return PortableMath.log(q / (1 - q))
  }

  /// `σ(logit(p) / T)`.
  public static func scaled(_ p: Float, temperature: Double) -> Float {
    Kernels.sigmoid(Float(logit(p) / temperature))
  }

  /// The temperature in [0.05, 20] with the least log loss on (`scores`,
  /// `labels`), by golden-section search on log T (the loss is convex in 1/T).
  public static func fitTemperature(scores: [Float], labels: [Int32]) -> Double {
    let logits = scores.map(logit)
    func loss(_ logT: Double) -> Double {
      let t = PortableMath.exp(logT)
      var sum = 0.0
      for (z, y) in zip(logits, labels) {
        let m = (y == 1 ? z : -z) / t
        // log(1 + e^-m), stable on both sides.
        sum += m > 0 ? PortableMath.log(1 + PortableMath.exp(-m)) : -m + PortableMath.log(1 + PortableMath.exp(m))
      }
      return sum
    }
    var a = PortableMath.log(0.05), b = PortableMath.log(20.0)
    let ratio = 0.6180339887498949
    var c = b - ratio * (b - a), d = a + ratio * (b - a)
    var fc = loss(c), fd = loss(d)
    for _ in 0..<60 {
      if fc < fd { b = d; d = c; fd = fc; c = b - ratio * (b - a); fc = loss(c) } else {
        a = c; c = d; fc = fd; d = a + ratio * (b - a); fd = loss(d)
      }
    }
    return PortableMath.exp((a + b) / 2)
  }

  /// `RUN/evaluation-SPLIT.json`.
  public static func path(run: String, split: Split) -> String { "\(run)/evaluation-\(split).json" }

  public func write(to path: String) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    encoder.dateEncodingStrategy = .iso8601
    try AtomicFile.write(try encoder.encode(self), to: path)
  }

  public static func read(_ path: String) throws -> Evaluation {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw DataError(path: path, message: "no evaluation here (tandem evaluate RUN --split SPLIT writes it)")
    }
    let decoder = JSONDecoder()
    decoder.dateDecodingStrategy = .iso8601
    do { return try decoder.decode(Evaluation.self, from: data) } catch {
      throw DataError(path: path, message: "not a readable evaluation: \(error)")
    }
  }
}

extension Evaluation {
  /// What to tell the user about the evaluation at `path` before a new one
  /// replaces it: that it is unreadable, or cannot be reproduced bit for bit
  /// here; nil when there is none or it can.
  public static func replacementNote(at path: String) -> String? {
    guard FileManager.default.fileExists(atPath: path) else { return nil }
    let previous: Evaluation
    do { previous = try read(path) } catch { return "\(error); this evaluation replaces it" }
    guard case .notReproducible(let why) = Numerics.reproducibility(of: previous.numerics) else { return nil }
    return "\(path) cannot be reproduced bit for bit on this machine (\(why)); "
      + "this evaluation computes with \(Numerics.identifier) and replaces it"
  }

  /// Scores the finished run in `runDirectory` on its validation split, where
  /// the threshold is tuned by the task's policy, and on `split`, where it is
  /// measured. The dataset must be the one the run trained on (same content hash).
  /// `prepare` sees the model before it scores anything (to place it on a device).
  public static func evaluate(runDirectory: String, split target: Split, shifts: Bool = false,
                              prepare: (Model) throws -> Void = { _ in }) throws -> Evaluation {
    let trained = try TrainedModel(runDirectory: runDirectory)
    try prepare(trained.model)
    let config = trained.configuration
    let reader = try DatasetReader(path: config.dataset)
    try trained.check(reader)
    if let trainedOn = trained.trainedOn,
       trainedOn != reader.contentSHA256 {
      throw DataError(path: config.dataset, message: "content hash \(reader.contentSHA256.prefix(12))… is not that of the data "
                      + "the run trained on (\(trainedOn.prefix(12))…): the file changed since")
    }
    let task = trained.labelTask
    let validationSplit = config.training.validationSplit
    let validationIndices = reader.indices(in: validationSplit, task: task)
    let indices = reader.indices(in: target, task: task)
    guard !indices.isEmpty, !validationIndices.isEmpty else {
      throw DataError(path: config.dataset, message: "the \(indices.isEmpty ? target : validationSplit) split has no samples for task \(config.task)")
    }
    let all = reader.labels(task)
    let validationScores = try trained.scores(reader: reader, indices: validationIndices)
    let scores = target == validationSplit ? validationScores : try trained.scores(reader: reader, indices: indices)
    let labels = indices.map { all[$0] }
    var loss = 0.0
    for (s, y) in zip(scores, labels) { loss -= PortableMath.log(max(Double(y == 1 ? s : 1 - s), 1e-7)) }
    var evaluation = Evaluation(
      run: (trained.runDirectory as NSString).lastPathComponent, model: config.model.rawValue, task: config.task,
      split: target, datasetSHA256: reader.contentSHA256, classNames: reader.classNames(task),
      policy: ThresholdPolicy.default(task: config.task, targetRecall: config.release.targetRecall),
      validationScores: validationScores, validationLabels: validationIndices.map { all[$0] },
      scores: scores, labels: labels, loss: loss / Double(scores.count))
    if shifts {
      guard reader.kind == .images else {
        throw DataError(path: config.dataset, message: "acquisition shifts apply to images; this dataset holds a table")
      }
      evaluation.shifts = try ImageTransform.shifts.map { shift in
        ShiftResult(shift: shift.name, scores: try trained.scores(reader: reader, indices: indices, transform: shift.transform),
                    labels: labels, threshold: evaluation.threshold)
      }
    }
    return evaluation
  }
}
