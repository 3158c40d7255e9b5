import Foundation

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
  private var committed = false

  public init(path: String, replacing: Bool) throws(DataError) {
    self.path = path
    self.replacing = replacing
    // Matches the repository's ignore pattern `*.h5.tmp*`.
    temporaryPath = path + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    var info = stat()
    if lstat(path, &info) == 0 {
      if (info.st_mode & S_IFMT) == S_IFDIR { throw DataError(path: path, message: "is a directory") }
      if !replacing { throw DataError(path: path, message: "already exists (pass --force to replace it)") }
    }
    let fd = open(temporaryPath, O_WRONLY | O_CREAT | O_EXCL, 0o644)
    guard fd >= 0 else {
      let reason = String(cString: strerror(errno))
      throw DataError(path: path, message: "cannot create output in \(Self.directory(of: path)): \(reason)")
    }
    close(fd)
  }

  deinit {
    if !committed { unlink(temporaryPath) }
  }

  static func directory(of path: String) -> String {
    let parent = (path as NSString).deletingLastPathComponent
    return parent.isEmpty ? "." : parent
  }

  /// Flushes the temporary file to disk, renames it to `path` and flushes the
  /// directory, so after a crash the output is either absent or complete.
  public func commit() throws(DataError) {
    let fd = open(temporaryPath, O_RDONLY)
    guard fd >= 0 else { throw DataError(path: path, message: "temporary file vanished: \(String(cString: strerror(errno)))") }
    let synced = fsync(fd)
    let syncErrno = errno
    close(fd)
    guard synced == 0 else { throw DataError(path: path, message: "cannot fsync: \(String(cString: strerror(syncErrno)))") }
    if replacing {
      guard rename(temporaryPath, path) == 0 else {
        throw DataError(path: path, message: "cannot rename into place: \(String(cString: strerror(errno)))")
      }
    } else {
      // link() fails if the name exists: of two jobs writing the same new
      // output, exactly one wins; the other is told, and nothing is replaced.
      guard link(temporaryPath, path) == 0 else {
        let reason = errno == EEXIST ? "was created by another job while this one ran (pass --force to replace it)"
          : "cannot move into place: \(String(cString: strerror(errno)))"
        throw DataError(path: path, message: reason)
      }
      unlink(temporaryPath)
    }
    committed = true
    let dir = open(Self.directory(of: path), O_RDONLY | O_DIRECTORY)
    if dir >= 0 { _ = fsync(dir); close(dir) }
  }
}

/// Small files written whole: temporary name, fsync, rename, fsync of the
/// directory (through `AtomicOutput`), so a reader sees the old file or the new.
public enum AtomicFile {
  public static func write(_ data: Data, to path: String) throws {
    let output = try AtomicOutput(path: path, replacing: true)
    guard FileManager.default.createFile(atPath: output.temporaryPath, contents: data) else {
      throw DataError(path: path, message: "cannot write (disk full or read-only?)")
    }
    try output.commit()
  }
}
