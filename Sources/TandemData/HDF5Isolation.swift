import Foundation
import TandemSystem

/// libhdf5 1.10 segfaults (and may loop) on some corrupted object headers,
/// inside the library where no error can be caught. So, once an executable
/// has enabled it, every file opened for reading is first read whole in a
/// child process: the child walks every group, attribute and dataset (the
/// content hash's walk) and prints the hash. A child killed by a signal or
/// still running at the deadline makes the open fail with one line naming
/// the file; this process never touches such a file.
///
/// Each file (device, inode, size, modification and change times) is checked
/// once per process, and the child's hash is kept, so `ContentHash.compute`
/// of a checked file costs nothing more: the isolation adds one process start
/// (tens of milliseconds) per file, not a second read.
///
/// `TANDEM_HDF5_ISOLATION=off` turns it off; `TANDEM_HDF5_CHECK_TIMEOUT`
/// (seconds) replaces the deadline of 60 s plus 1 s per 10 MB.
public enum HDF5Isolation {
  /// The argument vector of the child: `command + [path]` must print the
  /// file's content hash and exit 0, or exit non-zero with a typed error.
  public static func enable(command: [String], environment: [String: String]) {
    guard environment["TANDEM_HDF5_ISOLATION"] != "off", !command.isEmpty else { return }
    let timeout = environment["TANDEM_HDF5_CHECK_TIMEOUT"].flatMap(Double.init)
    state.withLock { $0.command = command; $0.timeout = timeout }
  }

  /// What the child command runs: the content hash of `path`, read in this
  /// process (the child never isolates again).
  public static func childHash(path: String) throws(HDF5Error) -> String {
    state.withLock { $0.command = nil }
    // Dies with the process that asked, and corrupt sizes cannot make it
    // take the machine's memory: the walk reads in blocks of 8 MB, and only
    // string datasets (ids) are read whole.
    SystemProcess.dieWithParent()
    SystemProcess.limitAddressSpace(to: (1 << 30) + 4 * UInt64(FileSystem.status(path)?.size ?? 0))
    return try ContentHash.compute(HDF5File(readingAt: path), readingExcluded: true)
  }

  /// Called by `HDF5File(readingAt:)`, with the file's `stat`, before the
  /// library sees the file. Returns the content hash the child computed (now
  /// or earlier in this process), nil when there was no check or no hash.
  static func check(path: String, shown: String, status identity: FileStatus) throws(HDF5Error) -> String? {
    let (command, timeout, known) = state.withLock { ($0.command, $0.timeout, $0.checked[identity]) }
    if let known { return known }
    guard let command else { return nil }
    let deadline = timeout ?? 60 + Double(identity.size) / 10_000_000
    let process = Process()
    process.executableURL = URL(fileURLWithPath: command[0])
    process.arguments = Array(command.dropFirst()) + [path]
    var environment = ProcessInfo.processInfo.environment
    environment["SWIFT_BACKTRACE"] = "enable=no"  // a crash is expected here, not reported
    process.environment = environment
    let output = Pipe(), errors = Pipe()
    process.standardOutput = output
    process.standardError = errors
    process.standardInput = FileHandle.nullDevice
    let finished = DispatchSemaphore(value: 0)
    process.terminationHandler = { _ in finished.signal() }
    do { try process.run() } catch {
      // Not being able to start the check is no reason to refuse a file.
      return nil
    }
    // Drained while the child runs, so a long message can never block it.
    let printed = Locked((Data(), Data()))
    let drained = DispatchGroup()
    DispatchQueue.global().async(group: drained) {
      let bytes = output.fileHandleForReading.readDataToEndOfFile()
      printed.withLock { $0.0 = bytes }
    }
    DispatchQueue.global().async(group: drained) {
      let bytes = errors.fileHandleForReading.readDataToEndOfFile()
      printed.withLock { $0.1 = bytes }
    }
    if finished.wait(timeout: .now() + deadline) == .timedOut {
      SystemProcess.kill(process.processIdentifier, SIGKILL)
      finished.wait()
      throw HDF5Error(path: shown, message: "reading this HDF5 file did not finish within \(Int(deadline)) s"
                      + " (corrupt metadata?); the file was not used")
    }
    drained.wait()
    let (out, err) = printed.withLock { $0 }
    switch (process.terminationReason, process.terminationStatus) {
    case (.uncaughtSignal, let signal):
      throw HDF5Error(path: shown, message: "corrupt HDF5 metadata: the HDF5 library crashed reading this file"
                      + " (signal \(signal)) in an isolated check; the file was not used")
    case (.exit, 0):
      let printed = String(decoding: out, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
      let hash = printed.count == 64 ? printed : nil
      state.withLock { $0.checked[identity] = .some(hash) }
      return hash
    case (.exit, Self.unreadableStatus):
      // Reading the file whole failed safely: past that point the library
      // may crash, so the file is refused with the child's reason.
      let reason = String(decoding: err, as: UTF8.self).split(separator: "\n").first.map(String.init) ?? "unreadable"
      throw HDF5Error(path: shown, message: reason)
    default:
      // The child itself failed (it could not start, its self-test...): this
      // process opens the file as it would without isolation.
      return nil
    }
  }

  /// The child's exit status when the file could not be read whole; its
  /// standard error then holds the reason.
  public static let unreadableStatus: Int32 = 3

  private struct State {
    var command: [String]?
    var timeout: Double?
    var checked: [FileStatus: String?] = [:]
  }

  private static let state = Locked(State())
}

/// A value behind a lock, for process-wide state reached from any thread.
final class Locked<Value>: @unchecked Sendable {
  private var value: Value
  private let lock = NSLock()

  init(_ value: Value) { self.value = value }

  func withLock<T>(_ body: (inout Value) throws -> T) rethrows -> T {
    lock.lock()
    defer { lock.unlock() }
    return try body(&value)
  }
}
