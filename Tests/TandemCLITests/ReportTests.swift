import Foundation
import Testing
import TandemTestSupport
import TandemRun
import TandemTraining

/// Chromium from Debian's `chromium` package (Scripts/bootstrap.sh installs it).
/// Its absence fails the test that needs it: a browser check skipped is no check.
private func chromium() throws -> String {
  let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
  let found = path.split(separator: ":").map { "\($0)/chromium" }.first { FileManager.default.isExecutableFile(atPath: $0) }
  return try #require(found, "chromium is not installed (apt-get install chromium; Scripts/bootstrap.sh does it)")
}

/// The DOM after Chromium loaded `file` and ran its scripts.
private func renderedDOM(_ file: String) throws -> String {
  let profile = FileManager.default.temporaryDirectory.appendingPathComponent("tandem-chromium-\(UUID().uuidString)").path
  defer { try? FileManager.default.removeItem(atPath: profile) }
  // --no-sandbox: Chromium refuses to run as root (as in CI containers) with its sandbox.
  let run = try TandemProcess.run([], timeout: 120, executable: try chromium(), arguments: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--user-data-dir=\(profile)",
    "--dump-dom", URL(fileURLWithPath: file).absoluteString,
  ])
  #expect(run.status == 0, "\(run)")
  return run.stdout
}

private func bodyAttribute(_ name: String, in dom: String) -> Int? {
  guard let body = dom.firstMatch(of: /<body[^>]*>/) else { return nil }
  let pattern = try! Regex("\(name)=\"([0-9]+)\"", as: (Substring, Substring).self)
  return body.0.firstMatch(of: pattern).flatMap { Int($0.1) }
}

extension MPIJobTests {
  /// A churn run trained on 2 ranks, evaluated, given an explanation by hand,
  /// and reported: Chromium draws every chart the page promises and the
  /// embedded image, the page fetches nothing, and it shows the evaluation's
  /// numbers and the snapshot from the store.
  @Test(.enabled(if: Fixtures.hasSharedData, Fixtures.sharedDataMissing)) func runReportRendersEveryChartInChromium() throws {
    let (run, directory, config) = try train("""
      model = "churn-mlp"
      dataset = "\(try Fixtures.churn)"
      seed = 5
      epochs = 3
      """, ranks: 2)
    #expect(run.status == 0, "\(run)")
    let runDirectory = try #require(directory)
    let workDirectory = URL(fileURLWithPath: (config as NSString).deletingLastPathComponent)
    // An earlier version in production, so the page compares this run with it on the same samples.
    try "model = \"churn-logreg\"\ndataset = \"\(try Fixtures.churn)\"\nseed = 4\nepochs = 2\n"
      .write(to: workDirectory.appendingPathComponent("earlier.toml"), atomically: true, encoding: .utf8)
    let earlier = try TandemProcess.run(["train", "--config", "earlier.toml"], directory: workDirectory)
    let earlierRun = try #require(Fixtures.runDirectory(from: earlier.stdout), "\(earlier)")
    #expect(try TandemProcess.run(["evaluate", earlierRun], directory: workDirectory).status == 0)
    #expect(try TandemProcess.run(["models", "promote", "churn@1"], directory: workDirectory).status == 0)
    let evaluate = try TandemProcess.run(["evaluate", runDirectory], directory: workDirectory)
    #expect(evaluate.status == 0 && evaluate.stdout.contains("registered churn version 2"), "\(evaluate)")
    let evaluation = try Evaluation.read(Evaluation.path(run: runDirectory, split: .test))

    // What `tandem explain` will write: importance, and a heatmap PNG (1 x 1 here).
    let explanations = runDirectory + "/explanations"
    try FileManager.default.createDirectory(atPath: explanations, withIntermediateDirectories: true)
    try Data(#"[{"feature":"tenure","importance":0.0831},{"feature":"Contract=Two year","importance":0.0412}]"#.utf8)
      .write(to: URL(fileURLWithPath: explanations + "/importance.json"))
    try Data(base64Encoded: "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGNoAAAAggCBd81ytgAAAABJRU5ErkJggg==")!
      .write(to: URL(fileURLWithPath: explanations + "/example-0.png"))

    let out = workDirectory.appendingPathComponent("report.html").path
    let report = try TandemProcess.run(["report", runDirectory, "--out", out], directory: workDirectory)
    #expect(report.status == 0, "\(report)")
    let html = try String(contentsOfFile: out, encoding: .utf8)

    let dom = try renderedDOM(out)
    let expected = try #require(bodyAttribute("data-charts-expected", in: dom), "no data-charts-expected in:\n\(dom.prefix(2000))")
    let rendered = try #require(bodyAttribute("data-charts-rendered", in: dom), "the page's check did not run:\n\(dom.prefix(2000))")
    // Training and validation loss, learning rate, validation metrics, time per rank, ROC,
    // precision-recall, calibration, importance.
    #expect(expected == 8)
    #expect(rendered == expected)
    #expect(bodyAttribute("data-images-rendered", in: dom) == 1)

    let external = html.matches(of: /(?i)(src|href)\s*=\s*["']?\s*(https?:|\/\/)/)
    #expect(external.isEmpty, "external references: \(external.map { String($0.0) })")
    #expect(!html.contains("<link") && !html.contains("<script src"))

    #expect(html.contains(String(format: "%.4f", evaluation.metrics.accuracy)))
    #expect(html.contains("ROC curve, test (AUC \(String(format: "%.4f", evaluation.metrics.rocAUC)))"))
    #expect(html.contains(">\(evaluation.metrics.confusion[1][1]) ("))
    let summary = try JSONDecoder().decode(RunSummary.self,
                                           from: Data(contentsOf: URL(fileURLWithPath: runDirectory + "/summary.json")))
    #expect(html.contains(try #require(summary.snapshotID)))
    // Every step of every epoch is counted in each rank's timings.
    for rank in 0..<2 { #expect(html.contains("<td class=\"num\">\(rank)</td><td class=\"num\">\(summary.steps)</td>")) }
    #expect(html.contains("Registry row") && html.contains("finished"))
    #expect(html.contains("dataset = &quot;\(try Fixtures.churn)&quot;"))
    #expect(html.contains("Loss: training per step, validation per epoch") && html.contains("Learning rate per step")
            && html.contains("Precision-recall curve, test (positives "))
    // The data and its splits, production on the same samples, a colour scale, and the chosen threshold once.
    #expect(html.contains("<h2>Data</h2>") && html.contains("<td>train</td>"), "\(html)")
    #expect(html.contains("Against production") && html.contains("churn@2 (this run)") && html.contains("churn@1 (production then)"))
    #expect(html.contains("class=\"scale\""))
    let thresholdRows = html.components(separatedBy: "<tr class=\"highlight\"><td class=\"num\">0.5000</td>").count - 1
    #expect(thresholdRows == 1, "the chosen threshold 0.5 is listed \(thresholdRows) times")

    // Without the store the page still comes, and says why that part is missing.
    let elsewhere = try TandemProcess.run(["report", runDirectory, "--out", out, "--store", "/nonexistent-store"],
                                          directory: workDirectory)
    #expect(elsewhere.status == 0, "\(elsewhere)")
    let withoutStore = try String(contentsOfFile: out, encoding: .utf8)
    #expect(withoutStore.contains("Store not available: /nonexistent-store: no store here"))
    #expect(!withoutStore.contains(try #require(summary.snapshotID)))
  }
}

@Suite struct ReportCommandTests {
  @Test func reportHelpPrintsUsageAndExitsZero() throws {
    let run = try TandemProcess.run(["report", "--help"])
    #expect(run.status == 0, "\(run)")
    #expect(run.stdout.contains("USAGE: tandem report <run-directory>"), "\(run)")
  }

  @Test func reportOnADirectoryWithoutMetricsFailsNamingTheFileAndWritesNothing() throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tandem-report-bad-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    let out = directory + "/report.html"
    let run = try TandemProcess.run(["report", directory, "--out", out])
    #expect(run.status != 0)
    let lines = run.stderr.split(separator: "\n")
    #expect(lines.count == 1 && lines[0].hasPrefix("tandem: \(directory)/metrics.jsonl: "), "\(run)")
    #expect(try FileManager.default.contentsOfDirectory(atPath: directory).isEmpty)
  }
}
