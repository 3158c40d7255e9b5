import Foundation
import Testing
import TandemData
import TandemStore
import TandemTestSupport

/// Three "months" of churn data cut from the Telco table: the first to train
/// on, a second like it, and a third with MonthlyCharges raised 30 % + 15 and
/// 60 % of one- and two-year contracts turned month-to-month.
enum ChurnMonths {
  static var directory: String { get throws { try made.get() } }
  private static let made = Result { () throws -> String in
    let dir = Fixtures.directory.appendingPathComponent("months").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    let csv = try String(contentsOfFile: Fixtures.sharedData.appendingPathComponent("telco/WA_Fn-UseC_-Telco-Customer-Churn.csv").path,
                          encoding: .utf8)
    var lines = csv.split(whereSeparator: \.isNewline).map(String.init)
    let header = lines.removeFirst()
    let columns = header.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
    let charges = columns.firstIndex(of: "MonthlyCharges")!, contract = columns.firstIndex(of: "Contract")!
    var state: UInt64 = 7
    func uniform() -> Double {   // a fixed sequence, so the drifted month is the same every run
      state = state &* 6364136223846793005 &+ 1442695040888963407
      return Double(state >> 11) / Double(1 << 53)
    }
    let drifted = lines[4000...].map { line -> String in
      var cells = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
      cells[charges] = String(format: "%.2f", Double(cells[charges])! * 1.3 + 15)
      if cells[contract] != "Month-to-month" && uniform() < 0.6 { cells[contract] = "Month-to-month" }
      return cells.joined(separator: ",")
    }
    for (name, rows) in [("month1", Array(lines[..<3000])), ("month2", Array(lines[3000..<4000])), ("month3", drifted)] {
      try ([header] + rows).joined(separator: "\n").appending("\n").write(toFile: "\(dir)/\(name).csv", atomically: true, encoding: .utf8)
      let run = try TandemProcess.run(["ingest", "csv", "\(dir)/\(name).csv", "--label", "Churn", "--id", "customerID",
                                        "--out", "\(dir)/\(name).h5"])
      guard run.status == 0 else { throw FixtureError(description: "ingest of \(name) failed: \(run)") }
    }
    return dir
  }
}

/// `tandem ARGUMENTS` (under mpirun with `ranks`) in `directory`, progress as plain lines.
func tandemCommand(_ arguments: [String], ranks: Int? = nil, in directory: URL) throws -> TandemProcess.Output {
  try TandemProcess.run(arguments, ranks: ranks, timeout: 300, environment: ["TANDEM_PROGRESS": "plain"], directory: directory)
}

extension MPIJobTests {
  /// Ingest a month, train, evaluate, promote; a version below its gates is
  /// refused and production stays; `monitor` flags the drifted month only;
  /// `retrain` does nothing on the steady month and retrains and promotes on
  /// the drifted one; two retrains launched together: exactly one runs.
  @Test(.enabled(if: Fixtures.hasSharedData, Fixtures.sharedDataMissing)) func churnModelLifecycleFromTrainingToDriftTriggeredRetraining() throws {
    let months = try ChurnMonths.directory
    let home = (Fixtures.runFile("") as NSString).deletingLastPathComponent
    let here = URL(fileURLWithPath: home)
    func tandem(_ arguments: [String], ranks: Int? = nil) throws -> TandemProcess.Output { try tandemCommand(arguments, ranks: ranks, in: here) }
    let run = """
      model = "churn-mlp"
      dataset = "\(months)/month1.h5"
      seed = 1
      epochs = 10
      """
    try run.write(toFile: home + "/churn.toml", atomically: true, encoding: .utf8)

    // Train, evaluate, promote.
    let trained = try tandem(["train", "--config", "churn.toml"], ranks: 2)
    #expect(trained.status == 0, "\(trained)")
    let runDirectory = try #require(Fixtures.runDirectory(from: trained.stdout))
    let evaluated = try tandem(["evaluate", runDirectory])
    #expect(evaluated.status == 0 && evaluated.stdout.contains("registered churn version 1"), "\(evaluated)")
    #expect(FileManager.default.fileExists(atPath: home + "/" + runDirectory + "/evaluation-test.json"))
    let promoted = try tandem(["models", "promote", "churn@1"])
    #expect(promoted.status == 0, "\(promoted)")
    let store = try Store(root: home + "/store", create: false)
    #expect(try store.registry.modelVersion(name: "churn").version == 1)

    // A version whose gate it cannot meet is refused; production stays at 1.
    try (run + "\n[release]\nmin_auc = 0.99\n").write(toFile: home + "/strict.toml", atomically: true, encoding: .utf8)
    let strict = try tandem(["train", "--config", "strict.toml"], ranks: 2)
    let strictRun = try #require(Fixtures.runDirectory(from: strict.stdout))
    #expect(try tandem(["evaluate", strictRun]).stdout.contains("registered churn version 2"))
    let refused = try tandem(["models", "promote", "churn", "2"])
    #expect(refused.status == 1, "\(refused)")
    let line = tandemLines(refused.stderr)
    #expect(line.count == 1 && line[0].contains("not promoted: ROC AUC") && line[0].contains("below the gate 0.9900")
            && line[0].contains("production stays version 1"), "\(refused.stderr)")
    #expect(try store.registry.modelVersion(name: "churn").version == 1)
    #expect(try store.registry.promotions(name: "churn").map(\.accepted) == [true, false])

    // Drift: the steady month passes, the drifted one is flagged on the two columns changed.
    let steady = try tandem(["monitor", "--model", "churn", "--data", "\(months)/month2.h5"])
    #expect(steady.status == 0 && steady.stdout.contains("no retraining due"), "\(steady)")
    let drifted = try tandem(["monitor", "--model", "churn", "--data", "\(months)/month3.h5", "--out", "drift.json"])
    #expect(drifted.status == 3, "\(drifted)")
    let flagged = drifted.stdout.split(separator: "\n").filter { $0.hasPrefix("due: ") && $0.contains("drifted") }
    #expect(flagged.count == 2 && flagged.contains { $0.contains("MonthlyCharges") } && flagged.contains { $0.contains("Contract") },
            "\(drifted.stdout)")

    // Retrain: nothing on the steady month; the drifted month retrains and is promoted by one of two jobs.
    func retrainFile(_ month: String) throws {
      try """
        model = "churn"
        run = "churn.toml"
        data = "\(months)/\(month).h5"
        ranks = 2
        launcher = ["mpirun", "--oversubscribe", "-np", "{ranks}"]
        """.write(toFile: home + "/retrain.toml", atomically: true, encoding: .utf8)
    }
    try retrainFile("month2")
    let quiet = try tandem(["retrain", "--config", "retrain.toml"])
    #expect(quiet.status == 0 && quiet.stdout.contains("not due: no drift"), "\(quiet)")
    #expect(try store.registry.modelVersions(name: "churn").count == 2)
    // The same decision for scripts: one JSON document, progress on standard error.
    try FileManager.default.createDirectory(atPath: home + "/textfile", withIntermediateDirectories: true)
    let quietJSON = try tandem(["retrain", "--config", "retrain.toml", "--json", "--metrics-dir", "textfile"])
    let decision = (try? JSONSerialization.jsonObject(with: Data(quietJSON.stdout.utf8)) as? [String: Any])?["decision"] as? [String: Any]
    #expect(quietJSON.status == 0 && decision?["outcome"] as? String == "not due" && decision?["model"] as? String == "churn"
            && quietJSON.stderr.contains("not due"), "\(quietJSON)")
    // ... and for monitoring: the last outcome, its exit status, the production version.
    let prom = home + "/textfile/tandem_retrain_churn.prom"
    #expect(try promtoolComplaint(prom) == nil)
    let retrainMetrics = try promSamples(prom)
    #expect(retrainMetrics["tandem_retrain_last_outcome{model=\"churn\",outcome=\"not due\"}"] == 1
            && retrainMetrics["tandem_retrain_last_outcome{model=\"churn\",outcome=\"promoted\"}"] == 0
            && retrainMetrics["tandem_retrain_last_exit_code{model=\"churn\"}"] == 0
            && retrainMetrics["tandem_model_production_version{model=\"churn\"}"] == 1, "\(retrainMetrics)")

    try retrainFile("month3")
    let results = Results()
    DispatchQueue.concurrentPerform(iterations: 2) { _ in
      results.append(Result { try TandemProcess.run(["retrain", "--config", "retrain.toml"], timeout: 300,
                                                    environment: ["TANDEM_PROGRESS": "plain"], directory: here) })
    }
    let outputs = try results.values.map { try $0.get() }
    #expect(outputs.allSatisfy { $0.status == 0 }, "\(outputs)")
    let ran = outputs.filter { $0.stdout.contains("is in production") }
    let skipped = outputs.filter { $0.stdout.contains("another retrain of churn (or the training it launched) is running") }
    #expect(ran.count == 1 && skipped.count == 1, "\(outputs)")
    let production = try store.registry.modelVersion(name: "churn")
    #expect(production.version == 3 && production.metrics.champion?.version == 1, "\(production)")
    #expect(try store.registry.retrainDecisions(model: "churn").map(\.outcome.rawValue).sorted() == ["not due", "not due", "promoted", "skipped"])

    // A retrain killed while its training runs: the training holds the
    // retrain's second lock (TANDEM_HOLD_LOCK), so the next retrain stays out.
    let trainingLock = home + "/store/locks/retrain-churn.training.lock"
    do {
      let held = try FileLock(path: trainingLock, waiting: false, busy: "test")
      let blocked = try tandem(["retrain", "--config", "retrain.toml"])
      #expect(blocked.status == 0 && blocked.stdout.contains("(or the training it launched) is running"), "\(blocked)")
      let second = try TandemProcess.run(["train", "--config", "churn.toml"], timeout: 120,
                                         environment: ["TANDEM_HOLD_LOCK": trainingLock], directory: here)
      #expect(second.status == 1 && second.stderr.contains("another training holds this retrain lock"), "\(second)")
      withExtendedLifetime(held) {}
    }

    // A launcher that fails is a runtime failure: exit 1, never the usage code 64.
    // (A model with no production version yet, so retraining is due.)
    try retrainFile("month3")
    try String(contentsOfFile: home + "/retrain.toml", encoding: .utf8)
      .replacingOccurrences(of: "launcher = [\"mpirun\", \"--oversubscribe\", \"-np\", \"{ranks}\"]", with: "launcher = [\"false\"]")
      .replacingOccurrences(of: "model = \"churn\"", with: "model = \"churn-fresh\"")
      .write(toFile: home + "/retrain.toml", atomically: true, encoding: .utf8)
    let failed = try tandem(["retrain", "--config", "retrain.toml"])
    #expect(failed.status == 1 && failed.stderr.contains("training failed (exit 1)"), "\(failed)")
  }
}

private final class Results: @unchecked Sendable {
  private let lock = NSLock()
  private var stored: [Result<TandemProcess.Output, any Error>] = []
  func append(_ value: Result<TandemProcess.Output, any Error>) { lock.lock(); stored.append(value); lock.unlock() }
  var values: [Result<TandemProcess.Output, any Error>] { lock.lock(); defer { lock.unlock() }; return stored }
}

extension MPIJobTests {
  /// Batch scoring of churn CSV rows on 2 ranks equals 1 rank bit for bit and
  /// keeps input order; the audit log verifies, and fails once the stored
  /// model file is tampered with; bad CSVs and unknown models are clear errors.
  @Test(.enabled(if: Fixtures.hasSharedData, Fixtures.sharedDataMissing)) func churnScoringIsShardedOrderedAuditedAndVerifiable() throws {
    let months = try ChurnMonths.directory
    let home = (Fixtures.runFile("") as NSString).deletingLastPathComponent
    let here = URL(fileURLWithPath: home)
    func tandem(_ arguments: [String], ranks: Int? = nil) throws -> TandemProcess.Output { try tandemCommand(arguments, ranks: ranks, in: here) }
    try "model = \"churn-mlp\"\ndataset = \"\(months)/month1.h5\"\nseed = 2\nepochs = 8\n"
      .write(toFile: home + "/churn.toml", atomically: true, encoding: .utf8)
    let trained = try tandem(["train", "--config", "churn.toml"], ranks: 2)
    let run = try #require(Fixtures.runDirectory(from: trained.stdout), "\(trained)")
    #expect(try tandem(["evaluate", run]).status == 0)
    #expect(try tandem(["models", "promote", "churn", "1"]).status == 0)

    let two = try tandem(["predict", "--model", "churn", "--input", "\(months)/month2.csv", "--out", "two.csv"], ranks: 2)
    #expect(two.status == 0 && two.stdout.contains("1000 predictions by churn@1"), "\(two)")
    let one = try tandem(["predict", "--model", "churn@1", "--input", "\(months)/month2.csv", "--out", "one.csv"], ranks: 1)
    #expect(one.status == 0, "\(one)")
    let rows = try String(contentsOfFile: home + "/two.csv", encoding: .utf8).split(separator: "\n")
    #expect(rows.count == 1001 && rows[0] == "id,probability,label,threshold,needs_review")
    #expect(try Data(contentsOf: URL(fileURLWithPath: home + "/two.csv")) == Data(contentsOf: URL(fileURLWithPath: home + "/one.csv")))
    let ids = try String(contentsOfFile: "\(months)/month2.csv", encoding: .utf8).split(separator: "\n").dropFirst()
      .map { String($0.split(separator: ",")[0]) }
    #expect(rows.dropFirst().map { String($0.split(separator: ",")[0]) } == ids, "predictions are not in input order")

    let verified = try tandem(["audit", "verify", "--model", "churn", "--sample", "300"])
    #expect(verified.status == 0 && verified.stdout.contains("300 of 300 sampled predictions (of 2000 logged) reproduced exactly"),
            "\(verified)")

    // Delayed ground truth joined with the audit log: the live metric; inverted outcomes are decay.
    let table = try String(contentsOfFile: "\(months)/month2.csv", encoding: .utf8).split(separator: "\n").map {
      $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
    }
    let churn = table[0].firstIndex(of: "Churn")!
    let outcomes = table.dropFirst().map { "\($0[0]),\($0[churn])" }
    try (["id,label"] + outcomes).joined(separator: "\n").write(toFile: home + "/outcomes.csv", atomically: true, encoding: .utf8)
    let inverted = table.dropFirst().map { "\($0[0]),\($0[churn] == "Yes" ? 0 : 1)" }
    try (["id,label"] + inverted).joined(separator: "\n").write(toFile: home + "/inverted.csv", atomically: true, encoding: .utf8)
    let live = try tandem(["monitor", "--model", "churn", "--data", "\(months)/month2.h5", "--labels", "outcomes.csv"])
    #expect(live.stdout.contains("live metrics from the audit log, 1000 predictions with delayed labels"), "\(live)")
    #expect(!live.stdout.contains("(audit log)"), "\(live)")
    let decayed = try tandem(["monitor", "--model", "churn", "--data", "\(months)/month2.h5", "--labels", "inverted.csv"])
    #expect(decayed.status == 3 && decayed.stdout.contains("due: live ROC AUC") && decayed.stdout.contains("(audit log)"), "\(decayed)")

    // A CSV without a column the model needs; a row with a category never seen in training.
    var lines = try String(contentsOfFile: "\(months)/month2.csv", encoding: .utf8).split(separator: "\n").map(String.init)
    let header = lines[0].split(separator: ",").map(String.init)
    let contract = header.firstIndex(of: "Contract")!
    try (lines.map { $0.split(separator: ",", omittingEmptySubsequences: false).enumerated()
      .filter { $0.offset != contract }.map { String($0.element) }.joined(separator: ",") }.joined(separator: "\n") + "\n")
      .write(toFile: home + "/no-contract.csv", atomically: true, encoding: .utf8)
    let missing = try tandem(["predict", "--model", "churn", "--input", "no-contract.csv", "--out", "x.csv"])
    #expect(missing.status != 0 && tandemLines(missing.stderr).first?.contains("no column 'Contract', which the model needs") == true,
            "\(missing)")
    #expect(!FileManager.default.fileExists(atPath: home + "/x.csv"))
    var cells = lines[5].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
    cells[contract] = "Ten year"
    lines[5] = cells.joined(separator: ",")
    try (lines.joined(separator: "\n") + "\n").write(toFile: home + "/odd.csv", atomically: true, encoding: .utf8)
    let odd = try tandem(["predict", "--model", "churn", "--input", "odd.csv", "--out", "odd-preds.csv"], ranks: 2)
    #expect(odd.status == 0 && odd.stdout.contains("999 predictions") && odd.stdout.contains("1 not scored"), "\(odd)")
    let errors = try String(contentsOfFile: home + "/odd-preds.csv.errors", encoding: .utf8)
    #expect(errors.contains(cells[0]) && errors.contains("line 6") && errors.contains("'Ten year' in column 'Contract' was never seen"),
            "\(errors)")

    for (reference, expected) in [("pneumonia", "no model named 'pneumonia' (known: churn)"), ("churn@7", "model churn has no version 7")] {
      let bad = try tandem(["predict", "--model", reference, "--input", "\(months)/month2.csv", "--out", "y.csv"])
      #expect(bad.status != 0 && tandemLines(bad.stderr).count == 1 && bad.stderr.contains(expected), "\(bad)")
    }

    // Tampering with the stored model is caught.
    let stored = try Store(root: home + "/store", create: false).registry.modelVersion(name: "churn").parametersFile
    chmod(stored, 0o644)
    let edit = try TandemProcess.run([], executable: "/usr/bin/env", arguments: ["python3", "-c", """
      import h5py
      with h5py.File('\(stored)', 'r+') as f:
          w = f['parameters/fc1.weight']; w[0, 0] = w[0, 0] + 0.001
      """])
    #expect(edit.status == 0, "\(edit)")
    let tampered = try tandem(["audit", "verify", "--model", "churn", "--sample", "5"])
    #expect(tampered.status == 1 && tampered.stderr.contains("parameter file of churn@1 was modified"), "\(tampered)")
  }

  /// A folder of X-rays with an unreadable file, a non-image and an image
  /// smaller than the model's input: those three are listed with reasons,
  /// the rest scored; one image on its own prints label, probability and review.
  @Test(.enabled(if: Fixtures.hasSharedData, Fixtures.sharedDataMissing)) func xrayFolderScoringListsBadFilesAndScoresTheRest() throws {
    let (run, directory, config) = try train(try SmallXray.toml.replacingOccurrences(of: "epochs = 4", with: "epochs = 2"), ranks: 2)
    #expect(run.status == 0, "\(run)")
    let home = (config as NSString).deletingLastPathComponent
    let here = URL(fileURLWithPath: home)
    func tandem(_ arguments: [String], ranks: Int? = nil) throws -> TandemProcess.Output { try tandemCommand(arguments, ranks: ranks, in: here) }
    let evaluated = try tandem(["evaluate", try #require(directory)])
    #expect(evaluated.status == 0 && evaluated.stdout.contains("registered pneumonia version 1"), "\(evaluated)")

    let folder = home + "/incoming"
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    let sample = TandemProcess.packageRoot.appendingPathComponent("Data/sample/chest-xray").path
    var good: [String] = []
    for klass in ["NORMAL", "PNEUMONIA"] {
      for name in try FileManager.default.contentsOfDirectory(atPath: "\(sample)/\(klass)").sorted().prefix(3) {
        try FileManager.default.copyItem(atPath: "\(sample)/\(klass)/\(name)", toPath: "\(folder)/\(klass)-\(name)")
        good.append("\(klass)-\(name)")
      }
    }
    let jpeg = try Data(contentsOf: URL(fileURLWithPath: "\(folder)/\(good[0])"))
    try jpeg.prefix(jpeg.count / 3).write(to: URL(fileURLWithPath: "\(folder)/truncated.jpeg"))
    try Data("not an image\n".utf8).write(to: URL(fileURLWithPath: "\(folder)/notes.jpeg"))
    // A 16 x 16 grayscale PNG (smaller than the model's 32 x 32), made by ingesting tooling-free bytes.
    let tiny = try TandemProcess.run([], executable: "/usr/bin/python3", arguments: ["-c", """
      import zlib, struct
      def chunk(t, d): return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d) & 0xffffffff)
      raw = b''.join(b'\\x00' + bytes([128] * 16) for _ in range(16))
      png = b'\\x89PNG\\r\\n\\x1a\\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', 16, 16, 8, 0, 0, 0, 0)) + chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b'')
      open('\(folder)/tiny.png', 'wb').write(png)
      """])
    #expect(tiny.status == 0, "\(tiny)")

    let scored = try tandem(["predict", "--model", "pneumonia@1", "--input", "incoming", "--out", "preds.csv"], ranks: 2)
    #expect(scored.status == 0 && scored.stdout.contains("6 predictions") && scored.stdout.contains("3 not scored"), "\(scored)")
    let preds = try String(contentsOfFile: home + "/preds.csv", encoding: .utf8).split(separator: "\n").dropFirst()
    #expect(preds.map { String($0.split(separator: ",")[0]) } == good.sorted())
    let errors = try String(contentsOfFile: home + "/preds.csv.errors", encoding: .utf8)
    for (name, reason) in [("truncated.jpeg", "truncated.jpeg"), ("notes.jpeg", "not a JPEG or PNG"), ("tiny.png", "smaller than the model's 32 x 32")] {
      #expect(errors.contains(name) && errors.contains(reason), "\(name): \(errors)")
    }

    // A dataset of another image size is refused as a whole.
    let wrongSize = try tandem(["predict", "--model", "pneumonia@1", "--input", try Fixtures.xray, "--out", "big.csv"])
    #expect(wrongSize.status != 0 && tandemLines(wrongSize.stderr).count == 1
            && wrongSize.stderr.contains("images of 128 x 128, but the model takes [1, 32, 32]"), "\(wrongSize)")

    // Image drift: the same X-rays made brighter shift the intensity distributions.
    let bright = try TandemProcess.run([], executable: "/usr/bin/env", arguments: ["python3", "-c", """
      import h5py, numpy, shutil
      shutil.copy('\(try SmallXray.dataset)', '\(home)/bright.h5')
      with h5py.File('\(home)/bright.h5', 'r+') as f:
          f['images'][...] = numpy.minimum(f['images'][...].astype(numpy.int32) + 70, 255).astype(numpy.uint8)
      """])
    #expect(bright.status == 0, "\(bright)")
    let same = try tandem(["monitor", "--model", "pneumonia@1", "--data", try SmallXray.dataset, "--psi-threshold", "0.5"])
    #expect(same.status == 0 && same.stdout.contains("image mean intensity") && same.stdout.contains("pixel intensity"), "\(same)")
    let drifted = try tandem(["monitor", "--model", "pneumonia@1", "--data", "bright.h5", "--psi-threshold", "0.5"])
    #expect(drifted.status == 3 && drifted.stdout.contains("due: image mean intensity drifted")
            && drifted.stdout.contains("due: pixel intensity drifted"), "\(drifted)")

    let single = try tandem(["predict", "--model", "pneumonia@1", "incoming/\(good[0])"])
    #expect(single.status == 0, "\(single)")
    let line = try #require(single.stdout.split(separator: "\n").first { $0.hasPrefix(good[0]) })
    #expect(line.contains("probability") && line.contains("threshold") && (line.contains("NORMAL") || line.contains("PNEUMONIA")), "\(line)")
    #expect(try tandem(["audit", "verify", "--model", "pneumonia", "--sample", "0"]).stdout.contains("7 of 7 sampled"))
    // One image that cannot be scored: the error says why.
    let unreadable = try tandem(["predict", "--model", "pneumonia@1", "incoming/notes.jpeg"])
    #expect(unreadable.status == 1 && tandemLines(unreadable.stderr).last?.contains("nothing could be scored: ") == true
            && unreadable.stderr.contains("not a JPEG or PNG"), "\(unreadable)")
  }
}
