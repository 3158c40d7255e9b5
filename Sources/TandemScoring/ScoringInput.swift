import Crypto
import Foundation
import TandemData

import TandemStore
import TandemRun

/// Where one scored sample came from, precisely enough to read it again.
public struct SampleSource: Codable, Sendable, Equatable {
  /// `h5` (a Tandem dataset row), `csv` (a data line), or `image` (a file).
  public var kind: String
  /// Absolute path of the file.
  public var path: String
  /// The row (h5) or 1-based line (csv); nil for an image file.
  public var row: Int?
}

/// A registered model version ready to score raw inputs the way its training
/// data was prepared: table columns encoded with the training schema and
/// standardised with its statistics; images decoded, grayscaled, resized to
/// the model's side and scaled with the training pixel statistics.
public final class Scorer {
  public let version: ModelVersion
  public let trained: TrainedModel
  /// The training dataset (normalisation, schema).
  let reference: DatasetReader
  let schema: CSVRowEncoder?
  /// The last CSV read, kept: `audit verify` asks for its rows one at a time.
  private var parsed: (path: String, table: CSVTable)?

  public init(store: Store, version: ModelVersion) throws {
    self.version = version
    let manifest = try store.snapshot(id: version.snapshotID)
    let configuration = try RunConfiguration(toml: manifest.configTOML, file: "snapshot \(version.snapshotID.prefix(12))")
    trained = try TrainedModel(configuration: configuration, parametersFile: try store.verifiedModel(version),
                               runDirectory: version.runDirectory)
    reference = try DatasetReader(path: try store.datasetPath(sha256: manifest.datasetSHA256))
    schema = reference.kind == .table ? try CSVRowEncoder(dataset: reference.path) : nil
  }

  public var isImageModel: Bool { reference.kind == .images }
  /// Class names for labels 0 and 1 (e.g. NORMAL, PNEUMONIA; No, Yes).
  public var classNames: [String] {
    let names = reference.classNames(trained.labelTask)
    return names.count == 2 ? names : ["0", "1"]
  }
  public var side: Int { trained.sampleShape.last ?? 0 }

  /// A standardised numeric feature beyond this many training standard
  /// deviations is outside anything the model learned from: its score goes
  /// to a person whatever its probability.
  public static let reviewDeviations: Float = 10

  /// Whether a prepared input lies far outside the training data (tables only;
  /// a pixel is bounded by construction).
  public func isOutOfRange(_ input: [Float]) -> Bool {
    guard let schema else { return false }
    return schema.numericFeatures.contains { !(abs(input[$0]) <= Self.reviewDeviations) }
  }

  /// Probability of class 1 for each input `[n] + sampleShape` (already normalised).
  ///
  /// One sample at a time: sgemm rounds differently for different batch
  /// sizes, and a prediction must come back bit for bit whether it was scored
  /// among a thousand rows on four ranks or alone by `tandem audit verify`.
  /// (Convolutions already run image by image, so images lose little.)
  public func scores(_ input: [Float], count: Int) throws -> [Float] {
    try trained.scores(normalised: input, count: count, batch: 1)
  }

  /// SHA-256 of the exact float32 input the model saw, little-endian: what the audit log records.
  public static func inputHash(_ input: ArraySlice<Float>) -> String {
    var hasher = SHA256()
    Array(input).withUnsafeBytes { hasher.update(bufferPointer: $0) }
    return hasher.finalize().map { String(format: "%02x", $0) }.joined()
  }

  // MARK: Reading inputs

  /// One prepared sample, or why it could not be prepared.
  public struct Prepared {
    public var id: String
    public var source: SampleSource
    public var input: Result<[Float], DataError>
  }

  /// The samples of `path` (a Tandem dataset, a CSV file, a directory of
  /// images, or one image) in input order, without reading them yet.
  public func list(_ path: String) throws -> [(id: String, source: SampleSource)] {
    let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: absolute, isDirectory: &isDirectory) else {
      throw DataError(path: path, message: "no such file or directory")
    }
    if isDirectory.boolValue {
      guard isImageModel else { throw DataError(path: path, message: "a directory of images, but \(version.name) scores tables") }
      let files = (FileManager.default.enumerator(atPath: absolute)?.allObjects as? [String] ?? [])
        .filter { ["jpeg", "jpg", "png"].contains(($0 as NSString).pathExtension.lowercased()) || !$0.contains(".") }
        .filter { var d: ObjCBool = false; return FileManager.default.fileExists(atPath: absolute + "/" + $0, isDirectory: &d) && !d.boolValue }
        .sorted()
      guard !files.isEmpty else { throw DataError(path: path, message: "no image files in the directory") }
      return files.map { ($0, SampleSource(kind: "image", path: absolute + "/" + $0, row: nil)) }
    }
    switch (absolute as NSString).pathExtension.lowercased() {
    case "h5", "hdf5":
      let data = try DatasetReader(path: absolute)
      guard data.kind == reference.kind else {
        throw DataError(path: path, message: "holds \(data.kind.rawValue), but \(version.name) scores \(reference.kind.rawValue)")
      }
      let file = try HDF5File(readingAt: absolute)
      let ids = data.kind == .table ? try file.dataset("/ids").readStrings() : try file.dataset("/source/files").readStrings()
      return (0..<data.count).map { (ids.indices.contains($0) ? ids[$0] : String($0), SampleSource(kind: "h5", path: absolute, row: $0)) }
    case "csv":
      guard let schema else { throw DataError(path: path, message: "a CSV file, but \(version.name) scores images") }
      let table = try schema.read(csv: absolute)
      return table.rows.indices.map { r in
        (schema.id(of: table.rows[r], in: table) ?? String(table.lines[r]), SampleSource(kind: "csv", path: absolute, row: table.lines[r]))
      }
    default:
      guard isImageModel else { throw DataError(path: path, message: "expected a .h5 dataset or a .csv file") }
      return [((absolute as NSString).lastPathComponent, SampleSource(kind: "image", path: absolute, row: nil))]
    }
  }

  /// Reads and prepares the samples `sources` (all from one input), in order.
  public func prepare(_ samples: ArraySlice<(id: String, source: SampleSource)>) throws -> [Prepared] {
    guard let first = samples.first else { return [] }
    switch first.source.kind {
    case "h5":
      let data = try DatasetReader(path: first.source.path)
      let rows = samples.map { $0.source.row! }
      guard data.sampleShape == reference.sampleShape else {
        let what = data.kind == .images ? "images of \(data.sampleShape[1]) x \(data.sampleShape[2])" : "\(data.sampleShape[0]) features"
        throw DataError(path: first.source.path, message: "\(what), but the model takes \(trained.sampleShape)")
      }
      let flat = try VersionScoring.normalisedInput(data, rows: rows, like: reference, path: first.source.path)
      let width = trained.sampleShape.reduce(1, *)
      return samples.enumerated().map { k, s in Prepared(id: s.id, source: s.source, input: .success(Array(flat[k * width..<(k + 1) * width]))) }
    case "csv":
      let table = try parsed.flatMap { $0.path == first.source.path ? $0.table : nil } ?? schema!.read(csv: first.source.path)
      parsed = (first.source.path, table)
      let byLine = Dictionary(uniqueKeysWithValues: table.lines.enumerated().map { ($1, $0) })
      return samples.map { s in
        guard let r = byLine[s.source.row!] else {
          return Prepared(id: s.id, source: s.source, input: .failure(DataError(path: s.source.path, message: "has no line \(s.source.row!) any more")))
        }
        return Prepared(id: s.id, source: s.source, input: Result { () throws(DataError) in
          try schema!.encode(table.rows[r], in: table, line: s.source.row!, path: s.source.path, reference: reference)
        })
      }
    default:
      let decoder = ImageDecoder()
      let scale = 1 / (255 * reference.std[0]), shift = -reference.mean[0] / reference.std[0]
      return samples.map { s in
        Prepared(id: s.id, source: s.source, input: Result { () throws(DataError) in
          let image: GrayImage
          do { image = try decoder.decode(contentsOf: s.source.path, minimumSide: side) } catch {
            throw DataError(path: s.source.path, message: (error as? ImageError)?.message ?? "\(error)")
          }
          guard image.width >= side, image.height >= side else {
            throw DataError(path: s.source.path, message: "\(image.width) x \(image.height) is smaller than the model's \(side) x \(side); "
                            + "upsampling would invent detail the model never saw")
          }
          return image.resized(width: side, height: side).pixels.map { Float($0) * scale + shift }
        })
      }
    }
  }
}
