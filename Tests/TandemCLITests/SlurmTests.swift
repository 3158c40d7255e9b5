import Foundation
import Testing
import TandemTestSupport

/// A real one-node Slurm cluster on localhost, started by the tests (root;
/// Scripts/test.sh installs Debian's slurm-wlm and munge): its own state
/// directory and ports, munge's default socket, job completions in a text
/// file (no accounting database), `RealMemory` so `--mem-per-cpu` is accepted.
enum SlurmCluster {
  static let available = getuid() == 0 && ["/usr/sbin/slurmctld", "/usr/sbin/slurmd", "/usr/bin/sbatch", "/usr/sbin/munged"]
    .allSatisfy { FileManager.default.isExecutableFile(atPath: $0) }
  static let unavailable: Comment = "needs root and slurm-wlm + munge (Scripts/test.sh installs them)"
  static let directory = Fixtures.directory.appendingPathComponent("slurm").path
  static var conf: String { directory + "/slurm.conf" }
  static let port = 17_000 + Int(getpid() % 1_000) * 2

  /// What every Slurm client and job here needs: the configuration, and `tandem` on PATH.
  static var environment: [String: String] {
    let bin = TandemProcess.binary.deletingLastPathComponent().path
    return ["SLURM_CONF": conf, "PATH": bin + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"),
            "TANDEM_PROGRESS": "plain", "OMPI_MCA_btl": "self,vader,tcp"]
  }

  static func shell(_ command: String, timeout: Double = 120, in directory: String? = nil) throws -> TandemProcess.Output {
    try TandemProcess.run([], timeout: timeout, environment: environment, directory: directory.map { URL(fileURLWithPath: $0) },
                          executable: "/bin/bash", arguments: ["-c", command])
  }

  /// The daemons get no descriptor of ours: Foundation learns that a child
  /// exited when a socket it shares with the child closes, so a daemon that
  /// inherited it (munged keeps every descriptor but 0-2) would leave the
  /// harness waiting for an exit it never sees; a pipe, likewise, its end.
  static func start() throws {
    stop()
    try? FileManager.default.removeItem(atPath: directory)
    for sub in ["state", "spool", "work"] {
      try FileManager.default.createDirectory(atPath: directory + "/" + sub, withIntermediateDirectories: true)
    }
    try """
      ClusterName=tandemtest
      SlurmctldHost=localhost
      SlurmctldPort=\(port)
      SlurmdPort=\(port + 1)
      AuthType=auth/munge
      ProctrackType=proctrack/linuxproc
      TaskPlugin=task/none
      SchedulerType=sched/builtin
      SelectType=select/cons_tres
      SelectTypeParameters=CR_Core_Memory
      StateSaveLocation=\(directory)/state
      SlurmdSpoolDir=\(directory)/spool
      SlurmctldPidFile=\(directory)/slurmctld.pid
      SlurmdPidFile=\(directory)/slurmd.pid
      SlurmctldLogFile=\(directory)/slurmctld.log
      SlurmdLogFile=\(directory)/slurmd.log
      JobCompType=jobcomp/filetxt
      JobCompLoc=\(directory)/jobcomp.txt
      MpiDefault=none
      ReturnToService=2
      SlurmUser=root
      SlurmdUser=root
      NodeName=localhost CPUs=2 RealMemory=8000 State=UNKNOWN
      PartitionName=test Nodes=localhost Default=YES MaxTime=INFINITE State=UP
      """.write(toFile: conf, atomically: true, encoding: .utf8)
    let daemons = try shell("""
      for fd in /proc/$$/fd/*; do fd=${fd##*/}; [ "$fd" -gt 2 ] && eval "exec $fd>&-"; done 2>/dev/null
      if ! munge -n >/dev/null 2>&1; then
        mkdir -p /run/munge && chown munge:munge /run/munge && munged --force </dev/null >/dev/null 2>&1
      fi
      slurmctld -f "$SLURM_CONF" </dev/null >/dev/null 2>&1 && slurmd -f "$SLURM_CONF" -N localhost </dev/null >/dev/null 2>&1
      for i in $(seq 1 100); do [ "$(sinfo -h -o %T 2>/dev/null)" = idle ] && exit 0; sleep 0.2; done
      echo "the node did not come up"; cat "\(directory)/slurmctld.log" "\(directory)/slurmd.log"; exit 1
      """)
    guard daemons.status == 0 else { throw FixtureError(description: "one-node Slurm did not start: \(daemons)") }
  }

  static func stop() {
    _ = try? shell("scontrol shutdown >/dev/null 2>&1; pkill -f \"slurm(ctl)?d -f \(conf)\"; sleep 0.5")
  }

  /// What the scheduler says about its node and queue, and its logs' ends:
  /// why a job did not run.
  static func diagnosis() -> String {
    let text = try? shell("""
      sinfo -N -o '%N %T %E' 2>&1; squeue -o '%i %T %r' 2>&1
      tail -n 20 "\(directory)/slurmctld.log" "\(directory)/slurmd.log" 2>&1
      """, timeout: 30)
    return text.map { $0.stdout + $0.stderr } ?? ""
  }

  /// The job's last completion record: its state and `ExitCode` (e.g. `FAILED`, `2:0`).
  static func completion(_ job: String) throws -> (state: String, exitCode: String)? {
    let text = (try? String(contentsOfFile: directory + "/jobcomp.txt", encoding: .utf8)) ?? ""
    guard let line = text.split(separator: "\n").last(where: { $0.hasPrefix("JobId=\(job) ") }) else { return nil }
    func field(_ name: String) -> String? {
      line.split(separator: " ").first { $0.hasPrefix(name + "=") }.map { String($0.dropFirst(name.count + 1)) }
    }
    return (field("JobState") ?? "?", field("ExitCode") ?? "?")
  }

  /// `sbatch --wait SCRIPT ARGS` in the work directory: its status and the job id.
  static func sbatch(_ script: String, _ arguments: [String]) throws -> (status: Int32, job: String, output: TandemProcess.Output) {
    let path = TandemProcess.packageRoot.appendingPathComponent("Cluster/slurm/\(script)").path
    let run = try shell("sbatch --wait '\(path)' \(arguments.map { "'\($0)'" }.joined(separator: " "))", timeout: 180,
                        in: directory + "/work")
    let job = run.stdout.split(separator: " ").last.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) } ?? "?"
    return (run.status, job, run)
  }
}

extension MPIJobTests {
  /// The project's own Cluster/slurm/train.sbatch and retrain.sbatch, unchanged,
  /// through `sbatch --wait` on a real one-node Slurm: the training completes;
  /// each retrain case of Cluster/README.md ends with its documented status,
  /// which Slurm records (a launcher refused by srun is FAILED 1:0, not 64).
  @Test(.enabled(if: SlurmCluster.available, SlurmCluster.unavailable)) func theProjectsSlurmScriptsRunOnARealOneNodeCluster() throws {
    try SlurmCluster.start()
    defer { SlurmCluster.stop() }
    let work = SlurmCluster.directory + "/work"
    let csv = TandemProcess.packageRoot.appendingPathComponent("Data/sample/telco/WA_Fn-UseC_-Telco-Customer-Churn.csv").path
    #expect(try TandemProcess.run(["ingest", "csv", csv, "--label", "Churn", "--id", "customerID", "--out", work + "/churn.h5"]).status == 0)
    try "model = \"churn-mlp\"\ndataset = \"churn.h5\"\nseed = 1\nepochs = 2\n".write(toFile: work + "/run.toml", atomically: true, encoding: .utf8)
    try "model = \"churn-mlp\"\ndataset = \"churn.h5\"\nseed = 1\nepochs = 2\n[release]\nmin_auc = 0.99\n"
      .write(toFile: work + "/strict.toml", atomically: true, encoding: .utf8)

    // A cluster that cannot run this job would leave every later one pending: stop here.
    let trained = try SlurmCluster.sbatch("train.sbatch", ["run.toml"])
    try #require(trained.status == 0, "\(trained.output)\n\(SlurmCluster.diagnosis())")
    #expect(try SlurmCluster.completion(trained.job)?.state == "COMPLETED")
    let log = try String(contentsOfFile: work + "/tandem-train-\(trained.job).out", encoding: .utf8)
    #expect(log.contains("2 rank(s)") && log.contains("results: "), "\(log)")

    func retrain(_ name: String, run: String, ranks: Int) throws {
      try """
        model = "churn"
        run = "\(run)"
        data = "churn.h5"
        store = "store"
        ranks = \(ranks)
        launcher = ["srun", "--mpi=pmix", "--ntasks", "{ranks}"]
        """.write(toFile: work + "/retrain-\(name).toml", atomically: true, encoding: .utf8)
    }
    // srun refuses more tasks than the allocation holds: 1, never the usage code.
    try retrain("too-many", run: "run.toml", ranks: 4)
    // Trained, but below its gate: 2, production unchanged.
    try retrain("strict", run: "strict.toml", ranks: 2)
    // Trained and promoted, then nothing due: 0 both times.
    try retrain("ok", run: "run.toml", ranks: 2)
    for (file, status, state, code) in [("too-many", Int32(1), "FAILED", "1:0"), ("strict", 2, "FAILED", "2:0"),
                                        ("ok", 0, "COMPLETED", "0:0"), ("ok", 0, "COMPLETED", "0:0")] {
      let job = try SlurmCluster.sbatch("retrain.sbatch", ["retrain-\(file).toml"])
      let completion = try SlurmCluster.completion(job.job)
      let printed = (try? String(contentsOfFile: work + "/tandem-retrain-\(job.job).out", encoding: .utf8)) ?? ""
      #expect(job.status == status && completion?.state == state && completion?.exitCode == code,
              "\(file): exit \(job.status), \(String(describing: completion)): \(job.output)\n\(printed)")
    }
    let last = try String(contentsOfFile: work + "/tandem-retrain-\(try SlurmCluster.sbatch("retrain.sbatch", ["retrain-ok.toml"]).job).out",
                          encoding: .utf8)
    #expect(last.contains("not due"), "\(last)")
  }

  /// `scancel --signal=TERM` (what preemption and the time limit send) on a
  /// running train.sbatch job: the ranks checkpoint and exit 75, the job
  /// requeues itself, resumes its run when started again and completes; the
  /// model is bit for bit the one an uninterrupted run makes.
  @Test(.enabled(if: SlurmCluster.available, SlurmCluster.unavailable)) func aPreemptedSlurmTrainingRequeuesResumesAndEndsBitwiseIdentical() throws {
    try SlurmCluster.start()
    defer { SlurmCluster.stop() }
    let work = SlurmCluster.directory + "/work"
    try FileManager.default.copyItem(atPath: try SmallXray.dataset, toPath: work + "/xray.h5")
    let toml = "model = \"xray-cnn\"\ndataset = \"xray.h5\"\nseed = 6\nepochs = 60\n[training]\nglobal_batch = 16\ncheckpoint_every = 10\n"
    try toml.write(toFile: work + "/run.toml", atomically: true, encoding: .utf8)

    let done = DispatchSemaphore(value: 0)
    nonisolated(unsafe) var result: Result<(status: Int32, job: String, output: TandemProcess.Output), any Error>?
    DispatchQueue.global().async { result = Result { try SlurmCluster.sbatch("train.sbatch", ["run.toml"]) }; done.signal() }
    // After the first checkpoint: the signal, then (past Slurm's delay for a requeued job) a start now.
    let preempted = try SlurmCluster.shell("""
      for i in $(seq 1 300); do ls runs/*/checkpoints/*.h5 >/dev/null 2>&1 && break; sleep 0.1; done
      job=$(squeue -h -o %i | head -1); scancel --signal=TERM "$job"
      for i in $(seq 1 300); do [ "$(squeue -h -j "$job" -o %t)" = PD ] && break; sleep 0.1; done
      scontrol update JobId="$job" StartTime=now; echo "$job"
      """, in: work)
    #expect(preempted.status == 0, "\(preempted)")
    done.wait()
    let job = try result!.get()
    let completed = try SlurmCluster.completion(job.job)
    #expect(job.status == 0 && completed?.state == "COMPLETED", "\(job.output)")
    let log = try String(contentsOfFile: work + "/tandem-train-\(job.job).out", encoding: .utf8)
    #expect(log.contains("stopped by SIGTERM") && log.contains("requeueing job") && log.contains("resuming "), "\(log)")
    let run = try String(contentsOfFile: work + "/tandem-train-\(job.job).run", encoding: .utf8)

    let alone = Fixtures.directory.appendingPathComponent("slurm-alone-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: alone, withIntermediateDirectories: true)
    try FileManager.default.copyItem(atPath: work + "/xray.h5", toPath: alone + "/xray.h5")
    try toml.write(toFile: alone + "/run.toml", atomically: true, encoding: .utf8)
    let uninterrupted = try TandemProcess.run(["train", "--config", "run.toml"], timeout: 300, environment: ["TANDEM_PROGRESS": "plain"],
                                              directory: URL(fileURLWithPath: alone))
    let directory = try #require(Fixtures.runDirectory(from: uninterrupted.stdout), "\(uninterrupted)")
    #expect(try bits(run) == (try bits(alone + "/" + directory)))
  }
}
