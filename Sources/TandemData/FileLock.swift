import Foundation

/// An exclusive `flock` on a file, held until the value is released. Locks go
/// with the open file description, so a process that dies, however it dies,
/// lets go of them. The descriptor is close-on-exec: a program this process
/// launches takes a lock of its own (as a retrain's training does).
public final class FileLock {
  public let path: String
  private let descriptor: Int32

  /// Takes the lock, creating the file if needed. With `waiting: false` a lock
  /// held elsewhere is an error saying `busy`, naming the lock file.
  public convenience init(path: String, waiting: Bool, busy: String) throws(DataError) {
    guard let fd = try Self.lock(path, waiting: waiting) else { throw DataError(path: path, message: busy) }
    self.init(path: path, descriptor: fd)
  }

  private init(path: String, descriptor: Int32) {
    self.path = path
    self.descriptor = descriptor
  }

  /// The lock, or nil when another process holds it.
  public static func attempt(path: String) throws(DataError) -> FileLock? {
    try lock(path, waiting: false).map { FileLock(path: path, descriptor: $0) }
  }

  /// The locked descriptor, or nil when the lock is held elsewhere (never nil when waiting).
  private static func lock(_ path: String, waiting: Bool) throws(DataError) -> Int32? {
    let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw DataError(path: path, message: "cannot open the lock file: \(String(cString: strerror(errno)))") }
    while flock(fd, waiting ? LOCK_EX : LOCK_EX | LOCK_NB) != 0 {
      if errno == EINTR { continue }
      let busy = errno == EWOULDBLOCK, reason = String(cString: strerror(errno))
      close(fd)
      if busy { return nil }
      throw DataError(path: path, message: "cannot lock: \(reason)")
    }
    return fd
  }

  /// Whether another process holds the lock now (taken and let go at once).
  public static func isHeld(path: String) throws(DataError) -> Bool {
    try attempt(path: path) == nil
  }

  /// Writes this process's id into the lock file, for people looking at it.
  public func recordOwner() {
    ftruncate(descriptor, 0)
    let pid = Array("\(getpid())\n".utf8)
    _ = pwrite(descriptor, pid, pid.count, 0)
  }

  deinit {
    flock(descriptor, LOCK_UN)
    close(descriptor)
  }
}
