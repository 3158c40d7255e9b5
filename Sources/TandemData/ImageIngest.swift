import Dispatch
import Foundation

/// One image file found by `ImageIngest.scan`.
public struct ImageSource: Sendable, Equatable {
  /// Path relative to the input folder, `CLASS/name.jpeg`.
  public var relativePath: String
  public var classIndex: Int
  public var subtype: Subtype
  public var patient: String
}

/// The pneumonia subtype in the file name, stored as `/subtype` int32.
public enum Subtype: Int32, Sendable, CaseIterable {
  case none = 0, bacterial = 1, viral = 2
  public static let names = ["none", "bacterial", "viral"]
}

/// Settings for `ImageIngest.run`; all but `threads` and `progressEvery` are
/// recorded in the file and covered by its content hash.
public struct ImageIngestOptions: Sendable {
  /// Output side: images are stored as `[N, size, size]`.
  public var size = 128
  public var seed: UInt64 = 1
  public var validationFraction = 0.1
  public var testFraction = 0.2
  /// Images per HDF5 chunk along the first axis; nil picks chunks of about
  /// 1 MiB (64 images at 128 x 128), 0 stores `/images` contiguously.
  /// Readers turn the chunk cache off and read each image on its own, which
  /// HDF5 then does straight from the file; measured on 5,216 images of
  /// 128 x 128, a random batch of 64 takes 0.48 ms with 1 MiB chunks, 0.62 ms
  /// with one image per chunk and 0.68 ms contiguous (whose reads go through
  /// HDF5's 64 KiB sieve buffer). See docs/data-format.md.
  public var chunkImages: Int? = nil

  /// The chunk shape for `/images`, or nil for contiguous storage.
  func imageChunk(count: Int) -> [Int]? {
    let rows = chunkImages ?? max(1, (1 << 20) / (size * size))
    return rows == 0 ? nil : [min(rows, max(count, 1)), size, size]
  }
  public var threads = ProcessInfo.processInfo.activeProcessorCount
  /// Recorded as the `tandem_version` attribute.
  public var tandemVersion = "unknown"

  public init() {}
}

/// What an ingest did, for the CLI's summary line.
public struct IngestSummary: Sendable {
  public var path: String
  public var count: Int
  public var seconds: Double
  public var contentSHA256: String
  public var itemsPerSecond: Double { seconds > 0 ? Double(count) / seconds : 0 }
}

/// Folders of images (`DIR/CLASS/*.jpeg|png`) to an HDF5 dataset.
///
/// File layout (kind "images"; every name is readable with h5py alone):
///
///     /images          uint8 [N, S, S]   grayscale, row-major, top row first
///     /labels          int32 [N]         index into @class_names (two folders, NORMAL first):
///                                        0 NORMAL, 1 PNEUMONIA for the X-ray set
///     /subtype         int32 [N]         0 none, 1 bacterial, 2 viral (from the file name)
///     /patient         str   [N]         personN, or IM-NNNN for NORMAL files
///     /split           uint8 [N]         0 train, 1 val, 2 test; grouped by patient
///     /source/files    str   [N]         CLASS/file, relative to the input folder; row i
///     /source/sha256   str   [N]         hex SHA-256 of each source file
///     attributes on /: kind="images", format_version, class_names, subtype_names,
///       split_names, size, seed, val_fraction, test_fraction, resize, grayscale,
///       pixel_mean, pixel_std (of pixel/255 over the train split), content_sha256,
///       tandem_version, ingested_at, source_root
///
/// Rows are in sorted order (class folder, then file name), so the output does
/// not depend on directory listing order or on the number of threads.
public enum ImageIngest {
  public static let extensions: Set<String> = ["jpeg", "jpg", "png"]

  /// Lists `directory`'s class folders and their images, sorted. Hidden files
  /// are skipped; any other file without an image extension, a nested folder,
  /// an empty class folder or no class folder at all is an error naming it.
  public static func scan(_ directory: String) throws(DataError) -> (classes: [String], sources: [ImageSource]) {
    let fm = FileManager.default
    var isDirectory: ObjCBool = false
    guard fm.fileExists(atPath: directory, isDirectory: &isDirectory) else {
      throw DataError(path: directory, message: "no such folder")
    }
    guard isDirectory.boolValue else { throw DataError(path: directory, message: "not a folder") }
    func list(_ path: String) throws(DataError) -> [String] {
      do {
        return try fm.contentsOfDirectory(atPath: path).filter { !$0.hasPrefix(".") }
          .sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
      } catch {
        throw DataError(path: path, message: "cannot list folder")
      }
    }
    var classes = try list(directory).filter { name in
      var isDir: ObjCBool = false
      return fm.fileExists(atPath: directory + "/" + name, isDirectory: &isDir) && isDir.boolValue
    }
    guard !classes.isEmpty else {
      throw DataError(path: directory, message: "no class folders (expected \(directory)/CLASS/*.jpeg|png)")
    }
    // Two classes, NORMAL the negative one: sorting alone would make NORMAL
    // the positive class beside ABNORMAL, and a third folder fails only later.
    guard classes.count == 2 else {
      throw DataError(path: directory, message: "\(classes.count) class folder(s) (\(classes.joined(separator: ", "))); "
                      + "a dataset needs exactly two: NORMAL and the positive class")
    }
    guard let normal = classes.firstIndex(where: { $0.uppercased() == "NORMAL" }) else {
      throw DataError(path: directory, message: "no NORMAL class folder among \(classes.joined(separator: ", ")): "
                      + "the negative class must be named NORMAL")
    }
    if normal == 1 { classes.swapAt(0, 1) }
    var sources: [ImageSource] = []
    for (classIndex, className) in classes.enumerated() {
      let classPath = directory + "/" + className
      var count = 0
      for name in try list(classPath) {
        let full = classPath + "/" + name
        var isDir: ObjCBool = false
        _ = fm.fileExists(atPath: full, isDirectory: &isDir)
        if isDir.boolValue { throw DataError(path: full, message: "unexpected folder inside a class folder") }
        let ext = (name as NSString).pathExtension.lowercased()
        guard extensions.contains(ext) else {
          throw DataError(path: full, message: "not a JPEG or PNG image (extension must be .jpeg, .jpg or .png)")
        }
        sources.append(ImageSource(relativePath: className + "/" + name, classIndex: classIndex,
                                   subtype: subtype(fromFileName: name), patient: patient(fromFileName: name)))
        count += 1
      }
      if count == 0 { throw DataError(path: classPath, message: "class folder holds no images") }
    }
    return (classes, sources)
  }

  /// `person12_bacteria_34.jpeg` is bacterial, `person12_virus_56.jpeg` viral; anything else none.
  public static func subtype(fromFileName name: String) -> Subtype {
    let lower = name.lowercased()
    if lower.contains("_bacteria") { return .bacterial }
    if lower.contains("_virus") { return .viral }
    return .none
  }

  /// The patient a file belongs to, from its name: `personN` for
  /// `personN_bacteria_M.jpeg` (the same N with bacteria and virus is taken to
  /// be one patient, which can only make the split stricter); `IM-NNNN` or
  /// `NORMAL2-IM-NNNN` for the NORMAL files, whose later numbers count studies
  /// and images of that patient; otherwise the whole file stem.
  public static func patient(fromFileName name: String) -> String {
    let stem = (name as NSString).deletingPathExtension
    if stem.hasPrefix("person"), let underscore = stem.firstIndex(of: "_") {
      return String(stem[..<underscore])
    }
    if let range = stem.range(of: "IM-") {
      let digits = stem[range.upperBound...].prefix { $0.isNumber }
      if !digits.isEmpty { return String(stem[..<range.upperBound]) + digits }
    }
    return stem
  }

  /// Decodes, resizes and writes every image under `directory` into `output`.
  ///
  /// Images are processed in blocks; within a block, `options.threads` workers
  /// decode in parallel into fixed slots, so the file does not depend on
  /// scheduling. `progress(done, total, seconds)` is called after each block.
  public static func run(directory: String, output: AtomicOutput, options: ImageIngestOptions,
                         progress: (Int, Int, Double) -> Void = { _, _, _ in }) throws -> IngestSummary {
    precondition(options.size > 0, "image size \(options.size)")
    let start = Date()
    let (classes, sources) = try scan(directory)
    let n = sources.count
    let size = options.size
    let strata = sources.map { $0.classIndex * 3 + Int($0.subtype.rawValue) }
    let splits = SplitPlanner.grouped(groups: sources.map(\.patient), strata: strata, seed: options.seed,
                                      validationFraction: options.validationFraction, testFraction: options.testFraction)

    let file = try HDF5File(creatingAt: output.temporaryPath, displayPath: output.path)
    let chunk = options.imageChunk(count: n)
    // Released before the file closes: an open dataset keeps HDF5's file
    // (and its write lock) open past `close()`.
    var images: HDF5Dataset? = try file.createDataset("/images", type: .uint8, shape: [n, size, size], chunk: chunk)

    var fileHashes = [String](repeating: "", count: n)
    var pixelSum: UInt64 = 0, pixelSquares: UInt64 = 0, trainPixels: UInt64 = 0
    let blockSize = 256
    let pixelsPerImage = size * size
    let workers = max(1, options.threads)
    var blockStart = 0
    while blockStart < n {
      let count = min(blockSize, n - blockStart)
      var block = [UInt8](repeating: 0, count: count * pixelsPerImage)
      var blockHashes = [String](repeating: "", count: count)
      var blockError: (any Error)? = nil
      block.withUnsafeMutableBufferPointer { pixels in
        blockHashes.withUnsafeMutableBufferPointer { hashes in
          let failures = FailureSlots(count: workers)
          let base = blockStart
          nonisolated(unsafe) let pixels = pixels, hashes = hashes
          DispatchQueue.concurrentPerform(iterations: workers) { worker in
            let decoder = ImageDecoder()
            var i = worker
            while i < count {
              let path = directory + "/" + sources[base + i].relativePath
              do {
                let bytes = try readFileBytes(path)
                let image = try bytes.withUnsafeBytes { raw throws(ImageError) in
                  hashes[i] = sha256Hex(raw)
                  return try decoder.decode(raw, path: path, minimumSide: size)
                }
                let resized = image.resized(width: size, height: size)
                resized.pixels.withUnsafeBufferPointer { src in
                  (pixels.baseAddress! + i * pixelsPerImage).update(from: src.baseAddress!, count: pixelsPerImage)
                }
              } catch {
                failures.record(worker: worker, index: i, error)
                return
              }
              i += workers
            }
          }
          // Report the first failing file in row order, whichever thread saw it.
          blockError = failures.first
        }
      }
      if let blockError { throw blockError }
      try images!.writeRows(start: blockStart, rowCount: count, block)
      for i in 0..<count where splits[blockStart + i] == .train {
        var s: UInt64 = 0, q: UInt64 = 0
        for p in block[(i * pixelsPerImage)..<((i + 1) * pixelsPerImage)] {
          let v = UInt64(p)
          s &+= v
          q &+= v * v
        }
        pixelSum &+= s
        pixelSquares &+= q
        trainPixels &+= UInt64(pixelsPerImage)
      }
      for i in 0..<count { fileHashes[blockStart + i] = blockHashes[i] }
      blockStart += count
      progress(blockStart, n, Date().timeIntervalSince(start))
    }

    let mean = trainPixels > 0 ? Double(pixelSum) / Double(trainPixels) : 0
    let variance = trainPixels > 0 ? max(0, Double(pixelSquares) / Double(trainPixels) - mean * mean) : 0
    try file.write("/labels", sources.map { Int32($0.classIndex) })
    try file.write("/subtype", sources.map { $0.subtype.rawValue })
    try file.writeStrings("/patient", sources.map(\.patient))
    try file.write("/split", splits.map(\.rawValue))
    try file.createGroup("/source")
    try file.writeStrings("/source/files", sources.map(\.relativePath))
    try file.writeStrings("/source/sha256", fileHashes)

    let attributes: [(String, HDF5Attribute)] = [
      ("kind", .string("images")),
      ("format_version", .int(1)),
      ("class_names", .strings(classes)),
      ("subtype_names", .strings(Subtype.names)),
      ("split_names", .strings(Split.names)),
      ("size", .int(Int64(size))),
      ("seed", .int(Int64(bitPattern: options.seed))),
      ("val_fraction", .double(options.validationFraction)),
      ("test_fraction", .double(options.testFraction)),
      ("resize", .string("area (shrink) / bilinear (grow), aspect not kept")),
      ("grayscale", .string("JPEG luma (BT.601); PNG via libpng")),
      ("pixel_mean", .double(mean / 255)),
      ("pixel_std", .double(variance.squareRoot() / 255)),
      ("tandem_version", .string(options.tandemVersion)),
      ("ingested_at", .string(ISO8601DateFormatter().string(from: Date()))),
      ("source_root", .string(directory)),
    ]
    for (name, value) in attributes { try file.setAttribute(name, value) }
    images = nil
    try file.close()
    let hash = try DatasetFinisher.sealAndCommit(output)
    return IngestSummary(path: output.path, count: n, seconds: Date().timeIntervalSince(start), contentSHA256: hash)
  }
}

/// The first error per worker, so the caller can report the lowest row.
final class FailureSlots: @unchecked Sendable {
  private var slots: [(index: Int, error: any Error)?]
  private let lock = NSLock()

  init(count: Int) { slots = Array(repeating: nil, count: count) }

  func record(worker: Int, index: Int, _ error: any Error) {
    lock.lock(); defer { lock.unlock() }
    slots[worker] = (index, error)
  }

  var first: (any Error)? {
    lock.lock(); defer { lock.unlock() }
    return slots.compactMap { $0 }.min { $0.index < $1.index }?.error
  }
}

/// The last steps every ingest shares.
enum DatasetFinisher {
  /// Computes the content hash of the closed temporary file, stores it as
  /// the `content_sha256` attribute, and renames the file into place.
  static func sealAndCommit(_ output: AtomicOutput) throws -> String {
    let hash = try ContentHash.compute(path: output.temporaryPath, displayPath: output.path)
    let file = try HDF5File(updatingAt: output.temporaryPath, displayPath: output.path)
    try file.setAttribute(ContentHash.attributeName, .string(hash))
    try file.close()
    try output.commit()
    return hash
  }
}
