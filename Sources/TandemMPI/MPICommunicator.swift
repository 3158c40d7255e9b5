import CMPI
import Foundation
import TandemDistributed
import TandemTensor

/// `MPI_COMM_WORLD` as a `Communicator`. Created only by `MPIWorld.run`.
public final class MPICommunicator: Communicator {
  public let rank: Int
  public let worldSize: Int
  private let comm: MPI_Comm

  init() throws(MPIError) {
    comm = CMPI_comm_world()
    try check(MPI_Comm_set_errhandler(comm, CMPI_errors_return()), "MPI_Comm_set_errhandler")
    var r: Int32 = 0, s: Int32 = 0
    try check(MPI_Comm_rank(comm, &r), "MPI_Comm_rank")
    try check(MPI_Comm_size(comm, &s), "MPI_Comm_size")
    rank = Int(r)
    worldSize = Int(s)
  }

  /// This rank's host name. The corresponding C function is `MPI_Get_processor_name`.
  public var processorName: String {
    var text = [CChar](repeating: 0, count: Int(CMPI_max_processor_name()) + 1)
    var length: Int32 = 0
    MPI_Get_processor_name(&text, &length)
    return String(decoding: text.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
  }

  /// The MPI library's version string. The corresponding C function is `MPI_Get_library_version`.
  public static var libraryVersion: String {
    var text = [CChar](repeating: 0, count: 8192)
    var length: Int32 = 0
    MPI_Get_library_version(&text, &length)
    let full = String(decoding: text.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    return full.split(separator: ",").first.map(String.init) ?? full
  }

  /// The corresponding C function is `MPI_Allreduce` (in place).
  public func allreduce<T: CollectiveScalar>(_ buffer: inout [T], _ operation: ReduceOperation) throws {
    let count = Int32(buffer.count)
    let type = Self.datatype(T.self), op = Self.op(operation)
    let code = buffer.withUnsafeMutableBytes { bytes in
      MPI_Allreduce(CMPI_in_place(), bytes.baseAddress, count, type, op, comm)
    }
    try check(code, "MPI_Allreduce")
  }

  /// The corresponding C function is `MPI_Bcast`.
  public func broadcast<T: CollectiveScalar>(_ buffer: inout [T], root: Int) throws {
    invariant(root >= 0 && root < worldSize, "broadcast root \(root) outside 0..<\(worldSize)")
    let count = Int32(buffer.count)
    let type = Self.datatype(T.self)
    let code = buffer.withUnsafeMutableBytes { bytes in
      MPI_Bcast(bytes.baseAddress, count, type, Int32(root), comm)
    }
    try check(code, "MPI_Bcast")
  }

  /// The corresponding C function is `MPI_Barrier`.
  public func barrier() throws {
    try check(MPI_Barrier(comm), "MPI_Barrier")
  }

  /// Ends every rank of the job. The corresponding C function is `MPI_Abort`.
  public func abort(code: Int32) -> Never {
    MPI_Abort(comm, code)
    _exit(code)
  }

  private static func datatype<T>(_ type: T.Type) -> MPI_Datatype {
    switch type {
    case is Float.Type: return CMPI_float()
    case is Double.Type: return CMPI_double()
    case is Int64.Type: return CMPI_int64()
    case is UInt8.Type: return CMPI_uint8()
    default: fatalError("no MPI datatype for \(type)")
    }
  }

  private static func op(_ operation: ReduceOperation) -> MPI_Op {
    switch operation {
    case .sum: return CMPI_sum()
    case .max: return CMPI_max()
    case .min: return CMPI_min()
    }
  }
}
