import ArgumentParser
import Foundation
import TandemRun
import TandemSystem
import TandemTraining

extension Tandem {
  struct Launch: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Run a training job under mpirun and restart it from its newest checkpoint when it fails, on the hosts still answering.",
      discussion: """
        tandem launch run.toml --hostfile hosts --max-restarts 3
        tandem launch run.toml --hostfile hosts -- --mca btl tcp,self

        Starts mpirun over the hostfile's hosts (Open MPI's format: HOST slots=N), one rank per \
        slot, with `tandem train --config RUN-FILE`. When the job fails, each host is probed \
        (`mpirun --host HOST -np 1 true`, --probe-timeout seconds); hosts that do not answer are \
        dropped, and the run resumes from its newest valid checkpoint (`tandem train --resume`) \
        on the ranks left. The exact reduction does not depend on the number of ranks, so the \
        final model is bit for bit that of an uninterrupted run. After a rank reports the job \
        lost (a stall, a vanished peer), mpirun gets --grace seconds to end before it is killed, \
        so a host cut off the network cannot hold the job for TCP's minutes of retries. Arguments \
        after -- go to every mpirun. Rank 0 must run on this host (it is the first host with a \
        slot) or see the same filesystem: the launcher reads the run directory it writes.

        Exit status: 0 the run finished; 75 this launcher was asked to stop (SIGTERM, SIGINT: \
        passed on to the job, which checkpoints); 1 the job failed and no restart was left, or \
        no host answered.
        """)

    @Argument(help: "The run file (TOML).") var runFile: String
    @Option(help: "Open MPI hostfile: one HOST [slots=N] per line.") var hostfile: String
    @Option(name: .customLong("max-restarts"), help: "Restarts after a failure before giving up.") var maxRestarts = 3
    @Option(help: "Seconds mpirun may take to end after a rank reported the job lost.") var grace = 5.0
    @Option(name: .customLong("probe-timeout"), help: "Seconds a host has to answer the probe after a failure.")
    var probeTimeout = 15.0
    @Option(help: "The mpirun to use.") var mpirun = "mpirun"
    @Argument(parsing: .postTerminator, help: "Arguments for every mpirun (after --).") var mpirunArguments: [String] = []

    func run() throws {
      var hosts = try Hostfile.read(hostfile)
      let tandem = Bundle.main.executablePath ?? CommandLine.arguments[0]
      let directoryFile = FileManager.default.temporaryDirectory.appendingPathComponent("tandem-launch-\(getpid()).run").path
      defer { try? FileManager.default.removeItem(atPath: directoryFile) }
      StopSignals.shared.install { signal in printError("tandem: launch: \(signal): passing it on to the job, which checkpoints and stops") }
      var attempt = 0
      var runDirectory: String?
      while true {
        let ranks = hosts.reduce(0) { $0 + $1.slots }
        let live = FileManager.default.temporaryDirectory.appendingPathComponent("tandem-launch-\(getpid()).hosts").path
        try Data(hosts.map { "\($0.name) slots=\($0.slots)" }.joined(separator: "\n").appending("\n").utf8).write(to: URL(fileURLWithPath: live))
        let train = runDirectory.map { ["train", "--resume", $0] } ?? ["train", "--config", runFile]
        printError("tandem: launch: attempt \(attempt + 1): \(ranks) rank(s) on \(hosts.map(\.name).joined(separator: ", ")): tandem \(train.joined(separator: " "))")
        let status = try supervise([mpirun, "--hostfile", live, "-np", String(ranks), "-x", TrainingHandoff.runDirectoryFileVariable]
                                   + mpirunArguments + [tandem] + train,
                                   environment: [TrainingHandoff.runDirectoryFileVariable: directoryFile])
        if let written = try? String(contentsOfFile: directoryFile, encoding: .utf8), !written.isEmpty { runDirectory = written }
        // mpirun can exit 0 after losing a daemon: the run is done when its summary is written.
        let finished = runDirectory.map { FileManager.default.fileExists(atPath: RunSummary.path(run: $0)) } ?? false
        if status == 0 && finished { return }
        if status == 0 { printError("tandem: launch: mpirun exited 0 but the run wrote no summary.json: it did not finish") }
        if StopSignals.shared.requested != nil {
          printError("tandem: launch: stopped on request (job exit \(status)); resume with tandem train --resume \(runDirectory ?? "RUN")")
          throw ExitCode(TrainingStopped.exitStatus)
        }
        guard attempt < maxRestarts else {
          throw ValidationError("launch: the job failed (exit \(status)) and no restart is left (--max-restarts \(maxRestarts))")
        }
        attempt += 1
        let answering = hosts.filter { probe($0.name) }
        for lost in hosts where !answering.contains(where: { $0.name == lost.name }) {
          printError("tandem: launch: host \(lost.name) does not answer (probe timed out after \(Int(probeTimeout)) s); dropped")
        }
        guard !answering.isEmpty else { throw ValidationError("launch: the job failed (exit \(status)) and no host answers") }
        hosts = answering
      }
    }

    /// Runs `arguments` in a process group of its own, passing its output
    /// through; after a line that says the job is lost, it gets `grace`
    /// seconds to end, then the group is killed. Returns the exit status.
    private func supervise(_ arguments: [String], environment: [String: String]) throws -> Int32 {
      let process = Process()
      // Foundation starts the child as the leader of a process group of its
      // own, so killing that group takes mpirun's local ranks with it.
      process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
      process.arguments = arguments
      process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
      // Both streams through pipes of the launcher's own: a daemon orphaned on
      // a host cut off the network keeps only these open, not the caller's.
      let errors = Pipe(), output = Pipe()
      process.standardError = errors
      process.standardOutput = output
      output.fileHandleForReading.readabilityHandler = { handle in
        let data = handle.availableData
        guard !data.isEmpty else { handle.readabilityHandler = nil; return }
        FileHandle.standardOutput.write(data)
      }
      let lostAt = LockedDate()
      errors.fileHandleForReading.readabilityHandler = { handle in
        let data = handle.availableData
        guard !data.isEmpty else { handle.readabilityHandler = nil; return }
        FileHandle.standardError.write(data)
        let text = String(decoding: data, as: UTF8.self)
        if Self.lossMarkers.contains(where: text.contains) { lostAt.setOnce(Date()) }
      }
      try process.run()
      var forwarded = false
      while process.isRunning {
        usleep(100_000)
        if !forwarded, StopSignals.shared.requested != nil {
          forwarded = true
          kill(process.processIdentifier, SIGTERM)
        }
        if let lost = lostAt.value, Date().timeIntervalSince(lost) > grace {
          printError("tandem: launch: mpirun did not end \(Int(grace)) s after the job was reported lost; killing it")
          kill(-process.processIdentifier, SIGKILL)
          process.waitUntilExit()
          break
        }
      }
      process.waitUntilExit()
      usleep(200_000)  // the last lines still in the pipes
      errors.fileHandleForReading.readabilityHandler = nil
      output.fileHandleForReading.readabilityHandler = nil
      return process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus
    }

    /// Lines after which the job cannot finish: Tandem's stall reports and Open MPI's lost peers.
    static let lossMarkers = ["tandem: stall:", "unexpectedly disconnected", "lost communication", "MPI_ABORT was invoked",
                              "unable to reliably start one or more daemons",
                              "asked to stop while"]

    /// Whether `host` starts a process through mpirun within the probe timeout.
    private func probe(_ host: String) -> Bool {
      let process = Process()
      process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
      process.arguments = [mpirun, "--host", host, "-np", "1"] + mpirunArguments + ["true"]
      process.standardOutput = FileHandle.nullDevice
      process.standardError = FileHandle.nullDevice
      guard (try? process.run()) != nil else { return false }
      let deadline = Date().addingTimeInterval(probeTimeout)
      while process.isRunning && Date() < deadline { usleep(100_000) }
      if process.isRunning {
        kill(-process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        return false
      }
      return process.terminationStatus == 0
    }
  }
}

/// An Open MPI hostfile: `HOST [slots=N]` per line, `#` comments.
struct Hostfile {
  struct Host { var name: String; var slots: Int }

  static func read(_ path: String) throws -> [Host] {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
      throw ValidationError("\(path): cannot read the hostfile")
    }
    var hosts: [Host] = []
    for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
      let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
      let words = line.split(whereSeparator: \.isWhitespace).map(String.init)
      guard let name = words.first else { continue }
      var slots = 1
      for w in words.dropFirst() {
        guard w.hasPrefix("slots="), let s = Int(w.dropFirst(6)), s > 0 else {
          throw ValidationError("\(path): line \(n + 1): '\(w)' is not slots=N (a positive count)")
        }
        slots = s
      }
      hosts.append(Host(name: name, slots: slots))
    }
    guard !hosts.isEmpty else { throw ValidationError("\(path): no hosts") }
    return hosts
  }
}

/// A date set once, from the output reader's thread, read by the supervisor's loop.
private final class LockedDate: @unchecked Sendable {
  private let lock = NSLock()
  private var date: Date?
  func setOnce(_ d: Date) { lock.lock(); if date == nil { date = d }; lock.unlock() }
  var value: Date? { lock.lock(); defer { lock.unlock() }; return date }
}
