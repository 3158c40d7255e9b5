import Foundation
import CHDF5
import TandemSystem

/// The element types Tandem writes. Numbers go to disk little-endian whatever
/// the machine; strings are variable-length UTF-8, which h5py reads as `bytes`
/// in datasets (`.asstr()` gives `str`) and as `str` in attributes.
public enum HDF5ElementType: String, Sendable {
  case uint8 = "u8", int32 = "i32", int64 = "i64", float32 = "f32", float64 = "f64", string = "str"

  var fileType: hid_t {
    switch self {
    case .uint8: CHDF5_std_u8le()
    case .int32: CHDF5_std_i32le()
    case .int64: CHDF5_std_i64le()
    case .float32: CHDF5_ieee_f32le()
    case .float64: CHDF5_ieee_f64le()
    case .string: fatalError("string types are built by makeStringType")
    }
  }

  var nativeType: hid_t {
    switch self {
    case .uint8: CHDF5_native_uint8()
    case .int32: CHDF5_native_int32()
    case .int64: CHDF5_native_int64()
    case .float32: CHDF5_native_float()
    case .float64: CHDF5_native_double()
    case .string: fatalError("string types are built by makeStringType")
    }
  }

  var byteWidth: Int {
    switch self {
    case .uint8: 1
    case .int32, .float32: 4
    case .int64, .float64: 8
    case .string: 0
    }
  }
}

/// Swift scalars that map to one HDF5 element type.
public protocol HDF5Scalar: BitwiseCopyable {
  static var hdf5ElementType: HDF5ElementType { get }
}
extension UInt8: HDF5Scalar { public static var hdf5ElementType: HDF5ElementType { .uint8 } }
extension Int32: HDF5Scalar { public static var hdf5ElementType: HDF5ElementType { .int32 } }
extension Int64: HDF5Scalar { public static var hdf5ElementType: HDF5ElementType { .int64 } }
extension Float: HDF5Scalar { public static var hdf5ElementType: HDF5ElementType { .float32 } }
extension Double: HDF5Scalar { public static var hdf5ElementType: HDF5ElementType { .float64 } }

/// An attribute value as Tandem writes it: a scalar or a 1-D array.
public enum HDF5Attribute: Equatable, Sendable {
  case string(String)
  case strings([String])
  case int(Int64)
  case ints([Int64])
  case double(Double)
  case doubles([Double])

  public var stringValue: String? { if case .string(let s) = self { s } else { nil } }
  public var intValue: Int64? { if case .int(let v) = self { v } else { nil } }
  public var doubleValue: Double? {
    switch self {
    case .double(let v): v
    case .int(let v): Double(v)
    default: nil
    }
  }
  public var stringsValue: [String]? {
    switch self {
    case .strings(let v): v
    case .string(let v): [v]
    default: nil
    }
  }
  public var doublesValue: [Double]? {
    switch self {
    case .doubles(let v): v
    case .double(let v): [v]
    case .ints(let v): v.map(Double.init)
    default: nil
    }
  }
}

/// Variable-length UTF-8 string type; the caller closes it.
func makeStringType(_ path: String) throws(HDF5Error) -> hid_t {
  let type = try check(H5Tcopy(CHDF5_c_s1()), path, "cannot create string type")
  H5Tset_size(type, CHDF5_variable())
  H5Tset_cset(type, H5T_CSET_UTF8)
  return type
}

/// An open HDF5 file, closed when the object goes away (or by `close()`,
/// which reports errors a writer must see).
///
/// Wraps every HDF5 call that TandemData makes; `HDF5Dataset` holds the
/// per-dataset ones. Errors name `displayPath`, which for a file being written
/// under a temporary name is the final output path the user asked for.
public final class HDF5File {
  public let displayPath: String
  let id: hid_t
  private var isOpen = true
  /// The content hash `HDF5Isolation` computed reading this file in a child
  /// process before it was opened; nil for files not checked.
  let isolatedContentHash: String?

  /// Opens an existing file read-only. The corresponding C function is `H5Fopen`.
  public init(readingAt path: String, displayPath: String? = nil) throws(HDF5Error) {
    silenceHDF5Errors()
    let shown = displayPath ?? path
    self.displayPath = shown
    do { try FileSystem.checkReadable(path) } catch { throw hdf5Failure(shown, "cannot open: \(error)") }
    // HDF5 would block forever opening a FIFO.
    guard let status = FileSystem.status(path), status.kind == .regular else { throw hdf5Failure(shown, "not a regular file") }
    isolatedContentHash = try HDF5Isolation.check(path: path, shown: shown, status: status)
    guard H5Fis_hdf5(path) > 0 else { throw hdf5Failure(shown, "not an HDF5 file") }
    id = try check(H5Fopen(path, CHDF5_acc_rdonly(), CHDF5_default()), shown, "cannot open as HDF5")
  }

  /// Opens an existing file to add to it. The corresponding C function is `H5Fopen`.
  public init(updatingAt path: String, displayPath: String) throws(HDF5Error) {
    silenceHDF5Errors()
    self.displayPath = displayPath
    isolatedContentHash = nil
    id = try check(H5Fopen(path, CHDF5_acc_rdwr(), CHDF5_default()), displayPath, "cannot open for writing")
  }

  /// Creates (truncating) a file at `path`; errors name `displayPath`.
  /// The corresponding C function is `H5Fcreate`.
  public init(creatingAt path: String, displayPath: String) throws(HDF5Error) {
    silenceHDF5Errors()
    self.displayPath = displayPath
    isolatedContentHash = nil
    id = try check(H5Fcreate(path, CHDF5_acc_trunc(), CHDF5_default(), CHDF5_default()),
                   displayPath, "cannot create HDF5 file")
  }

  deinit { if isOpen { H5Fclose(id) } }

  /// Flushes and closes the file, reporting a failed write. The corresponding C function is `H5Fclose`.
  public func close() throws(HDF5Error) {
    guard isOpen else { return }
    isOpen = false
    try check(H5Fclose(id), displayPath, "cannot close (disk full?)")
  }

  // MARK: Writing

  public func createGroup(_ name: String) throws(HDF5Error) {
    let group = try check(H5Gcreate2(id, name, CHDF5_default(), CHDF5_default(), CHDF5_default()),
                          displayPath, "\(name): cannot create group")
    H5Gclose(group)
  }

  /// Creates a numeric dataset of `shape`, chunked by `chunk` when given
  /// (contiguous otherwise). Object times are not tracked, so writing the same
  /// data twice gives the same bytes.
  public func createDataset(_ name: String, type: HDF5ElementType, shape: [Int],
                            chunk: [Int]? = nil) throws(HDF5Error) -> HDF5Dataset {
    precondition(type != .string, "use writeStrings for string datasets")
    let dims = shape.map { hsize_t($0) }
    let space = try check(H5Screate_simple(Int32(dims.count), dims, nil), displayPath, "\(name): cannot create dataspace")
    defer { H5Sclose(space) }
    let dcpl = try check(H5Pcreate(CHDF5_dataset_create()), displayPath, "\(name): cannot create property list")
    defer { H5Pclose(dcpl) }
    H5Pset_obj_track_times(dcpl, false)
    if let chunk {
      precondition(chunk.count == shape.count && chunk.allSatisfy { $0 > 0 }, "chunk \(chunk) for shape \(shape)")
      let chunkDims = chunk.map { hsize_t($0) }
      try check(H5Pset_chunk(dcpl, Int32(chunkDims.count), chunkDims), displayPath, "\(name): cannot set chunk \(chunk)")
    }
    let dataset = try check(H5Dcreate2(id, name, type.fileType, space, CHDF5_default(), dcpl, CHDF5_default()),
                            displayPath, "\(name): cannot create dataset")
    return HDF5Dataset(id: dataset, name: name, path: displayPath, shape: shape, type: type)
  }

  /// Writes a whole numeric dataset in one call.
  public func write<T: HDF5Scalar>(_ name: String, _ values: [T], shape: [Int]? = nil) throws(HDF5Error) {
    let shape = shape ?? [values.count]
    precondition(shape.reduce(1, *) == values.count, "\(name): shape \(shape) for \(values.count) values")
    let dataset = try createDataset(name, type: T.hdf5ElementType, shape: shape)
    try dataset.writeRows(start: 0, rowCount: shape.first ?? 1, values)
  }

  /// Writes a 1-D dataset of variable-length UTF-8 strings.
  public func writeStrings(_ name: String, _ values: [String]) throws(HDF5Error) {
    let type = try makeStringType(displayPath)
    defer { H5Tclose(type) }
    let dims = [hsize_t(values.count)]
    let space = try check(H5Screate_simple(1, dims, nil), displayPath, "\(name): cannot create dataspace")
    defer { H5Sclose(space) }
    let dcpl = try check(H5Pcreate(CHDF5_dataset_create()), displayPath, "\(name): cannot create property list")
    defer { H5Pclose(dcpl) }
    H5Pset_obj_track_times(dcpl, false)
    let dataset = try check(H5Dcreate2(id, name, type, space, CHDF5_default(), dcpl, CHDF5_default()),
                            displayPath, "\(name): cannot create dataset")
    defer { H5Dclose(dataset) }
    let status = withCStringArray(values) { pointers in
      H5Dwrite(dataset, type, CHDF5_all(), CHDF5_all(), CHDF5_default(), pointers.baseAddress)
    }
    try check(status, displayPath, "\(name): cannot write strings")
  }

  /// Sets attribute `name` on the object at `object` (a group or dataset path).
  public func setAttribute(_ name: String, _ value: HDF5Attribute, on object: String = "/") throws(HDF5Error) {
    let where_ = "\(object == "/" ? "" : object)@\(name)"
    let scalar: Bool
    let count: Int
    switch value {
    case .string, .int, .double: scalar = true; count = 1
    case .strings(let v): scalar = false; count = v.count
    case .ints(let v): scalar = false; count = v.count
    case .doubles(let v): scalar = false; count = v.count
    }
    let space: hid_t
    if scalar {
      space = try check(H5Screate(H5S_SCALAR), displayPath, "\(where_): cannot create dataspace")
    } else {
      let dims = [hsize_t(count)]
      space = try check(H5Screate_simple(1, dims, nil), displayPath, "\(where_): cannot create dataspace")
    }
    defer { H5Sclose(space) }
    let fileType: hid_t
    let memoryType: hid_t
    var ownedType: hid_t = -1
    switch value {
    case .string, .strings:
      ownedType = try makeStringType(displayPath)
      fileType = ownedType; memoryType = ownedType
    case .int, .ints: fileType = CHDF5_std_i64le(); memoryType = CHDF5_native_int64()
    case .double, .doubles: fileType = CHDF5_ieee_f64le(); memoryType = CHDF5_native_double()
    }
    defer { if ownedType >= 0 { H5Tclose(ownedType) } }
    let attribute = try check(H5Acreate_by_name(id, object, name, fileType, space, CHDF5_default(),
                                                CHDF5_default(), CHDF5_default()),
                              displayPath, "\(where_): cannot create attribute")
    defer { H5Aclose(attribute) }
    let status: herr_t
    switch value {
    case .string(let s): status = withCStringArray([s]) { H5Awrite(attribute, memoryType, $0.baseAddress) }
    case .strings(let v): status = withCStringArray(v) { H5Awrite(attribute, memoryType, $0.baseAddress) }
    case .int(let v): status = withUnsafePointer(to: v) { H5Awrite(attribute, memoryType, $0) }
    case .ints(let v): status = v.withUnsafeBufferPointer { H5Awrite(attribute, memoryType, $0.baseAddress) }
    case .double(let v): status = withUnsafePointer(to: v) { H5Awrite(attribute, memoryType, $0) }
    case .doubles(let v): status = v.withUnsafeBufferPointer { H5Awrite(attribute, memoryType, $0.baseAddress) }
    }
    try check(status, displayPath, "\(where_): cannot write attribute")
  }

  // MARK: Reading

  /// Opens the dataset at `name`; `chunkCacheBytes` sizes its chunk cache
  /// (0 turns it off: batch readers touch each chunk once).
  public func dataset(_ name: String, chunkCacheBytes: Int? = nil) throws(HDF5Error) -> HDF5Dataset {
    silenceHDF5Errors()
    guard H5Lexists(id, name, CHDF5_default()) > 0 else { throw hdf5Failure(displayPath, "\(name): no such dataset") }
    let dapl = try check(H5Pcreate(CHDF5_dataset_access()), displayPath, "\(name): cannot create property list")
    defer { H5Pclose(dapl) }
    if let chunkCacheBytes {
      H5Pset_chunk_cache(dapl, chunkCacheBytes == 0 ? 0 : 521, chunkCacheBytes, 1.0)
    }
    let dataset = try check(H5Dopen2(id, name, dapl), displayPath, "\(name): cannot open dataset")
    let space = H5Dget_space(dataset)
    defer { H5Sclose(space) }
    let rank = Int(H5Sget_simple_extent_ndims(space))
    var dims = [hsize_t](repeating: 0, count: max(rank, 1))
    H5Sget_simple_extent_dims(space, &dims, nil)
    let type = H5Dget_type(dataset)
    defer { H5Tclose(type) }
    guard let elementType = HDF5Dataset.elementType(of: type) else {
      H5Dclose(dataset)
      throw hdf5Failure(displayPath, "\(name): element type not one Tandem writes")
    }
    return HDF5Dataset(id: dataset, name: name, path: displayPath,
                       shape: dims.prefix(rank).map { Int($0) }, type: elementType)
  }

  public func exists(_ name: String) -> Bool {
    silenceHDF5Errors()
    // H5Lexists fails (rather than answering no) when an intermediate group is missing.
    var prefix = ""
    for part in name.split(separator: "/") {
      prefix += "/" + part
      guard H5Lexists(id, prefix, CHDF5_default()) > 0 else { return false }
    }
    return true
  }

  /// Reads attribute `name` of `object`, or nil when it does not exist.
  public func attribute(_ name: String, on object: String = "/") throws(HDF5Error) -> HDF5Attribute? {
    silenceHDF5Errors()
    let where_ = "\(object == "/" ? "" : object)@\(name)"
    guard H5Aexists_by_name(id, object, name, CHDF5_default()) > 0 else { return nil }
    let attribute = try check(H5Aopen_by_name(id, object, name, CHDF5_default(), CHDF5_default()),
                              displayPath, "\(where_): cannot open attribute")
    defer { H5Aclose(attribute) }
    let space = H5Aget_space(attribute)
    defer { H5Sclose(space) }
    let rank = H5Sget_simple_extent_ndims(space)
    let count = Int(H5Sget_simple_extent_npoints(space))
    let type = H5Aget_type(attribute)
    defer { H5Tclose(type) }
    switch H5Tget_class(type) {
    case H5T_STRING:
      let memoryType = try makeStringType(displayPath)
      defer { H5Tclose(memoryType) }
      guard H5Tis_variable_str(type) > 0 else { throw hdf5Failure(displayPath, "\(where_): fixed-length string attribute") }
      var pointers = [UnsafeMutablePointer<CChar>?](repeating: nil, count: count)
      try check(H5Aread(attribute, memoryType, &pointers), displayPath, "\(where_): cannot read attribute")
      let strings = pointers.map { p -> String in
        defer { if let p { H5free_memory(p) } }
        return p.map { String(cString: $0) } ?? ""
      }
      return rank == 0 ? .string(strings.first ?? "") : .strings(strings)
    case H5T_INTEGER:
      var values = [Int64](repeating: 0, count: count)
      try check(H5Aread(attribute, CHDF5_native_int64(), &values), displayPath, "\(where_): cannot read attribute")
      return rank == 0 ? .int(values[0]) : .ints(values)
    case H5T_FLOAT:
      var values = [Double](repeating: 0, count: count)
      try check(H5Aread(attribute, CHDF5_native_double(), &values), displayPath, "\(where_): cannot read attribute")
      return rank == 0 ? .double(values[0]) : .doubles(values)
    default:
      throw hdf5Failure(displayPath, "\(where_): attribute type not one Tandem writes")
    }
  }

  /// Like `attribute(_:on:)`, but a missing attribute is an error naming it.
  public func requiredAttribute(_ name: String, on object: String = "/") throws(HDF5Error) -> HDF5Attribute {
    guard let value = try attribute(name, on: object) else {
      throw hdf5Failure(displayPath, "\(object == "/" ? "" : object)@\(name): missing attribute")
    }
    return value
  }

  public enum ObjectKind: Sendable { case group, dataset, other }

  /// The link names in `group`, in byte order. The corresponding C function is `H5Literate`.
  public func memberNames(of group: String) throws(HDF5Error) -> [String] {
    silenceHDF5Errors()
    let groupID = try check(H5Gopen2(id, group, CHDF5_default()), displayPath, "\(group): cannot open group")
    defer { H5Gclose(groupID) }
    let box = NameCollector()
    var index: hsize_t = 0
    let status = withExtendedLifetime(box) {
      H5Literate(groupID, H5_INDEX_NAME, H5_ITER_INC, &index, { _, name, _, context in
        Unmanaged<NameCollector>.fromOpaque(context!).takeUnretainedValue().names.append(String(cString: name!))
        return 0
      }, Unmanaged.passUnretained(box).toOpaque())
    }
    try check(status, displayPath, "\(group): cannot list members")
    return box.names.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
  }

  /// The attribute names of `object`, in byte order. The corresponding C function is `H5Aiterate2`.
  public func attributeNames(of object: String) throws(HDF5Error) -> [String] {
    silenceHDF5Errors()
    let objectID = try check(H5Oopen(id, object, CHDF5_default()), displayPath, "\(object): cannot open object")
    defer { H5Oclose(objectID) }
    let box = NameCollector()
    var index: hsize_t = 0
    let status = withExtendedLifetime(box) {
      H5Aiterate2(objectID, H5_INDEX_NAME, H5_ITER_INC, &index, { _, name, _, context in
        Unmanaged<NameCollector>.fromOpaque(context!).takeUnretainedValue().names.append(String(cString: name!))
        return 0
      }, Unmanaged.passUnretained(box).toOpaque())
    }
    try check(status, displayPath, "\(object): cannot list attributes")
    return box.names.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
  }

  public func kind(of object: String) throws(HDF5Error) -> ObjectKind {
    let objectID = try check(H5Oopen(id, object, CHDF5_default()), displayPath, "\(object): cannot open object")
    defer { H5Oclose(objectID) }
    switch H5Iget_type(objectID) {
    case H5I_GROUP: return .group
    case H5I_DATASET: return .dataset
    default: return .other
    }
  }
}

private final class NameCollector {
  var names: [String] = []
}

/// Calls `body` with a buffer of C string pointers that live for the call.
func withCStringArray<R>(_ strings: [String], _ body: (UnsafeBufferPointer<UnsafePointer<CChar>?>) -> R) -> R {
  let owned = strings.map { strdup($0) }
  defer { owned.forEach { free($0) } }
  let pointers = owned.map { UnsafePointer<CChar>($0) }
  return pointers.withUnsafeBufferPointer(body)
}

/// An open dataset: rows are indexed along the first (outermost) dimension.
public final class HDF5Dataset {
  public let name: String
  public let shape: [Int]
  public let elementType: HDF5ElementType
  let id: hid_t
  let path: String

  init(id: hid_t, name: String, path: String, shape: [Int], type: HDF5ElementType) {
    self.id = id
    self.name = name
    self.path = path
    self.shape = shape
    self.elementType = type
  }

  deinit { H5Dclose(id) }

  /// Elements in one row (the product of all dimensions but the first).
  public var rowElements: Int { shape.dropFirst().reduce(1, *) }
  public var rowCount: Int { shape.first ?? 1 }

  static func elementType(of type: hid_t) -> HDF5ElementType? {
    let size = H5Tget_size(type)
    switch H5Tget_class(type) {
    case H5T_STRING: return .string
    case H5T_INTEGER:
      let signed = H5Tget_sign(type) == H5T_SGN_2
      switch (size, signed) {
      case (1, false): return .uint8
      case (4, true): return .int32
      case (8, true): return .int64
      default: return nil
      }
    case H5T_FLOAT:
      return size == 4 ? .float32 : size == 8 ? .float64 : nil
    default: return nil
    }
  }

  /// Layout facts for reports: chunk shape, or nil for a contiguous dataset.
  public var chunkShape: [Int]? {
    let dcpl = H5Dget_create_plist(id)
    defer { H5Pclose(dcpl) }
    guard H5Pget_layout(dcpl) == H5D_CHUNKED else { return nil }
    var dims = [hsize_t](repeating: 0, count: shape.count)
    H5Pget_chunk(dcpl, Int32(dims.count), &dims)
    return dims.map { Int($0) }
  }

  /// Writes `rowCount` rows starting at row `start` from `values`.
  public func writeRows<T: HDF5Scalar>(start: Int, rowCount: Int, _ values: [T]) throws(HDF5Error) {
    let result = values.withUnsafeBufferPointer { buffer in
      Result { () throws(HDF5Error) in
        try writeRows(start: start, rowCount: rowCount, UnsafeRawPointer(buffer.baseAddress), elementCount: buffer.count,
                      type: T.hdf5ElementType)
      }
    }
    try result.get()
  }

  func writeRows(start: Int, rowCount: Int, _ pointer: UnsafeRawPointer?, elementCount: Int,
                 type: HDF5ElementType) throws(HDF5Error) {
    precondition(type == elementType, "\(name): writing \(type) into \(elementType)")
    precondition(elementCount == rowCount * rowElements, "\(name): \(elementCount) values for \(rowCount) rows")
    guard rowCount > 0 else { return }
    let fileSpace = H5Dget_space(id)
    defer { H5Sclose(fileSpace) }
    var startDims = [hsize_t](repeating: 0, count: max(shape.count, 1))
    var countDims = shape.map { hsize_t($0) }
    if shape.isEmpty { countDims = [1] }
    startDims[0] = hsize_t(start)
    countDims[0] = hsize_t(rowCount)
    if !shape.isEmpty {
      try check(H5Sselect_hyperslab(fileSpace, H5S_SELECT_SET, startDims, nil, countDims, nil),
                path, "\(name): cannot select rows \(start)..<\(start + rowCount)")
    }
    let memorySpace = try check(H5Screate_simple(Int32(countDims.count), countDims, nil), path, "\(name): cannot create dataspace")
    defer { H5Sclose(memorySpace) }
    try check(H5Dwrite(id, type.nativeType, memorySpace, fileSpace, CHDF5_default(), pointer),
              path, "\(name): cannot write rows \(start)..<\(start + rowCount)")
  }

  /// Reads the whole dataset.
  public func readAll<T: HDF5Scalar>(as _: T.Type = T.self) throws(HDF5Error) -> [T] {
    guard T.hdf5ElementType == elementType else {
      throw hdf5Failure(path, "\(name): holds \(elementType.rawValue), expected \(T.hdf5ElementType.rawValue)")
    }
    let count = shape.reduce(1, *)
    var status: herr_t = 0
    let values = [T](unsafeUninitializedCapacity: count) { buffer, initialized in
      status = H5Dread(id, elementType.nativeType, CHDF5_all(), CHDF5_all(), CHDF5_default(), buffer.baseAddress)
      initialized = count
    }
    try check(status, path, "\(name): cannot read")
    return values
  }

  /// Reads rows `start..<start+count` into `destination` (raw native bytes).
  public func readRows(start: Int, count: Int, into destination: UnsafeMutableRawPointer) throws(HDF5Error) {
    try readRuns([(start, count)], into: destination)
  }

  /// Reads the given runs of rows `(start, count)`, which must be sorted and
  /// disjoint, into `destination` back to back, one `H5Dread` per run.
  ///
  /// One read over a hyperslab union of all runs is the obvious alternative,
  /// but HDF5 1.10 handles such irregular selections on chunked datasets
  /// slowly: a random batch of 64 images took 40 to 50 ms that way against
  /// 0.5 ms with one read per run.
  func readRuns(_ runs: [(start: Int, count: Int)], into destination: UnsafeMutableRawPointer) throws(HDF5Error) {
    guard !runs.isEmpty else { return }
    let fileSpace = H5Dget_space(id)
    defer { H5Sclose(fileSpace) }
    let rowBytes = rowElements * elementType.byteWidth
    var startDims = [hsize_t](repeating: 0, count: shape.count)
    var countDims = shape.map { hsize_t($0) }
    var offset = 0
    for run in runs {
      precondition(run.start >= 0 && run.count > 0 && run.start + run.count <= rowCount,
                   "\(name): rows \(run.start)..<\(run.start + run.count) outside 0..<\(rowCount)")
      startDims[0] = hsize_t(run.start)
      countDims[0] = hsize_t(run.count)
      try check(H5Sselect_hyperslab(fileSpace, H5S_SELECT_SET, startDims, nil, countDims, nil),
                path, "\(name): cannot select rows \(run.start)..<\(run.start + run.count)")
      let memorySpace = try check(H5Screate_simple(Int32(countDims.count), countDims, nil), path,
                                  "\(name): cannot create dataspace")
      defer { H5Sclose(memorySpace) }
      try check(H5Dread(id, elementType.nativeType, memorySpace, fileSpace, CHDF5_default(), destination + offset),
                path, "\(name): cannot read rows \(run.start)..<\(run.start + run.count)")
      offset += run.count * rowBytes
    }
  }

  /// Reads a 1-D string dataset.
  public func readStrings() throws(HDF5Error) -> [String] {
    guard elementType == .string else { throw hdf5Failure(path, "\(name): holds \(elementType.rawValue), expected str") }
    let type = H5Dget_type(id)
    defer { H5Tclose(type) }
    guard H5Tis_variable_str(type) > 0 else { throw hdf5Failure(path, "\(name): fixed-length strings") }
    let memoryType = try makeStringType(path)
    defer { H5Tclose(memoryType) }
    let count = shape.reduce(1, *)
    var pointers = [UnsafeMutablePointer<CChar>?](repeating: nil, count: count)
    try check(H5Dread(id, memoryType, CHDF5_all(), CHDF5_all(), CHDF5_default(), &pointers), path, "\(name): cannot read strings")
    return pointers.map { p in
      defer { if let p { H5free_memory(p) } }
      return p.map { String(cString: $0) } ?? ""
    }
  }
}
