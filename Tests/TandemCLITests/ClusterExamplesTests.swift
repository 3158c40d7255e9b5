import Foundation
import Testing
import TandemTestSupport

/// The launch and scheduling examples in `Cluster/`, checked as files: shell
/// and batch scripts parse, the cron line runs, the Kubernetes manifests parse
/// with the expected kinds, the systemd units have their keys, and every
/// `tandem` command they name exists. The two-host emulation runs for real in
/// `MPIJobTests` below when `TANDEM_BIN` is set.
struct ClusterExamplesTests {
  static let cluster = TandemProcess.packageRoot.appendingPathComponent("Cluster")

  /// What the examples may run: today's subcommands and those of scheduled
  /// retraining (`retrain`, `monitor`, `predict`, `report`, `explain`).
  /// The binary's own list (`tandem --help`), so a new command needs no edit here.
  static let subcommands: Set<String> = {
    let help = (try? TandemProcess.run(["--help"], timeout: 30, environment: ["COLUMNS": "200"]))?.stdout ?? ""
    let listed = help.components(separatedBy: "SUBCOMMANDS:").last ?? ""
    return Set(listed.split(separator: "\n").compactMap { line in
      line.hasPrefix("  ") && !line.hasPrefix("   ") ? line.split(separator: " ").first.map(String.init) : nil
    })
  }()

  static let hasPyYAML: Bool = (try? shell(["python3", "-c", "import yaml"]))?.status == 0
  static let hasSystemdAnalyze: Bool = (try? shell(["sh", "-c", "command -v systemd-analyze"]))?.status == 0

  static func path(_ relative: String) -> String { cluster.appendingPathComponent(relative).path }

  static func text(_ relative: String) throws -> String { try String(contentsOfFile: path(relative), encoding: .utf8) }

  /// Every file under `Cluster/`, as paths relative to it.
  static func files() -> [String] {
    var result: [String] = []
    let enumerator = FileManager.default.enumerator(atPath: cluster.path)
    while let relative = enumerator?.nextObject() as? String {
      var isDirectory: ObjCBool = false
      if FileManager.default.fileExists(atPath: path(relative), isDirectory: &isDirectory), !isDirectory.boolValue {
        result.append(relative)
      }
    }
    return result.sorted()
  }

  /// Runs `arguments` through /usr/bin/env.
  static func shell(_ arguments: [String], environment: [String: String] = [:], directory: URL? = nil,
                    timeout: Double = 60) throws -> TandemProcess.Output {
    try TandemProcess.run([], timeout: timeout, environment: environment, directory: directory,
                          executable: "/usr/bin/env", arguments: arguments)
  }

  static func temporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("tandem-cluster-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
  }

  // MARK: Shell, Slurm, cron

  @Test func shellScriptsAndBatchJobsParseAndAreExecutable() throws {
    let scripts = Self.files().filter { $0.hasSuffix(".sh") || $0.hasSuffix(".sbatch") }
    #expect(Set(scripts).isSuperset(of: ["local/two-hosts.sh", "local/fake-ssh.sh", "slurm/train.sbatch", "slurm/retrain.sbatch"]),
            "\(scripts)")
    for script in scripts {
      let check = try Self.shell(["bash", "-n", Self.path(script)])
      #expect(check.status == 0, "\(script): \(check)")
      #expect(FileManager.default.isExecutableFile(atPath: Self.path(script)), "\(script) is not executable")
    }
  }

  /// `#SBATCH` options, which sbatch reads only above the first command.
  static func sbatchOptions(_ script: String) -> [String: String] {
    let lines = script.split(separator: "\n", omittingEmptySubsequences: false)
    let firstCommand = lines.firstIndex { !$0.isEmpty && !$0.hasPrefix("#") } ?? lines.endIndex
    var options: [String: String] = [:]
    for line in lines[..<firstCommand] where line.hasPrefix("#SBATCH ") {
      let option = line.dropFirst("#SBATCH ".count).split(separator: "=", maxSplits: 1)
      options[String(option[0])] = option.count > 1 ? String(option[1]) : ""
    }
    return options
  }

  @Test func slurmJobsAskForOneCorePerRankAndStartRanksWithSrun() throws {
    let train = try Self.text("slurm/train.sbatch")
    let trainOptions = Self.sbatchOptions(train)
    #expect(trainOptions["--nodes"] != nil, "\(trainOptions)")
    #expect(trainOptions["--ntasks-per-node"] != nil, "\(trainOptions)")
    #expect(trainOptions["--cpus-per-task"] == "1", "\(trainOptions)")
    #expect(train.contains("\nsrun --mpi=pmix tandem train \"${train[@]}\""))
    #expect(trainOptions["--requeue"] != nil && train.contains("scontrol requeue"), "a job stopped on request requeues itself")
    #expect(train.contains("\n# OMPI_MCA_odls_base_sigkill_timeout=30 mpirun "), "the mpirun alternative, commented out, with time to checkpoint on SIGTERM")

    let retrain = try Self.text("slurm/retrain.sbatch")
    #expect(Self.sbatchOptions(retrain)["--cpus-per-task"] == "1")
    #expect(retrain.contains("\ntandem retrain --config "))
    #expect(retrain.contains("launcher = [\"srun\""), "the retrain file's launcher is srun")
  }

  /// The crontab entries: lines that start with a schedule.
  static func cronEntries() throws -> [(schedule: [Substring], command: String)] {
    try text("cron/tandem-retrain.cron").split(separator: "\n").compactMap { line in
      guard let first = line.first, first.isNumber || first == "*" || first == "@" else { return nil }
      let fields = line.split(separator: " ", maxSplits: 5)
      return fields.count == 6 ? (Array(fields[..<5]), String(fields[5])) : ([], String(line))
    }
  }

  @Test func cronLineIsBashWithoutPercentSigns() throws {
    let cron = try Self.text("cron/tandem-retrain.cron")
    #expect(cron.contains("\nSHELL=/bin/bash\n"), "the entry uses PIPESTATUS")
    let entries = try Self.cronEntries()
    #expect(entries.count == 1)
    for entry in entries {
      #expect(entry.schedule.count == 5, "\(entry.command)")
      #expect(!entry.command.contains("%"), "cron turns % into a newline: \(entry.command)")
      #expect(entry.command.contains("tandem retrain --config "))
      let check = try Self.shell(["bash", "-n", "-c", entry.command])
      #expect(check.status == 0, "\(check)")
    }
  }

  /// The cron entry, run as cron would (bash -c) with a stand-in `tandem`
  /// that exits 2: the log gets each line with a timestamp and the exit
  /// status, and the entry prints one line (which cron mails).
  @Test func cronLineLogsWithTimestampsAndReportsFailure() throws {
    let work = try Self.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: work) }
    let bin = work.appendingPathComponent("bin"), srv = work.appendingPathComponent("srv")
    try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
    try FileManager.default.createDirectory(at: srv.appendingPathComponent("log"), withIntermediateDirectories: true)
    let stub = bin.appendingPathComponent("tandem").path
    try "#!/bin/sh\necho \"stub $*\"\necho \"stub warning\" >&2\nexit 2\n".write(toFile: stub, atomically: true, encoding: .utf8)
    try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: stub)
    let entries = try Self.cronEntries()
    let command = try #require(entries.first).command.replacingOccurrences(of: "/srv/tandem", with: srv.path)

    let run = try Self.shell(["bash", "-c", command], environment: ["PATH": "\(bin.path):/usr/bin:/bin"])
    #expect(run.status == 0, "\(run)")
    #expect(run.stdout == "tandem retrain churn exited 2; see \(srv.path)/log/retrain-churn.log\n", "\(run)")
    let log = try String(contentsOfFile: srv.appendingPathComponent("log/retrain-churn.log").path, encoding: .utf8)
    let lines = log.split(separator: "\n")
    #expect(lines.count == 3, "\(log)")
    #expect(lines.allSatisfy { $0.first?.isNumber == true && $0.contains("T") }, "each line starts with a timestamp: \(log)")
    #expect(log.contains(" stub retrain --config retrain-churn.toml\n"), "\(log)")
    #expect(log.contains(" stub warning\n"), "standard error is logged too: \(log)")
    #expect(log.hasSuffix(" tandem retrain exited 2\n"), "\(log)")
  }

  // MARK: systemd

  /// Sections and keys of a unit file; a key given twice keeps both values.
  static func unitFile(_ relative: String) throws -> [String: [String: [String]]] {
    var sections: [String: [String: [String]]] = [:]
    var section = ""
    for line in try text(relative).split(separator: "\n") {
      let trimmed = line.trimmingCharacters(in: .whitespaces)
      if trimmed.isEmpty || trimmed.hasPrefix("#") || trimmed.hasPrefix(";") { continue }
      if trimmed.hasPrefix("[") && trimmed.hasSuffix("]") {
        section = String(trimmed.dropFirst().dropLast())
        sections[section, default: [:]] = sections[section, default: [:]]
        continue
      }
      let pair = trimmed.split(separator: "=", maxSplits: 1)
      sections[section, default: [:]][String(pair[0]), default: []].append(pair.count > 1 ? String(pair[1]) : "")
    }
    return sections
  }

  @Test func systemdServiceIsAOneshotRetrainWithATimeout() throws {
    let unit = try Self.unitFile("systemd/tandem-retrain@.service")
    #expect(Set(unit.keys) == ["Unit", "Service"], "\(unit.keys)")
    #expect(unit["Unit"]?["Description"] != nil)
    let service = try #require(unit["Service"])
    #expect(service["Type"] == ["oneshot"])
    #expect(service["WorkingDirectory"]?.count == 1)
    #expect(service["ExecStart"]?.count == 1)
    #expect(service["ExecStart"]?.first?.hasPrefix("/usr/local/bin/tandem retrain --config ") == true, "\(service)")
    #expect(service["ExecStart"]?.first?.contains("%i") == true, "the instance names the model")
    #expect(service["TimeoutStartSec"] != nil, "oneshot units have no start timeout by default")
    #expect(service["SuccessExitStatus"] == nil, "exit 2 (gates failed) must leave the unit failed")
  }

  @Test func systemdTimerIsDailyPersistentAndSpread() throws {
    let unit = try Self.unitFile("systemd/tandem-retrain@.timer")
    #expect(Set(unit.keys) == ["Unit", "Timer", "Install"], "\(unit.keys)")
    let timer = try #require(unit["Timer"])
    #expect(timer["OnCalendar"]?.count == 1)
    #expect(timer["Persistent"] == ["true"])
    #expect(timer["RandomizedDelaySec"] != nil)
    #expect(timer["Unit"] == nil || timer["Unit"] == ["tandem-retrain@%i.service"])
    #expect(unit["Install"]?["WantedBy"] == ["timers.target"])
  }

  /// `systemd-analyze verify` on a churn instance of both units; it reports
  /// unknown keys and bad values as warnings with exit 0, so any output fails.
  @Test(.enabled(if: ClusterExamplesTests.hasSystemdAnalyze, "needs systemd-analyze"))
  func systemdAnalyzeVerifiesTheUnits() throws {
    let work = try Self.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: work) }
    for suffix in ["service", "timer"] {
      // verify checks that ExecStart's program exists; tandem need not be installed here.
      let unit = try Self.text("systemd/tandem-retrain@.\(suffix)").replacingOccurrences(of: "/usr/local/bin/tandem", with: "/usr/bin/env")
      try unit.write(to: work.appendingPathComponent("tandem-retrain@churn.\(suffix)"), atomically: true, encoding: .utf8)
    }
    let check = try Self.shell(["systemd-analyze", "verify", "--man=no", "./tandem-retrain@churn.service", "./tandem-retrain@churn.timer"],
                               directory: work)
    #expect(check.status == 0, "\(check)")
    #expect(check.stdout.isEmpty && check.stderr.isEmpty, "\(check)")
  }

  // MARK: Kubernetes

  /// The documents of a YAML file, parsed by PyYAML and handed over as JSON.
  static func yamlDocuments(_ relative: String) throws -> [[String: Any]] {
    let script = "import json, sys, yaml\nprint(json.dumps([d for d in yaml.safe_load_all(open(sys.argv[1])) if d is not None]))"
    let run = try shell(["python3", "-c", script, path(relative)])
    guard run.status == 0 else { throw ClusterExampleError("\(relative) does not parse as YAML: \(run.stderr)") }
    guard let documents = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [[String: Any]] else {
      throw ClusterExampleError("\(relative): the documents are not mappings")
    }
    return documents
  }

  /// The value at a path of keys (String) and indices (Int), if any.
  static func value(_ object: Any?, _ path: Any...) -> Any? {
    path.reduce(object) { current, step in
      if let key = step as? String { return (current as? [String: Any])?[key] }
      if let index = step as? Int, let array = current as? [Any], array.indices.contains(index) { return array[index] }
      return nil
    }
  }

  /// Every container's command and arguments, one array per container, in every pod template of `document`.
  static func containerCommands(_ document: [String: Any]) -> [[String]] {
    var commands: [[String]] = []
    func visit(_ node: Any) {
      if let mapping = node as? [String: Any] {
        if let containers = mapping["containers"] as? [[String: Any]] {
          commands += containers.map(command(of:))
        }
        mapping.values.forEach(visit)
      } else if let array = node as? [Any] {
        array.forEach(visit)
      }
    }
    visit(document)
    return commands
  }

  /// The claim names of every pod template's volumes in `document`.
  static func claimNames(_ document: [String: Any]) -> [String] {
    var names: [String] = []
    func visit(_ node: Any) {
      if let mapping = node as? [String: Any] {
        if let claim = mapping["persistentVolumeClaim"] as? [String: Any], let name = claim["claimName"] as? String { names.append(name) }
        mapping.values.forEach(visit)
      } else if let array = node as? [Any] {
        array.forEach(visit)
      }
    }
    visit(document)
    return names
  }

  /// A container's command followed by its arguments.
  static func command(of container: [String: Any]) -> [String] {
    ((container["command"] as? [Any]) ?? []).map { "\($0)" } + ((container["args"] as? [Any]) ?? []).map { "\($0)" }
  }

  static func environment(_ container: [String: Any]) -> [String: String] {
    var result: [String: String] = [:]
    for variable in (value(container, "env") as? [[String: Any]]) ?? [] {
      if let name = variable["name"] as? String { result[name] = variable["value"] as? String }
    }
    return result
  }

  @Test(.enabled(if: ClusterExamplesTests.hasPyYAML, "needs python3 with PyYAML (Scripts/bootstrap.sh installs it)"))
  func mpiJobRunsOneRankPerWorkerOnASharedClaim() throws {
    let documents = try Self.yamlDocuments("kubernetes/mpijob.yaml")
    #expect(documents.map { $0["kind"] as? String } == ["PersistentVolumeClaim", "MPIJob"])
    let claim = try #require(documents.first { $0["kind"] as? String == "PersistentVolumeClaim" })
    let job = try #require(documents.first { $0["kind"] as? String == "MPIJob" })
    #expect(job["apiVersion"] as? String == "kubeflow.org/v2beta1")
    #expect((Self.value(claim, "spec", "accessModes") as? [String]) == ["ReadWriteMany"])
    let claimName = try #require(Self.value(claim, "metadata", "name") as? String)
    #expect(Set(Self.claimNames(job)) == [claimName])

    let slots = try #require(Self.value(job, "spec", "slotsPerWorker") as? Int)
    #expect(slots == 1)
    let specs = try #require(Self.value(job, "spec", "mpiReplicaSpecs") as? [String: Any])
    #expect(Set(specs.keys) == ["Launcher", "Worker"])
    let launcher = try #require(Self.value(specs, "Launcher", "template", "spec", "containers", 0) as? [String: Any])
    let launcherCommand = Self.command(of: launcher)
    #expect(launcherCommand.first == "mpirun", "\(launcherCommand)")
    let tail = Array(launcherCommand.suffix(4))
    #expect(tail == ["tandem", "train", "--config", "/data/run.toml"], "\(launcherCommand)")
    let workers = try #require(Self.value(specs, "Worker", "replicas") as? Int)
    let np = launcherCommand.firstIndex(of: "-np").flatMap { launcherCommand.indices.contains($0 + 1) ? Int(launcherCommand[$0 + 1]) : nil }
    #expect(np == workers * slots, "mpirun -np must be Worker replicas x slotsPerWorker: \(launcherCommand)")

    let worker = try #require(Self.value(specs, "Worker", "template", "spec", "containers", 0) as? [String: Any])
    #expect(Self.value(worker, "resources", "requests", "cpu") as? String == "1")
    #expect(Self.value(worker, "resources", "limits", "cpu") as? String == "1")
    for container in [launcher, worker] {
      let env = Self.environment(container)
      #expect(env["OMP_NUM_THREADS"] == "1" && env["OPENBLAS_NUM_THREADS"] == "1", "\(env)")
    }
  }

  @Test(.enabled(if: ClusterExamplesTests.hasPyYAML, "needs python3 with PyYAML (Scripts/bootstrap.sh installs it)"))
  func retrainCronJobNeverOverlapsNorRetries() throws {
    let documents = try Self.yamlDocuments("kubernetes/retrain-cronjob.yaml")
    #expect(documents.map { $0["kind"] as? String } == ["CronJob"])
    let cronJob = try #require(documents.first)
    #expect(cronJob["apiVersion"] as? String == "batch/v1")
    #expect(Self.value(cronJob, "spec", "concurrencyPolicy") as? String == "Forbid")
    #expect((Self.value(cronJob, "spec", "schedule") as? String)?.split(separator: " ").count == 5)
    #expect(Self.value(cronJob, "spec", "jobTemplate", "spec", "backoffLimit") as? Int == 0)
    #expect(Self.value(cronJob, "spec", "jobTemplate", "spec", "template", "spec", "restartPolicy") as? String == "Never")
    #expect(Self.claimNames(cronJob) == ["tandem-data"], "the claim of mpijob.yaml")
    let command = Self.containerCommands(cronJob)
    #expect(command == [["tandem", "retrain", "--config", "retrain-churn.toml"]], "\(command)")
  }

  // MARK: Every tandem command named

  /// `tandem SUBCOMMAND` in the text of every file (also `/path/tandem` and
  /// `"$tandem"`), and the word after `tandem` in Kubernetes command arrays.
  /// Prose in Cluster/ therefore writes the program as `tandem` in backticks.
  @Test func everyTandemCommandInClusterIsAKnownSubcommand() throws {
    let pattern = try NSRegularExpression(pattern: #"(?<![\w.-])\$?tandem"?[ \t]+([a-z][a-z-]*)(?=[\s"`]|$)"#,
                                          options: [.anchorsMatchLines])
    var named: [(file: String, subcommand: String)] = []
    for file in Self.files() {
      let text = try Self.text(file)
      for match in pattern.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
        if let range = Range(match.range(at: 1), in: text) { named.append((file, String(text[range]))) }
      }
      if file.hasSuffix(".yaml") && Self.hasPyYAML {
        for document in try Self.yamlDocuments(file) {
          for command in Self.containerCommands(document) {
            for (index, word) in command.enumerated() where word == "tandem" && index + 1 < command.count {
              named.append((file, command[index + 1]))
            }
          }
        }
      }
    }
    let unknown = named.filter { !Self.subcommands.contains($0.subcommand) }
    #expect(unknown.isEmpty, "not tandem subcommands: \(unknown.map { "\($0.file): tandem \($0.subcommand)" })")
    // The scan must find the commands the examples are about.
    #expect(Set(named.map(\.subcommand)).isSuperset(of: ["train", "retrain", "diagnose"]), "\(named)")
  }
}

struct ClusterExampleError: Error, CustomStringConvertible {
  let description: String
  init(_ description: String) { self.description = description }
}

extension MPIJobTests {
  /// Cluster/local/two-hosts.sh: two Open MPI nodes on this machine, each
  /// with its own working directory. `diagnose` checks MPI across them;
  /// `train` trains with scatter while only host-a holds the data.
  @Test(.enabled(if: ProcessInfo.processInfo.environment["TANDEM_BIN"] != nil, "needs TANDEM_BIN"),
        arguments: ["diagnose", "train"])
  func twoEmulatedHostsRunTandem(mode: String) throws {
    let work = try ClusterExamplesTests.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: work) }
    let run = try ClusterExamplesTests.shell(["bash", ClusterExamplesTests.path("local/two-hosts.sh"), mode],
                                             environment: ["TWO_HOSTS_DIR": work.path, "TANDEM_BIN": TandemProcess.binary.path],
                                             timeout: 300)
    #expect(run.status == 0, "\(run)")
    if mode == "diagnose" {
      #expect(run.stdout.contains("rank 0/2"), "\(run)")
      #expect(run.stdout.contains("rank 1/2"), "\(run)")
      #expect(run.stdout.contains("mpi ok: 2 ranks"), "\(run)")
    } else {
      let runs = try FileManager.default.contentsOfDirectory(atPath: work.appendingPathComponent("host-a/runs").path)
      #expect(runs.count == 1, "\(runs)")
      #expect(runs.allSatisfy { FileManager.default.fileExists(atPath: work.appendingPathComponent("host-a/runs/\($0)/model.h5").path) })
      let hostB = try FileManager.default.contentsOfDirectory(atPath: work.appendingPathComponent("host-b").path)
      #expect(hostB == ["run.toml"], "host-b, without the data, must have read and written nothing")
    }
  }
}
