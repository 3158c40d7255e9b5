import Foundation
import TandemSystem

/// Runs the built `tandem` binary (optionally under mpirun) the way a user
/// would, and returns what it printed and how it exited.
public enum TandemProcess {
  public struct Output: CustomStringConvertible, Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
    public var seconds: Double
    public var description: String { "exit \(status) after \(seconds) s\nstdout:\n\(stdout)\nstderr:\n\(stderr)" }
  }

  /// `TANDEM_BIN`, else `tandem` beside the test bundle (same build folder).
  public static var binary: URL {
    if let path = ProcessInfo.processInfo.environment["TANDEM_BIN"] { return URL(fileURLWithPath: path) }
    let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    return exe.deletingLastPathComponent().appendingPathComponent("tandem")
  }

  /// The package root, found from this file's path.
  public static var packageRoot: URL {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
  }

  /// Runs `tandem arguments…`, or `mpirun -np ranks tandem arguments…` when
  /// `ranks` is given. Kills the process group after `timeout` seconds.
  public static func run(_ arguments: [String], ranks: Int? = nil, timeout: Double = 300,
                         environment: [String: String] = [:], directory: URL? = nil,
                         executable: String? = nil, arguments explicit: [String]? = nil) throws -> Output {
    let process = Process()
    if let executable {
      process.executableURL = URL(fileURLWithPath: executable)
      process.arguments = explicit ?? []
    } else if let ranks {
      process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
      process.arguments = ["mpirun", "--oversubscribe", "-np", String(ranks), binary.path] + arguments
    } else {
      process.executableURL = binary
      process.arguments = arguments
    }
    var env = ProcessInfo.processInfo.environment
    env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
    env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
    // Open MPI's shared-memory transport needs a writable, roomy /tmp; vader works everywhere.
    env["OMPI_MCA_btl"] = env["OMPI_MCA_btl"] ?? "self,vader"
    for (k, v) in environment { env[k] = v }
    process.environment = env
    if let directory { process.currentDirectoryURL = directory }
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    let start = Date()
    try process.run()
    // Drain pipes while waiting so a chatty child never blocks on a full pipe.
    let outData = Captured(), errData = Captured()
    let group = DispatchGroup()
    for (pipe, box) in [(out, outData), (err, errData)] {
      group.enter()
      DispatchQueue.global().async {
        while true {
          let chunk = pipe.fileHandleForReading.availableData
          if chunk.isEmpty { break }
          box.append(chunk)
        }
        group.leave()
      }
    }
    let deadline = Date(timeIntervalSinceNow: timeout)
    while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
    if process.isRunning {
      SystemProcess.kill(-process.processIdentifier, SIGKILL)
      process.terminate()
    }
    // Foundation sees the exit only once every copy of a socket it gave the
    // child is closed; a daemon that kept one would make waitUntilExit wait forever.
    let reaped = Date(timeIntervalSinceNow: pipeGrace)
    while process.isRunning && Date() < reaped { Thread.sleep(forTimeInterval: 0.02) }
    guard !process.isRunning else {
      throw HarnessError(description: "\(process.executableURL?.path ?? "?") \(process.arguments ?? []): exited or killed, "
                           + "but a descendant still holds the descriptors Foundation watches for its exit")
    }
    // A daemon or orphan that inherited a pipe keeps it open after the child
    // exits: return what was printed rather than wait for its end.
    var note = ""
    if group.wait(timeout: .now() + pipeGrace) == .timedOut {
      note = "\n(test harness: a descendant still held the output pipes \(Int(pipeGrace)) s after exit)"
    }
    return Output(status: process.terminationStatus,
                  stdout: String(decoding: outData.data, as: UTF8.self),
                  stderr: String(decoding: errData.data, as: UTF8.self) + note,
                  seconds: Date().timeIntervalSince(start))
  }

  /// How long output pipes may stay open after the child has exited.
  static let pipeGrace: Double = 10
}

public struct HarnessError: Error, CustomStringConvertible {
  public var description: String
}

private final class Captured: @unchecked Sendable {
  private let lock = NSLock()
  private var bytes = Data()
  var data: Data { lock.withLock { bytes } }
  func append(_ chunk: Data) { lock.withLock { bytes.append(chunk) } }
}
