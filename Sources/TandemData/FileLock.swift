import Foundation
import TandemSystem

/// An exclusive `flock` on a file, held until the value is released. Locks go
/// with the open file description, so a process that dies, however it dies,
/// lets go of them. The descriptor is close-on-exec: a program this process
/// launches takes a lock of its own (as a retrain's training does).
public final class FileLock {
  public let path: String
  private let file: SystemFile

  /// Takes the lock, waiting for it when `waiting`; otherwise a lock held
  /// elsewhere is a `DataError` whose message is `busy`.
  public convenience init(path: String, waiting: Bool, busy: String) throws(DataError) {
    guard let file = try Self.lock(path, waiting: waiting) else { throw DataError(path: path, message: busy) }
    self.init(path: path, file: file)
  }

  private init(path: String, file: SystemFile) {
    self.path = path
    self.file = file
  }

  /// The lock if it is free now; nil when another process holds it; an
  /// error when the lock file cannot be opened or locked.
  public static func attempt(path: String) throws(DataError) -> FileLock? {
    try lock(path, waiting: false).map { FileLock(path: path, file: $0) }
  }

  private static func lock(_ path: String, waiting: Bool) throws(DataError) -> SystemFile? {
    let file: SystemFile
    do { file = try SystemFile(opening: path, O_RDWR | O_CREAT) } catch {
      throw DataError(path: path, message: "cannot open the lock file: \(error)")
    }
    do { return try file.lock(waiting: waiting) ? file : nil } catch {
      throw DataError(path: path, message: "cannot lock: \(error)")
    }
  }

  /// Whether another process holds the lock now (taking and releasing it when free).
  public static func isHeld(path: String) throws(DataError) -> Bool {
    try attempt(path: path) == nil
  }

  /// Writes this process's id into the lock file, for whoever finds it held.
  public func recordOwner() {
    try? file.overwrite(with: Array("\(SystemProcess.id)\n".utf8))
  }
}
