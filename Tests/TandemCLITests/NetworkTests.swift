import Foundation
import Testing
import TandemTestSupport

/// Three test hosts on a real network: Linux network namespaces on a bridge,
/// made by Cluster/local/netns-hosts.sh (root only, as in CI), each with its
/// own address, host name and working directory; mpirun reaches them through
/// the script as its rsh agent and the ranks talk TCP between them only.
enum NetnsHosts {
  static let script = TandemProcess.packageRoot.appendingPathComponent("Cluster/local/netns-hosts.sh").path
  static let available = getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip")
    && FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare")
  static let unavailable: Comment = "network namespaces need root, ip (iproute2) and unshare"
  /// Names and addresses of this test process only, so a second suite (or a person's hosts) cannot collide.
  static let environment = ["NETNS_HOSTS_PREFIX": "tt\(getpid() % 100_000)",
                            "NETNS_HOSTS_SUBNET": "10.78.\(getpid() % 250)",
                            "NETNS_HOSTS_DIR": Fixtures.directory.appendingPathComponent("netns").path]
  static var directory: String { environment["NETNS_HOSTS_DIR"]! }
  static func host(_ k: Int) -> String { directory + "/h\(k)" }

  /// What `tandem launch` passes to every mpirun to reach the namespaces.
  static var mpirunArguments: [String] {
    let subnet = environment["NETNS_HOSTS_SUBNET"]! + ".0/24"
    return ["--mca", "plm_rsh_agent", "\(script) agent", "--mca", "btl", "tcp,self", "--mca", "btl_tcp_if_include", subnet,
            "--mca", "oob_tcp_if_include", subnet, "--bind-to", "none"]
  }

  @discardableResult
  static func script(_ arguments: [String], timeout: Double = 120) throws -> TandemProcess.Output {
    try TandemProcess.run([], timeout: timeout, environment: environment.merging(["TANDEM_PROGRESS": "plain"]) { a, _ in a },
                          executable: script, arguments: arguments)
  }

  /// Fresh hosts h0, h1, h2 with empty working directories.
  static func up() throws {
    try? script(["down"])
    try? FileManager.default.removeItem(atPath: directory)
    let made = try script(["up", "3"])
    guard made.status == 0 else { throw FixtureError(description: "netns-hosts.sh up: \(made)") }
  }

  static func down() { _ = try? script(["down"]) }

  /// Every process of host `k`, killed: a host that died.
  static func killAll(_ k: Int) throws {
    let prefix = environment["NETNS_HOSTS_PREFIX"]!
    try TandemProcess.run([], executable: "/bin/sh", arguments: ["-c", "ip netns pids \(prefix)-h\(k) | xargs -r kill -9"])
  }

  /// `tandem launch` on h0 in the background; the result comes from `wait`.
  final class Launch: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var result: Result<TandemProcess.Output, any Error>?
    let started = Date()
    private(set) var ended: Date?

    init(_ arguments: [String]) {
      DispatchQueue.global().async {
        self.result = Result {
          try NetnsHosts.script(["exec", "h0", TandemProcess.binary.path, "launch"] + arguments + ["--"] + NetnsHosts.mpirunArguments,
                                timeout: 300)
        }
        self.ended = Date()
        self.done.signal()
      }
    }

    func wait() throws -> TandemProcess.Output {
      done.wait()
      return try result!.get()
    }
  }

  /// Waits (at most 60 s) until the run in host 0's directory has written a checkpoint.
  static func waitForCheckpoint() throws {
    let deadline = Date().addingTimeInterval(60)
    while Date() < deadline {
      let runs = (try? FileManager.default.contentsOfDirectory(atPath: host(0) + "/runs")) ?? []
      for run in runs {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: host(0) + "/runs/\(run)/checkpoints")) ?? []
        if files.contains(where: { $0.hasSuffix(".h5") }) { return }
      }
      usleep(100_000)
    }
    throw FixtureError(description: "no checkpoint in \(host(0))/runs after 60 s")
  }

  /// The X-ray sample and a run file in host 0's directory only (scatter: the others read nothing).
  static func xrayRun(epochs: Int, timeout: Int = 10) throws {
    try FileManager.default.copyItem(atPath: try SmallXray.dataset, toPath: host(0) + "/xray.h5")
    try """
      model = "xray-cnn"
      dataset = "xray.h5"
      seed = 6
      epochs = \(epochs)
      [training]
      global_batch = 16
      checkpoint_every = 10
      [cluster]
      scatter = true
      collective_timeout = \(timeout)
      """.write(toFile: host(0) + "/run.toml", atomically: true, encoding: .utf8)
  }

  /// The same run file trained on one rank, uninterrupted, elsewhere: its final parameter bits.
  static func uninterruptedBits() throws -> [[UInt32]] {
    let alone = Fixtures.directory.appendingPathComponent("netns-alone-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: alone, withIntermediateDirectories: true)
    for file in ["run.toml", "xray.h5"] { try FileManager.default.copyItem(atPath: host(0) + "/" + file, toPath: alone + "/" + file) }
    let run = try TandemProcess.run(["train", "--config", "run.toml"], timeout: 300, environment: ["TANDEM_PROGRESS": "plain"],
                                    directory: URL(fileURLWithPath: alone))
    guard run.status == 0, let directory = Fixtures.runDirectory(from: run.stdout) else {
      throw FixtureError(description: "the uninterrupted run failed: \(run)")
    }
    return try bits(alone + "/" + directory)
  }
}

extension MPIJobTests {
  /// One rank on each of three hosts, with scatter: only h0 holds the data
  /// and the run file, the others end with nothing in their directories, and
  /// the model is bit for bit the one a single rank trains.
  @Test(.enabled(if: NetnsHosts.available, NetnsHosts.unavailable)) func threeHostsOnANetworkTrainBitwiseLikeOneRank() throws {
    try NetnsHosts.up()
    defer { NetnsHosts.down() }
    try NetnsHosts.xrayRun(epochs: 2)
    let trained = try NetnsHosts.script(["each", TandemProcess.binary.path, "train", "--config", "run.toml"])
    #expect(trained.status == 0 && trained.stdout.contains("3 rank(s)"), "\(trained)")
    let run = try #require(Fixtures.runDirectory(from: trained.stdout), "\(trained)")
    for k in 1...2 {
      let left = try FileManager.default.contentsOfDirectory(atPath: NetnsHosts.host(k)).filter { $0 != ".session" }
      #expect(left.isEmpty, "h\(k) should hold nothing of the run: \(left)")
    }
    #expect(try bits(NetnsHosts.host(0) + "/" + run) == (try NetnsHosts.uninterruptedBits()))
  }

  /// h2's cable pulled mid-run: the job ends within collective_timeout + 10 s
  /// (10 + 10 here), rank 0's report names rank 2 and its host, and the newest
  /// checkpoint resumes.
  @Test(.enabled(if: NetnsHosts.available, NetnsHosts.unavailable)) func aHostCutOffTheNetworkEndsTheJobWithinTheCollectiveTimeoutPlus10Seconds() throws {
    try NetnsHosts.up()
    defer { NetnsHosts.down() }
    try NetnsHosts.xrayRun(epochs: 40, timeout: 10)
    let launch = NetnsHosts.Launch(["run.toml", "--hostfile", "../hostfile", "--max-restarts", "0", "--probe-timeout", "3"])
    try NetnsHosts.waitForCheckpoint()
    let cut = Date()
    #expect(try NetnsHosts.script(["link", "h2", "down"]).status == 0)
    let result = try launch.wait()
    let seconds = launch.ended!.timeIntervalSince(cut)
    #expect(result.status == 1 && seconds <= 20, "ended \(seconds) s after the cut: \(result)")
    #expect(result.stderr.contains("tandem: stall:") && result.stderr.contains("rank 2 (host h2)"), "\(result.stderr)")
    #expect(try NetnsHosts.script(["link", "h2", "up"]).status == 0)
    let runs = try FileManager.default.contentsOfDirectory(atPath: NetnsHosts.host(0) + "/runs")
    let resumed = try TandemProcess.run(["train", "--resume", "runs/\(try #require(runs.first))"], timeout: 300,
                                        environment: ["TANDEM_PROGRESS": "plain"], directory: URL(fileURLWithPath: NetnsHosts.host(0)))
    #expect(resumed.status == 0 && resumed.stdout.contains("resuming"), "\(resumed)")
  }

  /// Every process of h2 killed: the job ends within 10 s.
  @Test(.enabled(if: NetnsHosts.available, NetnsHosts.unavailable)) func allProcessesOfOneHostKilledEndTheJobWithin10Seconds() throws {
    try NetnsHosts.up()
    defer { NetnsHosts.down() }
    try NetnsHosts.xrayRun(epochs: 40)
    let launch = NetnsHosts.Launch(["run.toml", "--hostfile", "../hostfile", "--max-restarts", "0", "--probe-timeout", "3"])
    try NetnsHosts.waitForCheckpoint()
    let killed = Date()
    try NetnsHosts.killAll(2)
    let result = try launch.wait()
    let seconds = launch.ended!.timeIntervalSince(killed)
    #expect(result.status == 1 && seconds <= 10, "ended \(seconds) s after the kill: \(result)")
  }

  /// A host lost mid-run (its processes killed and its cable pulled): the
  /// launcher drops it, resumes on the two left from the newest checkpoint,
  /// and the final model is bit for bit that of an uninterrupted run.
  @Test(.enabled(if: NetnsHosts.available, NetnsHosts.unavailable)) func aHostLostMidRunIsDroppedAndTheRestartOnFewerHostsEndsBitwiseIdentical() throws {
    try NetnsHosts.up()
    defer { NetnsHosts.down() }
    try NetnsHosts.xrayRun(epochs: 30)
    let launch = NetnsHosts.Launch(["run.toml", "--hostfile", "../hostfile", "--max-restarts", "2", "--probe-timeout", "5"])
    try NetnsHosts.waitForCheckpoint()
    try NetnsHosts.killAll(2)
    #expect(try NetnsHosts.script(["link", "h2", "down"]).status == 0)
    let result = try launch.wait()
    #expect(result.status == 0, "\(result)")
    #expect(result.stderr.contains("host h2 does not answer") && result.stderr.contains("attempt 2: 2 rank(s) on h0, h1"), "\(result.stderr)")
    #expect(result.stdout.contains("resuming") && result.stdout.contains("on 2 rank(s)"), "\(result.stdout)")
    let runs = try FileManager.default.contentsOfDirectory(atPath: NetnsHosts.host(0) + "/runs")
    #expect(runs.count == 1)
    #expect(try bits(NetnsHosts.host(0) + "/runs/" + runs[0]) == (try NetnsHosts.uninterruptedBits()))
  }
}
