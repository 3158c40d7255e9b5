import Foundation
import TandemData
import TandemNN
import TandemTensor

/// A finished run's model, ready to score: the reference architecture its
/// run file names, with the final parameters of `model.h5`.
public final class TrainedModel {
  public let runDirectory: String
  public let configuration: RunConfiguration
  public let model: Model
  /// The architecture's input: `[1, side, side]` for images, `[features]` for tables.
  public var sampleShape: [Int] { model.sampleShape }
  public var task: RunTask { configuration.task }
  public var labelTask: LabelTask { configuration.task.labels }
  /// The content hash of the dataset it was trained on (recorded in its parameter file).
  public let trainedOn: String?

  /// Loads `RUN/config.toml` and `RUN/model.h5` (or `parametersFile` when
  /// given: a copy kept in the store). Errors name the file.
  public convenience init(runDirectory: String, parametersFile: String? = nil) throws {
    let directory = runDirectory.hasSuffix("/") ? String(runDirectory.dropLast()) : runDirectory
    try self.init(configuration: try RunConfiguration(contentsOf: directory + "/config.toml"),
                  parametersFile: parametersFile ?? directory + "/model.h5", runDirectory: directory)
  }

  /// The architecture `configuration` names, with the parameters of `parametersFile`.
  public init(configuration: RunConfiguration, parametersFile file: String, runDirectory: String) throws {
    self.runDirectory = runDirectory
    self.configuration = configuration
    guard FileManager.default.fileExists(atPath: file) else {
      throw DataError(path: file, message: "no such parameter file (the run did not finish?)")
    }
    let contents = try ParameterFile.load(file)
    let parameters = contents.parameters
    let name = configuration.model
    trainedOn = contents.datasetSHA256
    // model.h5 records the sample shape; files without it are from runs
    // that trained full-size xray-cnn or a table whose width is fc1's.
    let shape = contents.sampleShape
    let features = shape?.last ?? parameters.first?.value.shape.last ?? 45
    let side = name.isImageModel ? (shape?[1] ?? 128) : 128
    model = try Model.reference(name, features: features, imageSize: side, classes: 2, seed: configuration.seed)
    guard parameters.map(\.name) == model.parameters.map(\.name),
          parameters.map(\.value.shape) == model.parameters.map(\.value.shape) else {
      throw DataError(path: file, message: "parameters do not match \(name.rawValue): "
                      + "\(parameters.map { "\($0.name)\($0.value.shape)" }.joined(separator: " "))")
    }
    for (p, saved) in zip(model.parameters, parameters) { p.value = saved.value }
  }

  /// Probability of class 1 (pneumonia, viral, churn) for each sample of `input` `[n] + sampleShape`.
  public func scores(_ input: Tensor) throws -> [Float] {
    let p = try model.probabilities(input)
    let n = input.shape[0]
    return (0..<n).map { p.scalars[$0 * model.classes + 1] }
  }

  /// Scores of `count` samples laid end to end in `input` (already
  /// normalised), `batch` at a time.
  public func scores(normalised input: [Float], count: Int, batch: Int) throws -> [Float] {
    let width = sampleShape.reduce(1, *)
    invariant(input.count == count * width, "\(input.count) values for \(count) samples of \(sampleShape)")
    var out: [Float] = []
    out.reserveCapacity(count)
    var start = 0
    while start < count {
      let n = min(batch, count - start)
      out += try scores(Tensor(uncheckedShape: [n] + sampleShape, scalars: Array(input[start * width..<(start + n) * width])))
      start += n
    }
    return out
  }

  /// Scores of rows `indices` of `reader`, in batches of `batch`, images
  /// changed by `transform` first when given.
  public func scores(reader: DatasetReader, indices: [Int], batch: Int = 64,
                     transform: ImageTransform? = nil) throws -> [Float] {
    var out: [Float] = []
    out.reserveCapacity(indices.count)
    var start = 0
    while start < indices.count {
      let rows = Array(indices[start..<min(indices.count, start + batch)])
      out += try scores(try reader.batch(indices: rows, task: labelTask, transform: transform.map { t in { _ in t } }).input)
      start += batch
    }
    return out
  }

  /// Checks that `reader` holds what this model scores: the same kind and sample shape.
  public func check(_ reader: DatasetReader) throws {
    guard reader.sampleShape == sampleShape else {
      throw DataError(path: reader.path, message: "samples of shape \(reader.sampleShape), but the model of run "
                      + "\((runDirectory as NSString).lastPathComponent) takes \(sampleShape)")
    }
  }
}
