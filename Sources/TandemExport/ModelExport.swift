import Foundation
import TandemData
import TandemNN
import TandemRun
import TandemStore
import TandemSystem

/// A trained model with everything a scorer outside Tandem needs: the
/// dataset normalisation, class names, the tuned threshold and where it came
/// from. Made from a run directory or from a registered version; written as
/// ONNX (graph and weights) or safetensors (weights only).
public struct ModelExport {
  public let model: Model
  public let architecture: ModelName
  public let task: RunTask
  /// The train split's statistics: one value for images, one per feature for tables.
  public let mean: [Float]
  public let std: [Float]
  /// Class names, index = label; the probability is the last one's.
  public let classNames: [String]
  /// The encoded feature names of a table model, in input order.
  public let featureNames: [String]?
  public let threshold: Double
  public let thresholdPolicy: String
  public let snapshotID: String?
  public let datasetSHA256: String?
  /// `run RUN` or `NAME@VERSION`: what was exported.
  public let source: String

  /// A finished, evaluated run: the threshold is the one `tandem evaluate` chose.
  public init(runDirectory: String) throws {
    let directory = runDirectory.hasSuffix("/") ? String(runDirectory.dropLast()) : runDirectory
    let trained = try TrainedModel(runDirectory: directory)
    guard let evaluation = try Self.evaluation(in: directory) else {
      throw DataError(path: directory, message: "the run has no evaluation, so no threshold: run `tandem evaluate \(directory)` first")
    }
    let summaryPath = RunSummary.path(run: directory)
    let summary = FileManager.default.contents(atPath: summaryPath).flatMap { try? JSONDecoder().decode(RunSummary.self, from: $0) }
    try self.init(trained: trained, data: try Self.trainingData(trained), threshold: evaluation.threshold,
                  policy: evaluation.thresholdPolicy, snapshotID: summary?.snapshotID, source: "run \(directory)")
  }

  /// A registered version, read from the store as `tandem predict` reads it.
  public init(store: Store, version: ModelVersion) throws {
    let manifest = try store.snapshot(id: version.snapshotID)
    let configuration = try RunConfiguration(toml: manifest.configTOML, file: "snapshot \(version.snapshotID.prefix(12))")
    let trained = try TrainedModel(configuration: configuration, parametersFile: try store.verifiedModel(version),
                                   runDirectory: version.runDirectory)
    let data = try DatasetReader(path: try store.datasetPath(sha256: manifest.datasetSHA256))
    try self.init(trained: trained, data: data, threshold: version.threshold, policy: version.thresholdPolicy,
                  snapshotID: version.snapshotID, source: "\(version.name)@\(version.version)")
  }

  init(trained: TrainedModel, data: DatasetReader, threshold: Double, policy: String, snapshotID: String?, source: String) throws {
    try trained.check(data)
    model = trained.model
    architecture = trained.configuration.model
    task = trained.task
    mean = data.mean
    std = data.std
    let names = data.classNames(trained.labelTask)
    classNames = names.count == 2 ? names : ["0", "1"]
    featureNames = data.kind == .table ? try HDF5File(readingAt: data.path).dataset("/feature_names").readStrings() : nil
    self.threshold = threshold
    thresholdPolicy = policy
    self.snapshotID = snapshotID
    datasetSHA256 = trained.trainedOn ?? data.contentSHA256
    self.source = source
  }

  /// The run's dataset as named in its run file, else the store's copy of the
  /// one it was trained on (found by content hash).
  private static func trainingData(_ trained: TrainedModel) throws -> DatasetReader {
    let named = trained.configuration.dataset
    if FileSystem.isRegularFile(named), let reader = try? DatasetReader(path: named),
       trained.trainedOn == nil || reader.contentSHA256 == trained.trainedOn {
      return reader
    }
    if let hash = trained.trainedOn, !trained.configuration.store.isEmpty,
       let store = try? Store(root: trained.configuration.store, create: false),
       let path = try? store.datasetPath(sha256: hash), FileSystem.isRegularFile(path) {
      return try DatasetReader(path: path)
    }
    throw DataError(path: named, message: "cannot find the dataset the run was trained on"
                    + (trained.trainedOn.map { " (content \($0.prefix(12)))" } ?? "") + ": its normalisation goes into the export")
  }

  /// The run's test evaluation, else any other it has.
  private static func evaluation(in directory: String) throws -> Evaluation? {
    let names = (try? FileSystem.entries(of: directory)) ?? []
    let files = names.filter { $0.hasPrefix("evaluation-") && $0.hasSuffix(".json") }.sorted()
    guard let name = files.contains("evaluation-test.json") ? "evaluation-test.json" : files.first else { return nil }
    return try Evaluation.read(directory + "/" + name)
  }

  /// What travels with the weights, in both formats: string keys and values.
  public var metadata: [(key: String, value: String)] {
    func json(_ strings: [String]) -> String {
      String(decoding: try! JSONEncoder().encode(strings), as: UTF8.self)
    }
    var out: [(String, String)] = [
      ("tandem.source", source),
      ("tandem.architecture", architecture.rawValue),
      ("tandem.task", task.rawValue),
      ("class_names", json(classNames)),
      ("positive_class", classNames[1]),
      ("threshold", String(threshold)),
      ("threshold_policy", thresholdPolicy),
      ("input", inputDescription),
      ("output", "probability of '\(classNames[1])' per sample, [N]; flag a sample when probability >= threshold"),
      ("normalisation", "(x - mean) / std inside the graph; mean \(mean.map { String($0) }.joined(separator: " ")), "
        + "std \(std.map { String($0) }.joined(separator: " "))"),
    ]
    if let featureNames { out.append(("feature_names", json(featureNames))) }
    if let snapshotID { out.append(("snapshot_id", snapshotID)) }
    if let datasetSHA256 { out.append(("dataset_sha256", datasetSHA256)) }
    out.append(("tandem.version", CodeVersion.tandemRelease))
    return out
  }

  private var inputDescription: String {
    if model.sampleShape.count == 3 {
      let s = model.sampleShape[2]
      return "float pixels in [0, 1], [N, 1, \(s), \(s)]: grayscale, resized to \(s) x \(s) as tandem ingest does"
    }
    return "raw encoded features, [N, \(model.sampleShape[0])]: numbers as in the CSV, categories one-hot, as tandem ingest writes /features"
  }
}
