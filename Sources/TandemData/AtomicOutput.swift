import Foundation
import TandemSystem

/// Bad input or output at the data level (a CSV row, a folder, an output
/// path). One line naming the file, and the line for CSVs:
/// `churn.csv: line 12: 20 fields, the header has 21`.
public enum DataFailure: FileErrorKind {}
public typealias DataError = FileError<DataFailure>

/// An output file written under a temporary name beside its final path and
/// renamed into place only when complete, so a failed or interrupted ingest
/// never leaves a file that looks finished.
///
/// `init` refuses an existing output (unless `replacing`) and creates the
/// temporary file at once, so an unwritable directory fails before any work.
/// If `commit()` is never reached, `deinit` removes the temporary file.
public final class AtomicOutput {
  public let path: String
  public let temporaryPath: String
  private let replacing: Bool
  private let mode: mode_t?
  private var committed = false

  /// Creates the temporary file beside `path`; `mode` (0o444 for the store's
  /// read-only copies) is set at `commit()`, so the file stays writable until then. Without
  /// `replacing`, an existing `path` is an error now and at `commit()`.
  public init(path: String, replacing: Bool, mode: mode_t? = nil) throws(DataError) {
    self.path = path
    self.replacing = replacing
    self.mode = mode
    // Matches the repository's ignore pattern `*.h5.tmp*`.
    temporaryPath = path + ".tmp-\(SystemProcess.id)-\(UInt32.random(in: 0...UInt32.max))"
    if let existing = FileSystem.status(path, followingLinks: false) {
      if existing.kind == .directory { throw DataError(path: path, message: "is a directory") }
      if !replacing { throw DataError(path: path, message: "already exists (pass --force to replace it)") }
    }
    do { _ = try SystemFile(opening: temporaryPath, O_WRONLY | O_CREAT | O_EXCL) } catch {
      throw DataError(path: path, message: "cannot create output in \(Self.directory(of: path)): \(error)")
    }
  }

  deinit {
    if !committed { FileSystem.remove(temporaryPath) }
  }

  static func directory(of path: String) -> String {
    let parent = (path as NSString).deletingLastPathComponent
    return parent.isEmpty ? "." : parent
  }

  /// Flushes the temporary file to disk and gives it its final name.
  public func commit() throws(DataError) {
    do {
      let file = try SystemFile(opening: temporaryPath, O_RDONLY)
      if let mode { try file.setMode(mode) }
      try file.sync()
    } catch {
      throw DataError(path: path, message: error.isMissing ? "temporary file vanished" : "cannot fsync: \(error)")
    }
    if replacing {
      do { try FileSystem.rename(temporaryPath, to: path) } catch {
        throw DataError(path: path, message: "cannot rename into place: \(error)")
      }
    } else {
      // link() fails if the name exists: of two jobs writing the same new
      // output, exactly one wins; the other is told, and nothing is replaced.
      do { try FileSystem.link(temporaryPath, to: path) } catch {
        throw DataError(path: path, message: error.isAlreadyExists
          ? "was created by another job while this one ran (pass --force to replace it)" : "cannot move into place: \(error)")
      }
      FileSystem.remove(temporaryPath)
    }
    committed = true
    FileSystem.syncDirectory(of: path)
  }
}

/// Small files written whole: temporary name, fsync, rename, fsync of the
/// directory (through `AtomicOutput`), so a reader sees the old file or the new.
public enum AtomicFile {
  /// Writes `data` to `path` through an `AtomicOutput`.
  public static func write(_ data: Data, to path: String, mode: mode_t? = nil) throws(DataError) {
    let output = try AtomicOutput(path: path, replacing: true, mode: mode)
    do { try SystemFile(opening: output.temporaryPath, O_WRONLY | O_TRUNC).write(data) } catch {
      throw DataError(path: path, message: "cannot write: \(error)")
    }
    try output.commit()
  }

  /// Copies `source` to `path` through an `AtomicOutput`: a reflink (shared
  /// blocks, copy-on-write) where the filesystem can, else bytes in 1 MiB
  /// pieces. A symbolic link at `source` is followed: the copy holds the data.
  public static func copy(from source: String, to path: String, mode: mode_t? = nil) throws(DataError) {
    let output = try AtomicOutput(path: path, replacing: true, mode: mode)
    let input: SystemFile
    do { input = try SystemFile(opening: source, O_RDONLY) } catch {
      throw DataError(path: source, message: "cannot open for reading: \(error)")
    }
    let target: SystemFile
    do { target = try SystemFile(opening: output.temporaryPath, O_WRONLY | O_TRUNC) } catch {
      throw DataError(path: path, message: "cannot write: \(error)")
    }
    if !target.cloneContents(of: input) {
      let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
      defer { buffer.deallocate() }
      while true {
        let n: Int
        do { n = try input.read(into: buffer) } catch { throw DataError(path: source, message: "cannot read: \(error)") }
        if n == 0 { break }
        do { try target.write(UnsafeRawBufferPointer(rebasing: buffer[..<n])) } catch {
          throw DataError(path: path, message: "cannot write: \(error)")
        }
      }
    }
    try output.commit()
  }
}
