import CSystem
import Foundation

/// SIGTERM and SIGINT as a request to stop at the next safe point, the way
/// schedulers ask (Slurm's scancel and time limit, Kubernetes' pod deletion,
/// systemd's stop, Ctrl-C): the first one is recorded and reported, and the
/// work decides when it can stop; a second one ends the process at once with
/// the shell's status for that signal (128 + its number).
public final class StopSignals: @unchecked Sendable {
  public static let shared = StopSignals()

  private let lock = NSLock()
  private var first: Int32?
  private var sources: [any DispatchSourceSignal] = []
  private let queue = DispatchQueue(label: "tandem.stop-signals")

  private init() {}

  /// Starts watching (once; later calls only replace `notice`). `notice` runs
  /// on a background queue with the signal's name when the first one arrives.
  public func install(notice: @escaping @Sendable (String) -> Void) {
    lock.lock()
    defer { lock.unlock() }
    self.notice = notice
    guard sources.isEmpty else { return }
    for number in [SIGTERM, SIGINT] {
      // The default action would kill the process before the handler runs.
      Glibc.signal(number, SIG_IGN)
      let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
      source.setEventHandler { [unowned self] in self.received(number) }
      source.resume()
      sources.append(source)
    }
  }

  private var notice: (@Sendable (String) -> Void)?

  private func received(_ number: Int32) {
    lock.lock()
    let earlier = first
    if earlier == nil { first = number }
    let notice = self.notice
    lock.unlock()
    if earlier != nil { Glibc._exit(128 + number) }
    notice?(Self.name(number))
  }

  /// The first stop signal's number, or nil while none has come.
  public var requested: Int32? {
    lock.lock()
    defer { lock.unlock() }
    return first
  }

  public static func name(_ number: Int32) -> String {
    switch number {
    case SIGTERM: "SIGTERM"
    case SIGINT: "SIGINT"
    default: "signal \(number)"
    }
  }
}

extension SystemProcess {
  /// A closed reader of standard output (`tandem train | head`) must not end
  /// the process: writes then fail with EPIPE instead, and `writeOutput`
  /// drops them.
  public static func ignoreBrokenPipes() { Glibc.signal(SIGPIPE, SIG_IGN) }

  nonisolated(unsafe) private static var outputClosed = false

  /// Writes all of `bytes` to standard output; after a broken pipe, nothing
  /// more (the work goes on; only its printout has no reader).
  public static func writeOutput(_ bytes: [UInt8]) {
    guard !outputClosed else { return }
    let written = bytes.withUnsafeBytes { raw in Result { () throws(SystemError) in try writeAll(STDOUT_FILENO, raw) } }
    if case .failure = written { outputClosed = true }
  }
}
