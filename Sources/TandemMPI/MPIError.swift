import CMPI

/// A failed MPI call, with MPI's own description of the error.
public struct MPIError: Error, CustomStringConvertible {
  public let function: String
  public let code: Int32
  public let message: String

  public var description: String { "\(function) failed: \(message) (MPI error \(code))" }
}

/// Throws unless `code` is `MPI_SUCCESS`. Needs `MPI_ERRORS_RETURN` on the
/// communicator; with MPI's default handler, errors abort before we see them.
@inline(__always)
func check(_ code: Int32, _ function: @autoclosure () -> String) throws(MPIError) {
  guard code != MPI_SUCCESS else { return }
  var length: Int32 = 0
  var text = [CChar](repeating: 0, count: Int(CMPI_max_error_string()) + 1)
  MPI_Error_string(code, &text, &length)
  let message = String(decoding: text.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
  throw MPIError(function: function(), code: code, message: message)
}
