import Foundation
import TandemData
import TandemSystem

/// The store's file writes, through TandemData's one atomic writer
/// (`AtomicOutput`: temporary name, fsync, rename, fsync of the directory),
/// with its errors as `StoreError`. Stored datasets, models and snapshots are
/// made read-only (0o444) as they are renamed into place.
enum StoreFiles {
  static func write(_ data: Data, to path: String, mode: mode_t? = nil) throws(StoreError) {
    do { try AtomicFile.write(data, to: path, mode: mode) } catch { throw StoreError(path: error.path, message: error.message) }
  }

  static func copy(from source: String, to path: String, mode: mode_t? = nil) throws(StoreError) {
    do { try AtomicFile.copy(from: source, to: path, mode: mode) } catch { throw StoreError(path: error.path, message: error.message) }
  }

  static func makeDirectory(_ path: String) throws(StoreError) {
    do {
      try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    } catch {
      throw StoreError(path: path, message: "cannot create directory: \(error.localizedDescription)")
    }
  }

  /// The names in `directory` (none when it does not exist).
  static func entries(of directory: String) throws(StoreError) -> [String] {
    do { return try FileSystem.entries(of: directory) } catch { throw StoreError(path: directory, message: "cannot list: \(error)") }
  }
}
