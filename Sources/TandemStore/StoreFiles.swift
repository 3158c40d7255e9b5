import Foundation

/// Whole-file writes into the store: a hidden temporary file beside the
/// target, written, fsynced, renamed into place, then the directory fsynced,
/// so after a crash a stored file is either absent or complete.
///
/// The temporary name is unique per call (process id plus a random suffix,
/// as `AtomicOutput`'s), because two threads or two jobs may store the same
/// snapshot or dataset at the same moment; the second rename then replaces
/// identical bytes with identical bytes. What this adds to `AtomicOutput`:
/// the file mode (stored files are read-only), copies that reflink where
/// the filesystem can, and errors as `StoreError`.
enum StoreFiles {
  static func temporaryPath(for path: String) -> String {
    let url = URL(fileURLWithPath: path)
    let name = ".\(url.lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    return url.deletingLastPathComponent().appendingPathComponent(name).path
  }

  static func reason() -> String { String(cString: strerror(errno)) }

  /// Writes `data` to `path` atomically with permissions `mode`.
  static func write(_ data: Data, to path: String, mode: mode_t = 0o644) throws(StoreError) {
    let temporary = temporaryPath(for: path)
    let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL, mode)
    guard fd >= 0 else { throw StoreError(path: path, message: "cannot create a temporary file: \(reason())") }
    var ok = true
    var failure = ""
    data.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) in
      var offset = 0
      while offset < bytes.count {
        let n = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
        if n < 0 {
          if errno == EINTR { continue }
          ok = false; failure = reason(); return
        }
        offset += n
      }
    }
    try finish(fd: fd, ok: ok, failure: failure, temporary: temporary, path: path)
  }

  /// Linux's FICLONE, `_IOW(0x94, 9, int)`.
  private static let reflinkRequest: UInt = 0x4004_9409

  /// Copies the file at `source` to `path` atomically with permissions `mode`.
  static func copy(from source: String, to path: String, mode: mode_t = 0o644) throws(StoreError) {
    let input = open(source, O_RDONLY)
    guard input >= 0 else { throw StoreError(path: source, message: "cannot open for reading: \(reason())") }
    defer { close(input) }
    let temporary = temporaryPath(for: path)
    let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL, mode)
    guard fd >= 0 else { throw StoreError(path: path, message: "cannot create a temporary file: \(reason())") }
    // A reflink shares the blocks copy-on-write where the filesystem can
    // (Btrfs, XFS): instant, and later edits of either file stay private.
    if ioctl(fd, reflinkRequest, input) == 0 {
      try finish(fd: fd, ok: true, failure: "", temporary: temporary, path: path)
      return
    }
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
    defer { buffer.deallocate() }
    var ok = true
    var failure = ""
    copying: while true {
      let n = read(input, buffer.baseAddress!, buffer.count)
      if n == 0 { break }
      if n < 0 {
        if errno == EINTR { continue }
        ok = false; failure = "cannot read \(source): \(reason())"; break
      }
      var offset = 0
      while offset < n {
        let written = Glibc.write(fd, buffer.baseAddress! + offset, n - offset)
        if written < 0 {
          if errno == EINTR { continue }
          ok = false; failure = reason(); break copying
        }
        offset += written
      }
    }
    try finish(fd: fd, ok: ok, failure: failure, temporary: temporary, path: path)
  }

  private static func finish(fd: Int32, ok: Bool, failure: String, temporary: String, path: String) throws(StoreError) {
    guard ok else {
      close(fd); unlink(temporary)
      throw StoreError(path: path, message: "cannot write: \(failure)")
    }
    guard fsync(fd) == 0 else {
      let why = reason()
      close(fd); unlink(temporary)
      throw StoreError(path: path, message: "cannot fsync: \(why)")
    }
    close(fd)
    guard rename(temporary, path) == 0 else {
      let why = reason()
      unlink(temporary)
      throw StoreError(path: path, message: "cannot rename into place: \(why)")
    }
    syncDirectory(of: path)
  }

  /// Flushes a directory entry (a rename or a new link) to disk.
  static func syncDirectory(of path: String) {
    let parent = URL(fileURLWithPath: path).deletingLastPathComponent().path
    let dir = open(parent, O_RDONLY | O_DIRECTORY)
    if dir >= 0 { _ = fsync(dir); close(dir) }
  }

  static func isRegularFile(_ path: String) -> Bool {
    var info = stat()
    return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG
  }

  static func makeDirectory(_ path: String) throws(StoreError) {
    do {
      try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    } catch {
      throw StoreError(path: path, message: "cannot create directory: \(error.localizedDescription)")
    }
  }
}
