import CSystem
import Foundation

// Every POSIX call Tandem makes on files and processes, in this one file (the
// swift-system habit, hand-written because the package is not available to
// every build here): each wrapper retries EINTR, closes what it opens, and
// reports failure as a `SystemError` carrying errno, so callers say what
// failed in their own words and never read `errno` themselves.

/// A failed system call: its errno, and that errno's text.
public struct SystemError: Error, CustomStringConvertible, Sendable, Equatable {
  public let code: Int32

  public init(_ code: Int32 = errno) { self.code = code }

  public var description: String { String(cString: strerror(code)) }
  public var isAlreadyExists: Bool { code == EEXIST }
  public var isMissing: Bool { code == ENOENT }
}

/// What `stat` says of a file. Equal statuses mean the same file, unchanged
/// (a write in place moves the modification or change time).
public struct FileStatus: Sendable, Hashable {
  public enum Kind: Sendable { case regular, directory, symbolicLink, other }
  public let kind: Kind
  public let size: Int
  public let device: UInt64
  public let inode: UInt64
  /// Seconds since 1970, with nanoseconds.
  public let modified: Double
  /// The modification and status-change times in whole nanoseconds (exact, for identity checks).
  public let modifiedNanoseconds: Int64
  public let changedNanoseconds: Int64

  init(_ info: stat) {
    switch info.st_mode & S_IFMT {
    case S_IFREG: kind = .regular
    case S_IFDIR: kind = .directory
    case S_IFLNK: kind = .symbolicLink
    default: kind = .other
    }
    size = Int(info.st_size)
    device = UInt64(info.st_dev)
    inode = UInt64(info.st_ino)
    modifiedNanoseconds = Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec)
    changedNanoseconds = Int64(info.st_ctim.tv_sec) * 1_000_000_000 + Int64(info.st_ctim.tv_nsec)
    modified = Double(info.st_mtim.tv_sec) + Double(info.st_mtim.tv_nsec) * 1e-9
  }
}

/// All of `bytes` to `descriptor`: a short write is continued, EINTR retried.
func writeAll(_ descriptor: Int32, _ bytes: UnsafeRawBufferPointer) throws(SystemError) {
  var offset = 0
  while offset < bytes.count {
    let n = Glibc.write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
    if n < 0 { if errno == EINTR { continue }; throw SystemError() }
    offset += n
  }
}

/// An open file descriptor, closed when the value goes away.
public final class SystemFile {
  public let descriptor: Int32

  /// Opens `path` (always close-on-exec).
  public init(opening path: String, _ flags: Int32, mode: mode_t = 0o644) throws(SystemError) {
    var fd: Int32
    repeat { fd = open(path, flags | O_CLOEXEC, mode) } while fd < 0 && errno == EINTR
    guard fd >= 0 else { throw SystemError() }
    descriptor = fd
  }

  deinit { close(descriptor) }

  public func status() throws(SystemError) -> FileStatus {
    var info = stat()
    guard fstat(descriptor, &info) == 0 else { throw SystemError() }
    return FileStatus(info)
  }

  /// Clears O_NONBLOCK (set to open a FIFO without waiting for a writer).
  public func makeBlocking() {
    _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) & ~O_NONBLOCK)
  }

  /// Reads up to `buffer.count` bytes; 0 at the end of the file.
  public func read(into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> Int {
    while true {
      let n = Glibc.read(descriptor, buffer.baseAddress, buffer.count)
      if n >= 0 { return n }
      if errno != EINTR { throw SystemError() }
    }
  }

  /// Reads exactly `count` bytes at `offset`, or fewer at the end of the file.
  public func read(count: Int, at offset: Int) throws(SystemError) -> [UInt8] {
    var bytes = [UInt8](repeating: 0, count: count)
    var done = 0
    while done < count {
      let n = bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress! + done, count - done, off_t(offset + done)) }
      if n < 0 { if errno == EINTR { continue }; throw SystemError() }
      if n == 0 { break }
      done += n
    }
    return Array(bytes.prefix(done))
  }

  /// Writes all of `bytes` (a short write is continued, not reported).
  public func write(_ bytes: UnsafeRawBufferPointer) throws(SystemError) {
    try writeAll(descriptor, bytes)
  }

  public func write(_ data: Data) throws(SystemError) {
    // Data's withUnsafeBytes rethrows untyped; the Result keeps SystemError.
    try data.withUnsafeBytes { bytes in Result { () throws(SystemError) in try writeAll(descriptor, bytes) } }.get()
  }

  /// Replaces the whole contents with `bytes`, in place.
  public func overwrite(with bytes: [UInt8]) throws(SystemError) {
    try truncate(to: 0)
    var done = 0
    while done < bytes.count {
      let n = bytes.withUnsafeBytes { pwrite(descriptor, $0.baseAddress! + done, bytes.count - done, off_t(done)) }
      if n < 0 { if errno == EINTR { continue }; throw SystemError() }
      done += n
    }
  }

  public func truncate(to size: Int) throws(SystemError) {
    guard ftruncate(descriptor, off_t(size)) == 0 else { throw SystemError() }
  }

  public func setMode(_ mode: mode_t) throws(SystemError) {
    guard fchmod(descriptor, mode) == 0 else { throw SystemError() }
  }

  /// Flushes the file's data and metadata to the device.
  public func sync() throws(SystemError) {
    guard fsync(descriptor) == 0 else { throw SystemError() }
  }

  /// Makes this (empty) file share `source`'s blocks copy-on-write
  /// (FICLONE, on Btrfs and XFS); false where the filesystem cannot.
  public func cloneContents(of source: SystemFile) -> Bool {
    ioctl(descriptor, 0x4004_9409, source.descriptor) == 0
  }

  /// Takes the exclusive `flock`: waiting for it, or returning false at once when another holds it.
  public func lock(waiting: Bool) throws(SystemError) -> Bool {
    while flock(descriptor, waiting ? LOCK_EX : LOCK_EX | LOCK_NB) != 0 {
      if errno == EINTR { continue }
      if errno == EWOULDBLOCK { return false }
      throw SystemError()
    }
    return true
  }
}

/// Calls on paths.
public enum FileSystem {
  /// The file's status, following a final symbolic link unless `followingLinks` is false; nil when it cannot be had.
  public static func status(_ path: String, followingLinks: Bool = true) -> FileStatus? {
    var info = stat()
    let result = followingLinks ? stat(path, &info) : lstat(path, &info)
    return result == 0 ? FileStatus(info) : nil
  }

  public static func isRegularFile(_ path: String) -> Bool { status(path)?.kind == .regular }

  /// Whether this process may read `path`; the reason when not.
  public static func checkReadable(_ path: String) throws(SystemError) {
    guard access(path, R_OK) == 0 else { throw SystemError() }
  }

  public static func rename(_ source: String, to target: String) throws(SystemError) {
    guard Glibc.rename(source, target) == 0 else { throw SystemError() }
  }

  /// A second name for `source`; fails with EEXIST when `target` exists, so
  /// of two writers of one new name exactly one wins.
  public static func link(_ source: String, to target: String) throws(SystemError) {
    guard Glibc.link(source, target) == 0 else { throw SystemError() }
  }

  /// Removes a name; false when it could not (already gone, or not allowed).
  @discardableResult
  public static func remove(_ path: String) -> Bool { unlink(path) == 0 }

  /// Makes a rename or link into `path`'s directory durable.
  public static func syncDirectory(of path: String) {
    let parent = (path as NSString).deletingLastPathComponent
    guard let directory = try? SystemFile(opening: parent.isEmpty ? "." : parent, O_RDONLY | O_DIRECTORY) else { return }
    try? directory.sync()
  }

  /// The names in a directory, sorted; empty when it does not exist; other failures throw.
  public static func entries(of directory: String) throws(SystemError) -> [String] {
    guard let stream = opendir(directory) else {
      if errno == ENOENT { return [] }
      throw SystemError()
    }
    defer { closedir(stream) }
    var names: [String] = []
    while let entry = readdir(stream) {
      let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
      if name != "." && name != ".." { names.append(name) }
    }
    return names.sorted()
  }
}

/// Calls on this process and its children.
public enum SystemProcess {
  public static var id: Int32 { getpid() }
  public static var userID: UInt32 { getuid() }

  /// The login name of this process's user in the password database, if it has one.
  public static var userName: String? {
    var entry = passwd()
    var result: UnsafeMutablePointer<passwd>?
    var buffer = [CChar](repeating: 0, count: 4096)
    guard getpwuid_r(getuid(), &entry, &buffer, buffer.count, &result) == 0, result != nil, let name = entry.pw_name else { return nil }
    let text = String(cString: name)
    return text.isEmpty ? nil : text
  }

  public static func kill(_ process: Int32, _ signal: Int32) { _ = Glibc.kill(process, signal) }

  /// Caps this process's address space, so a runaway allocation fails here instead of taking the machine.
  public static func limitAddressSpace(to bytes: UInt64) {
    var limit = rlimit(rlim_cur: rlim_t(bytes), rlim_max: rlim_t(bytes))
    _ = setrlimit(Int32(RLIMIT_AS.rawValue), &limit)
  }

  /// Caps the size of any file this process writes (a full disk, simulated).
  public static func limitFileSize(to bytes: UInt64) {
    var limit = rlimit(rlim_cur: rlim_t(bytes), rlim_max: rlim_t(bytes))
    _ = setrlimit(Int32(RLIMIT_FSIZE.rawValue), &limit)
  }

  /// Asks the kernel to kill this process when its parent dies.
  public static func dieWithParent() { _ = csystem_die_with_parent() }

  /// `uname`'s release, machine and node name (`6.1.0-18-amd64`, `x86_64`, `node1`).
  public static func kernel() -> (release: String, machine: String, node: String) {
    var names = utsname()
    uname(&names)
    func text<T>(_ field: T) -> String {
      withUnsafeBytes(of: field) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }
    return (text(names.release), text(names.machine), text(names.nodename))
  }
}
