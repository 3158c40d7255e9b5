import Foundation
import Testing
import TandemData
import TandemTestSupport
import TandemRun
import TandemTraining

extension MPIJobTests {
  /// A briefly trained churn-logreg, explained: each row's contributions plus
  /// the bias give the logit of the probability the model itself scores, and
  /// importance.json ranks every source column once, largest first.
  @Test(.enabled(if: Fixtures.hasSharedData, Fixtures.sharedDataMissing)) func tandemExplainSplitsAChurnLogitIntoItsColumns() throws {
    let run = try train("""
      model = "churn-logreg"
      dataset = "\(try Fixtures.churn)"
      seed = 5
      epochs = 1
      [training]
      max_steps = 12
      """, ranks: 1)
    #expect(run.output.status == 0, "\(run.output)")
    let directory = try #require(run.directory)
    let reader = try DatasetReader(path: try Fixtures.churn)
    let rows = Array(reader.indices(in: .test).prefix(3))
    let out = directory + "/why"
    let explain = try TandemProcess.run(["explain", directory, "--rows", rows.map(String.init).joined(separator: ","), "--out", out])
    #expect(explain.status == 0, "\(explain)")
    for row in rows { #expect(explain.stdout.contains("row \(row) ("), "\(explain.stdout)") }

    let json = try #require(FileManager.default.contents(atPath: out + "/importance.json"))
    let importance = try #require(try JSONSerialization.jsonObject(with: json) as? [[String: Any]])
    let features = importance.compactMap { $0["feature"] as? String }
    let values = importance.compactMap { $0["importance"] as? Double }
    #expect(importance.allSatisfy { $0.count == 2 })
    #expect(features.count == 19 && Set(features).count == 19, "\(features)")  // Telco: 19 columns besides id and label
    #expect(features.contains("Contract") && features.contains("tenure") && !features.contains { $0.contains("=") })
    #expect(values.count == 19 && values.allSatisfy { $0 >= 0 } && values[0] > 0)
    #expect(values == values.sorted(by: >), "\(values)")

    // contributions.csv: row,id,feature,value,contribution; Telco values hold no commas.
    let csv = try String(contentsOfFile: out + "/contributions.csv", encoding: .utf8)
    let lines = csv.split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false) }
    #expect(lines[0] == ["row", "id", "feature", "value", "contribution"])
    #expect(lines.count == 1 + 3 * 19)
    let trained = try TrainedModel(runDirectory: directory)
    let bias = Double(trained.model.parameters[1].value.scalars[0])
    let scores = try trained.scores(try reader.batch(indices: rows).input)
    for (row, p) in zip(rows, scores) {
      let mine = lines.dropFirst().filter { $0[0] == Substring(String(row)) }
      #expect(Set(mine.map { String($0[2]) }) == Set(features))
      let logit = mine.reduce(bias) { $0 + Double($1[4])! }
      #expect(abs(logit - log(Double(p) / (1 - Double(p)))) < 1e-3, "row \(row): \(logit) vs p \(p)")
    }

    // An unknown row: one line naming it, non-zero exit, nothing written.
    let bad = try TandemProcess.run(["explain", directory, "--rows", "\(rows[0]),999999", "--out", directory + "/bad"])
    #expect(bad.status != 0)
    #expect(bad.stderr.hasPrefix("tandem: ") && bad.stderr.contains("row 999999"), "\(bad)")
    #expect(bad.stderr.split(separator: "\n").count == 1, "\(bad)")
    #expect(!FileManager.default.fileExists(atPath: directory + "/bad/importance.json"))
    let both = try TandemProcess.run(["explain", directory, "--rows", "1", "--count", "2"])
    #expect(both.status == 64, "\(both)")
  }

  /// xray-cnn on the small 32 x 32 set: one PNG per explained image, RGB at the image size.
  @Test func tandemExplainWritesXrayHeatmaps() throws {
    let run = try train(try SmallXray.toml.replacingOccurrences(of: "epochs = 4", with: "epochs = 1"), ranks: 1)
    #expect(run.output.status == 0, "\(run.output)")
    let directory = try #require(run.directory)
    let explain = try TandemProcess.run(["explain", directory, "--count", "2", "--split", "val"])
    #expect(explain.status == 0, "\(explain)")
    let rows = Array(try DatasetReader(path: try SmallXray.dataset).indices(in: .validation).prefix(2))
    for row in rows {
      #expect(explain.stdout.contains("row \(row) (") && explain.stdout.contains("hottest region"), "\(explain.stdout)")
      let png = try #require(FileManager.default.contents(atPath: directory + "/explanations/heatmap-\(row).png"))
      let header = [UInt8](png.prefix(26))
      #expect(header.prefix(8) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
      let width = header[16..<20].reduce(0) { $0 << 8 | Int($1) }, height = header[20..<24].reduce(0) { $0 << 8 | Int($1) }
      #expect(width == 32 && height == 32 && header[25] == 2)
    }
  }
}

/// Help is UI: `--help` prints the command's usage and method, exit 0.
@Test func tandemExplainHelpStatesItsMethods() throws {
  let help = try TandemProcess.run(["explain", "--help"])
  #expect(help.status == 0, "\(help)")
  let words = help.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")  // help wraps lines anywhere
  #expect(words.contains("integrated gradients") && words.contains("--rows"), "\(help.stdout)")
}
