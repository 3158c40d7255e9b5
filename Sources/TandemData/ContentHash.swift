import Crypto
import Foundation

/// SHA-256 over the logical contents of a Tandem HDF5 file, not its bytes:
/// HDF5 may lay the same data out differently from one write to the next, and
/// the hash must only change when the data does.
///
/// The canonical serialisation, fed to SHA-256 in this order:
///
///     "tandem-content-v1\n"
///     for each object, depth first, members in byte order of their names:
///       "group <path>\n"                                 or
///       "dataset <path> <dtype> <d0>x<d1>...\n" <data>
///       for each attribute in byte order, except the excluded ones:
///         "attr <name> <int|float|str> <scalar|count>\n" <values>
///
/// `<dtype>` is u8, i32, i64, f32, f64 or str. Numeric data and values are
/// little-endian (int attributes as i64, float attributes as f64); each string
/// is its UTF-8 length as a little-endian u64, then its bytes.
///
/// Excluded attributes (`excludedAttributes`) are the hash itself and facts
/// about the ingest run rather than the data: when and with which Tandem
/// version it ran, and where the sources lay (the per-file list and hashes,
/// with paths relative to that root, are included).
public enum ContentHash {
  public static let attributeName = "content_sha256"
  public static let excludedAttributes: Set<String> = [attributeName, "ingested_at", "tandem_version", "source_root"]

  /// Rows per read while hashing a large dataset: bounded memory for any size.
  static let blockBytes = 8 << 20

  /// `readingExcluded` also reads the excluded attributes (without hashing
  /// them), so that every byte the file's metadata points to has been read.
  public static func compute(_ file: HDF5File, readingExcluded: Bool = false) throws(HDF5Error) -> String {
    var hasher = SHA256()
    hasher.update(data: Data("tandem-content-v1\n".utf8))
    try visit("/", file, readingExcluded, &hasher)
    return hexString(hasher.finalize())
  }

  /// Reads `path` and computes its hash.
  public static func compute(path: String, displayPath: String? = nil) throws(HDF5Error) -> String {
    let file = try HDF5File(readingAt: path, displayPath: displayPath)
    // Opening ran the isolated check, which read the file whole and hashed it.
    if let hash = file.isolatedContentHash { return hash }
    return try compute(file)
  }

  private static func visit(_ path: String, _ file: HDF5File, _ readingExcluded: Bool, _ hasher: inout SHA256) throws(HDF5Error) {
    switch try file.kind(of: path) {
    case .group:
      hasher.update(data: Data("group \(path)\n".utf8))
      try hashAttributes(path, file, readingExcluded, &hasher)
      for name in try file.memberNames(of: path) {
        try visit(path == "/" ? "/" + name : path + "/" + name, file, readingExcluded, &hasher)
      }
    case .dataset:
      let dataset = try file.dataset(path, chunkCacheBytes: 0)
      let shape = dataset.shape.map(String.init).joined(separator: "x")
      hasher.update(data: Data("dataset \(path) \(dataset.elementType.rawValue) \(shape)\n".utf8))
      try hashData(dataset, &hasher)
      try hashAttributes(path, file, readingExcluded, &hasher)
    case .other:
      throw hdf5Failure(file.displayPath, "\(path): neither a group nor a dataset")
    }
  }

  private static func hashData(_ dataset: HDF5Dataset, _ hasher: inout SHA256) throws(HDF5Error) {
    if dataset.elementType == .string {
      for string in try dataset.readStrings() { hashString(string, &hasher) }
      return
    }
    let rowBytes = max(1, dataset.rowElements * dataset.elementType.byteWidth)
    if dataset.shape.isEmpty {
      let values: [UInt8] = try readScalarBytes(dataset)
      hasher.update(data: values)
      return
    }
    let rowsPerBlock = max(1, blockBytes / rowBytes)
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: rowsPerBlock * rowBytes, alignment: 16)
    defer { buffer.deallocate() }
    var start = 0
    while start < dataset.rowCount {
      let count = min(rowsPerBlock, dataset.rowCount - start)
      try dataset.readRows(start: start, count: count, into: buffer.baseAddress!)
      hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: buffer[0..<(count * rowBytes)]))
      start += count
    }
  }

  private static func readScalarBytes(_ dataset: HDF5Dataset) throws(HDF5Error) -> [UInt8] {
    switch dataset.elementType {
    case .uint8: return try dataset.readAll(as: UInt8.self)
    case .int32: return try dataset.readAll(as: Int32.self).flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) }
    case .int64: return try dataset.readAll(as: Int64.self).flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) }
    case .float32: return try dataset.readAll(as: Float.self).flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) }
    case .float64: return try dataset.readAll(as: Double.self).flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) }
    case .string: return []
    }
  }

  private static func hashAttributes(_ path: String, _ file: HDF5File, _ readingExcluded: Bool,
                                     _ hasher: inout SHA256) throws(HDF5Error) {
    for name in try file.attributeNames(of: path) {
      if path == "/" && excludedAttributes.contains(name) {
        if readingExcluded { _ = try file.attribute(name, on: path) }
        continue
      }
      guard let value = try file.attribute(name, on: path) else { continue }
      func header(_ kind: String, _ count: Int?) {
        hasher.update(data: Data("attr \(name) \(kind) \(count.map(String.init) ?? "scalar")\n".utf8))
      }
      switch value {
      case .string(let s): header("str", nil); hashString(s, &hasher)
      case .strings(let v): header("str", v.count); v.forEach { hashString($0, &hasher) }
      case .int(let i): header("int", nil); hashInt(UInt64(bitPattern: i), &hasher)
      case .ints(let v): header("int", v.count); v.forEach { hashInt(UInt64(bitPattern: $0), &hasher) }
      case .double(let d): header("float", nil); hashInt(d.bitPattern, &hasher)
      case .doubles(let v): header("float", v.count); v.forEach { hashInt($0.bitPattern, &hasher) }
      }
    }
  }

  private static func hashInt(_ value: UInt64, _ hasher: inout SHA256) {
    withUnsafeBytes(of: value.littleEndian) { hasher.update(bufferPointer: $0) }
  }

  private static func hashString(_ string: String, _ hasher: inout SHA256) {
    let bytes = Array(string.utf8)
    hashInt(UInt64(bytes.count), &hasher)
    hasher.update(data: bytes)
  }
}

/// Hex SHA-256 of a byte buffer (per-source-file hashes).
func sha256Hex(_ bytes: UnsafeRawBufferPointer) -> String {
  hexString(SHA256.hash(data: bytes))
}

/// Lower-case hex of a digest.
public func hexString<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 {
  let digits = Array("0123456789abcdef".utf8)
  var out: [UInt8] = []
  for byte in digest {
    out.append(digits[Int(byte >> 4)])
    out.append(digits[Int(byte & 15)])
  }
  return String(decoding: out, as: UTF8.self)
}
