import Crypto
import Foundation
import TandemData

/// SHA-256 over a model's parameters as named tensors, independent of how a
/// file lays them out (HDF5 may place the same data differently), so two runs
/// that produced the same weights bit for bit have the same hash. Fed in order:
///
///     "tandem-parameters-v1\n"
///     for each tensor, in the given order:
///       "<name> <d0>x<d1>...\n" then its values as little-endian float32
///
/// The order is part of the hash (it is the model's parameter order).
public func parametersSHA256(_ tensors: [(name: String, values: [Float], shape: [Int])]) -> String {
  var hasher = SHA256()
  hasher.update(data: Data("tandem-parameters-v1\n".utf8))
  for tensor in tensors {
    hasher.update(data: Data("\(tensor.name) \(tensor.shape.map(String.init).joined(separator: "x"))\n".utf8))
    #if _endian(little)
    tensor.values.withUnsafeBytes { hasher.update(bufferPointer: $0) }
    #else
    for value in tensor.values { withUnsafeBytes(of: value.bitPattern.littleEndian) { hasher.update(bufferPointer: $0) } }
    #endif
  }
  return hexString(hasher.finalize())
}

/// `parametersSHA256` of a parameter file (`ParameterFile`).
public func parametersSHA256(file path: String) throws -> String {
  parametersSHA256(try ParameterFile.read(path).map { ($0.name, $0.value.scalars, $0.value.shape) })
}
