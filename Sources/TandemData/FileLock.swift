import Foundation

/// An exclusive `flock` on a file, held until the value is released. Locks go
/// with the open file description, so a process that dies, however it dies,
/// lets go of them; a child that inherits the descriptor holds it too.
public final class FileLock {
  public let path: String
  private let descriptor: Int32

  /// Takes the lock, creating the file if needed. With `waiting: false` a lock
  /// held elsewhere is an error saying `busy`, naming the lock file.
  public init(path: String, waiting: Bool, busy: String) throws(DataError) {
    self.path = path
    let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw DataError(path: path, message: "cannot open the lock file: \(String(cString: strerror(errno)))") }
    while flock(fd, waiting ? LOCK_EX : LOCK_EX | LOCK_NB) != 0 {
      if errno == EINTR { continue }
      let reason = errno == EWOULDBLOCK ? busy : "cannot lock: \(String(cString: strerror(errno)))"
      close(fd)
      throw DataError(path: path, message: reason)
    }
    descriptor = fd
  }

  /// The lock, or nil when another process holds it.
  public static func attempt(path: String) throws(DataError) -> FileLock? {
    do { return try FileLock(path: path, waiting: false, busy: busyMarker) } catch where error.message == busyMarker { return nil }
  }
  private static let busyMarker = "held by another process"

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
