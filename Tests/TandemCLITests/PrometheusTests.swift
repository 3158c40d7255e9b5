import Foundation
import Testing
import TandemTestSupport

/// `promtool check metrics` on a textfile: nil when it passes, else its complaint.
/// Without promtool (a machine where Scripts/test.sh did not unpack it), the
/// exposition format's rules are checked here instead.
func promtoolComplaint(_ path: String) throws -> String? {
  let text = try String(contentsOfFile: path, encoding: .utf8)
  let candidates = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map { "\($0)/promtool" }
    + [TandemProcess.packageRoot.appendingPathComponent(".build/tools/usr/bin/promtool").path]
  if let promtool = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) {
    let run = try TandemProcess.run([], executable: "/bin/sh", arguments: ["-c", "'\(promtool)' check metrics < '\(path)'"])
    return run.status == 0 ? nil : "promtool: \(run)"
  }
  var typed: Set<String> = []
  for line in text.split(separator: "\n", omittingEmptySubsequences: false).dropLast() {
    if line.hasPrefix("# HELP ") { continue }
    if line.hasPrefix("# TYPE ") {
      let parts = line.split(separator: " ")
      guard parts.count == 4, parts[3] == "gauge", typed.insert(String(parts[2])).inserted else { return "bad TYPE line: \(line)" }
      continue
    }
    let sample = #/^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\.)*",?)*\})? (NaN|[+-]Inf|-?[0-9.e+-]+)$/#
    guard let match = line.wholeMatch(of: sample), typed.contains(String(match.1)) else { return "bad sample line: \(line)" }
  }
  return text.hasSuffix("\n") ? nil : "no final newline"
}

/// `name{labels} value` lines of a textfile, value by the line's text before the value.
func promSamples(_ path: String) throws -> [String: Double] {
  var out: [String: Double] = [:]
  for line in try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n") where !line.hasPrefix("#") {
    guard let space = line.lastIndex(of: " ") else { continue }
    out[String(line[..<space])] = Double(line[line.index(after: space)...])
  }
  return out
}

extension MPIJobTests {
  /// `train --metrics-dir`: rank 0 keeps a textfile promtool accepts, ending
  /// in state finished at the last step with a checkpoint age; a directory
  /// that does not exist stops the job before it trains.
  @Test func trainingKeepsPrometheusTextfileMetricsThatPromtoolAccepts() throws {
    let home = (Fixtures.runFile("") as NSString).deletingLastPathComponent
    let here = URL(fileURLWithPath: home)
    try FileManager.default.createDirectory(atPath: home + "/textfile", withIntermediateDirectories: true)
    let xray = try SmallXray.dataset
    try "model = \"xray-cnn\"\ndataset = \"\(xray)\"\nseed = 2\nepochs = 2\n[training]\nglobal_batch = 16\ncheckpoint_every = 5\n"
      .write(toFile: home + "/run.toml", atomically: true, encoding: .utf8)
    let trained = try tandemCommand(["train", "--config", "run.toml", "--metrics-dir", "textfile"], ranks: 2, in: here)
    #expect(trained.status == 0, "\(trained)")
    let file = home + "/textfile/tandem_training_pneumonia_xray-cnn.prom"
    let text = try String(contentsOfFile: file, encoding: .utf8)
    #expect(try promtoolComplaint(file) == nil, "\(text)")
    let samples = try promSamples(file)
    let run = try #require(Fixtures.runDirectory(from: trained.stdout)).split(separator: "/").last!
    let labels = "model=\"xray-cnn\",run=\"\(run)\",task=\"pneumonia\",world_size=\"2\""
    func value(_ name: String, _ extra: String = "") -> Double? {
      samples.first { $0.key.hasPrefix(name + "{") && $0.key.contains("run=\"\(run)\"") && (extra.isEmpty || $0.key.contains(extra)) }?.value
    }
    #expect(value("tandem_training_state", "state=\"finished\"") == 1 && value("tandem_training_state", "state=\"running\"") == 0, "\(samples)")
    #expect(value("tandem_training_step") != nil && value("tandem_training_step") == value("tandem_training_steps"), "\(samples)")
    #expect(value("tandem_training_epoch") == 2 && value("tandem_training_validation_auc") != nil, "\(samples)")
    #expect((value("tandem_training_checkpoint_age_seconds") ?? -1) >= 0 && (value("tandem_training_samples_per_second") ?? 0) > 0)
    #expect(samples.keys.contains { $0.contains(labels) || $0.contains("model=\"xray-cnn\"") }, "\(samples.keys)")

    let missing = try tandemCommand(["train", "--config", "run.toml", "--metrics-dir", "no-such-dir"], ranks: 2, in: here)
    #expect(missing.status == 1 && tandemLines(missing.stderr).count == 1
            && missing.stderr.contains("no-such-dir: no such directory for Prometheus metrics"), "\(missing)")
    #expect(!missing.stdout.contains("epoch 1/"), "\(missing.stdout)")
  }
}
