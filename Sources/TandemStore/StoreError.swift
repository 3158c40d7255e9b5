import TandemData

/// Bad or missing input in the store: a snapshot id, a stored file whose
/// contents no longer match their hash, a registry row. One line that names
/// the file (or the id) first: `store/datasets/3f…e1.h5: content hash is …`.
public enum StoreFailure: FileErrorKind {}
public typealias StoreError = FileError<StoreFailure>
