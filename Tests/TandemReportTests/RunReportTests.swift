import Foundation
import Testing
import TandemData
import TandemReport

/// A run directory with the files a run writes, built by hand.
private func runDirectory(metrics: String, files: [String: String] = [:]) throws -> String {
  let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tandem-report-\(UUID().uuidString)/churn-mlp-run").path
  try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
  try metrics.write(toFile: directory + "/metrics.jsonl", atomically: true, encoding: .utf8)
  for (name, text) in files {
    try FileManager.default.createDirectory(atPath: ((directory + "/" + name) as NSString).deletingLastPathComponent,
                                            withIntermediateDirectories: true)
    try text.write(toFile: directory + "/" + name, atomically: true, encoding: .utf8)
  }
  return directory
}

private func stepLine(_ epoch: Int, _ step: Int, _ loss: Double) -> String {
  #"{"epoch":\#(epoch),"loss":\#(loss),"ranks":[{"allreduceMs":1,"computeMs":\#(step),"dataWaitMs":0.5,"rank":0},"#
    + #"{"allreduceMs":2,"computeMs":3,"dataWaitMs":0.25,"rank":1}],"step":\#(step),"type":"step"}"#
}

private func epochLine(_ epoch: Int, accuracy: Double, confusion: [[Int]]) -> String {
  #"{"epoch":\#(epoch),"type":"epoch","validation":{"accuracy":\#(accuracy),"confusion":\#(confusion),"count":100,"#
    + #""f1":0.5,"loss":0.4,"precision":0.6,"recall":0.45,"rocAUC":0.81,"threshold":0.5}}"#
}

private let twoEpochs = [stepLine(1, 1, 0.7), stepLine(1, 2, 0.6), epochLine(1, accuracy: 0.7, confusion: [[60, 10], [20, 10]]),
                         #"{"file":"step-2.h5","ms":4.5,"step":2,"type":"checkpoint"}"#,
                         stepLine(2, 1, 0.55), stepLine(2, 2, 0.5), epochLine(2, accuracy: 0.75, confusion: [[62, 8], [17, 13]])]
  .joined(separator: "\n") + "\n"

@Test func metricsAreReadPerStepEpochAndCheckpoint() throws {
  // Step 2 logged again by a resumed run: the later line wins.
  let directory = try runDirectory(metrics: twoEpochs + stepLine(1, 2, 0.65) + "\n")
  let report = try RunReport(runDirectory: directory, store: "/nonexistent-store")
  // metrics.jsonl numbers steps within their epoch; the report counts them over all epochs.
  #expect(report.steps.map(\.step) == [1, 2, 1, 2])
  #expect(report.steps.map(\.globalStep) == [1, 2, 3, 4])
  #expect(report.steps.map(\.loss) == [0.7, 0.65, 0.55, 0.5])
  #expect(report.steps[0].ranks.map(\.rank) == [0, 1])
  #expect(report.epochs.map(\.epoch) == [1, 2] && report.epochs[1].validation.confusion == [[62, 8], [17, 13]])
  #expect(report.checkpoints.map(\.step) == [2])
  #expect(report.evaluations.isEmpty && report.importance == nil && !report.hasExplanations)
  #expect(report.storeNotes.contains { $0.contains("/nonexistent-store") })
}

@Test func pageWithoutEvaluationShowsTheLastConfusionMatrixAndSaysWhatAddsTheRest() throws {
  let directory = try runDirectory(metrics: twoEpochs, files: ["config.toml": "model = \"churn-mlp\" # <b>&\n"])
  let page = try RunReport(runDirectory: directory, store: "/nonexistent-store").page()
  // Training and validation loss on one chart, validation metrics, time per rank
  // (no learning-rate chart: these step lines are from before it was logged).
  #expect(page.charts == 3)
  #expect(page.html.contains("data-charts-expected=\"3\""))
  #expect(!page.html.contains("Learning rate per step"))
  #expect(page.html.contains("tandem evaluate \(directory)"))
  #expect(page.html.contains(">62 (88.6%)</td>") && page.html.contains(">13 (43.3%)</td>"))
  #expect(!page.html.contains(">60 (85.7%)</td>"))  // epoch 1's matrix is not the one shown
  #expect(page.html.contains("model = &quot;churn-mlp&quot; # &lt;b&gt;&amp;"))
  #expect(page.html.contains("No explanations"))
  #expect(page.html.contains("Store not available: /nonexistent-store: no store here"))
  // Rank 0's compute per step over all four steps: (1 + 2 + 1 + 2) / 4 = 1.5 ms.
  #expect(page.html.contains("<td class=\"num\">0</td><td class=\"num\">4</td><td class=\"num\">1.50</td>"))
  #expect(page.html.contains("0.7500"))
}

@Test func explanationsAddAnImportanceChartAndEmbeddedImages() throws {
  let png = Data(base64Encoded: onePixelPNG)!
  let directory = try runDirectory(metrics: twoEpochs, files: [
    "explanations/importance.json": #"[{"feature":"tenure","importance":0.12},{"feature":"Contract=<Two year>","importance":0.05}]"#,
  ])
  try png.write(to: URL(fileURLWithPath: directory + "/explanations/example-1.png"))
  let page = try RunReport(runDirectory: directory, store: "").page()
  #expect(page.charts == 4)
  #expect(page.html.contains("class=\"overlay-bar\""))  // the overlays' colour scale
  #expect(page.html.contains("Contract=&lt;Two year&gt;"))
  #expect(page.html.contains("src=\"data:image/png;base64,\(onePixelPNG)\""))
  #expect(page.html.contains("The run keeps no store"))
}

@Test func badMetricsLinesAreErrorsNamingTheFileAndLine() throws {
  let directory = try runDirectory(metrics: stepLine(1, 1, 0.7) + "\n{\"type\":\"step\",\"epoch\":1}\n")
  let error = #expect(throws: DataError.self) { try RunReport(runDirectory: directory) }
  #expect(error.map { "\($0)" } == "\(directory)/metrics.jsonl: line 2: a step record needs epoch, step and loss")
  let broken = try runDirectory(metrics: "not json\n")
  let brokenError = #expect(throws: DataError.self) { try RunReport(runDirectory: broken) }
  #expect(brokenError.map { "\($0)".hasPrefix("\(broken)/metrics.jsonl: line 1: ") } == true)
}

@Test func aDirectoryWithoutMetricsIsAnErrorNamingTheFile() throws {
  let directory = try runDirectory(metrics: "")
  try FileManager.default.removeItem(atPath: directory + "/metrics.jsonl")
  let error = #expect(throws: DataError.self) { try RunReport(runDirectory: directory) }
  #expect(error.map { "\($0)".hasPrefix("\(directory)/metrics.jsonl: ") } == true, "\(String(describing: error))")
}

/// A 1 x 1 grey PNG.
let onePixelPNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGNoAAAAggCBd81ytgAAAABJRU5ErkJggg=="
