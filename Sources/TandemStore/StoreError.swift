/// Bad or missing input in the store: a snapshot id, a stored file whose
/// contents no longer match their hash, a registry row. One line that names
/// the file (or the id) first: `store/datasets/3f…e1.h5: content hash is …`.
public struct StoreError: Error, CustomStringConvertible, Sendable {
  public let path: String
  public let message: String

  public init(path: String, message: String) {
    self.path = path
    self.message = message
  }

  public var description: String { "\(path): \(message)" }
}
