/// One line about one file (or other named input): `path: message`, e.g.
/// `churn.csv: line 12: 20 fields, the header has 21`. Each layer has its own
/// kind (`DataError`, `ImageError`, `HDF5Error`, `StoreError`), so callers can
/// tell them apart and typed throws stay precise, while the shape is
/// defined once.
public struct FileError<Kind: FileErrorKind>: Error, CustomStringConvertible, Sendable {
  public let path: String
  public let message: String

  public init(path: String, message: String) {
    self.path = path
    self.message = message
  }

  public var description: String { "\(path): \(message)" }
}

/// Marks a layer's kind of `FileError`.
public protocol FileErrorKind: Sendable {}
