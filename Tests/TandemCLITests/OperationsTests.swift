import Foundation
import Testing
import TandemStore
import TandemTestSupport

/// Three "months" of churn data cut from the Telco table: the first to train
/// on, a second like it, and a third with MonthlyCharges raised 30 % + 15 and
/// 60 % of one- and two-year contracts turned month-to-month.
enum ChurnMonths {
  static let directory: String = {
    let dir = Fixtures.directory.appendingPathComponent("months").path
    try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    let csv = try! String(contentsOfFile: Fixtures.sharedData.appendingPathComponent("telco/WA_Fn-UseC_-Telco-Customer-Churn.csv").path,
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
      try! ([header] + rows).joined(separator: "\n").appending("\n").write(toFile: "\(dir)/\(name).csv", atomically: true, encoding: .utf8)
      let run = try! TandemProcess.run(["ingest", "csv", "\(dir)/\(name).csv", "--label", "Churn", "--id", "customerID",
                                        "--out", "\(dir)/\(name).h5"])
      if run.status != 0 { fatalError("ingest of \(name) failed: \(run)") }
    }
    return dir
  }()
}

extension MPIJobTests {
  /// Ingest a month, train, evaluate, promote; a version below its gates is
  /// refused and production stays; `monitor` flags the drifted month only;
  /// `retrain` does nothing on the steady month and retrains and promotes on
  /// the drifted one; two retrains launched together: exactly one runs.
  @Test func churnModelLifecycleFromTrainingToDriftTriggeredRetraining() throws {
    let months = ChurnMonths.directory
    let home = (Fixtures.runFile("") as NSString).deletingLastPathComponent
    let here = URL(fileURLWithPath: home)
    func tandem(_ arguments: [String], ranks: Int? = nil) throws -> TandemProcess.Output {
      try TandemProcess.run(arguments, ranks: ranks, timeout: 300, environment: ["TANDEM_PROGRESS": "plain"], directory: here)
    }
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
    let promoted = try tandem(["models", "promote", "churn", "1"])
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
    let drifted = try tandem(["monitor", "--model", "churn", "--data", "\(months)/month3.h5", "--json", "drift.json"])
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

    try retrainFile("month3")
    let results = Results()
    DispatchQueue.concurrentPerform(iterations: 2) { _ in
      results.append(Result { try TandemProcess.run(["retrain", "--config", "retrain.toml"], timeout: 300,
                                                    environment: ["TANDEM_PROGRESS": "plain"], directory: here) })
    }
    let outputs = try results.values.map { try $0.get() }
    #expect(outputs.allSatisfy { $0.status == 0 }, "\(outputs)")
    let ran = outputs.filter { $0.stdout.contains("is in production") }
    let skipped = outputs.filter { $0.stdout.contains("another retrain of churn is running") }
    #expect(ran.count == 1 && skipped.count == 1, "\(outputs)")
    let production = try store.registry.modelVersion(name: "churn")
    #expect(production.version == 3 && production.metrics.champion?.version == 1, "\(production)")
    #expect(try store.registry.retrainDecisions(model: "churn").map(\.outcome).sorted() == ["not due", "promoted", "skipped"])
  }
}

private final class Results: @unchecked Sendable {
  private let lock = NSLock()
  private var stored: [Result<TandemProcess.Output, any Error>] = []
  func append(_ value: Result<TandemProcess.Output, any Error>) { lock.lock(); stored.append(value); lock.unlock() }
  var values: [Result<TandemProcess.Output, any Error>] { lock.lock(); defer { lock.unlock() }; return stored }
}
