import Foundation
import Testing
import TandemTestSupport

/// The exit statuses the help promises: 64 for a command called wrongly
/// (ArgumentParser's usage code), 1 for any failure while running, in one
/// line `tandem: ...`. Schedulers read 64 as "fix the job", 1 as "it failed".
@Suite struct ExitCodeTests {
  @Test(arguments: [
    ["train", "--confg", "x.toml"],
    ["train"],
    ["bench", "kernels", "--numerics", "fastest"],
    ["predict", "--model", "churn"],
    ["ingest", "images", "dir", "--out", "x.h5", "--size", "0"],
  ])
  func usageErrorsExit64(arguments: [String]) throws {
    let run = try TandemProcess.run(arguments, timeout: 60)
    #expect(run.status == 64, "\(arguments): \(run)")
    #expect(run.stderr.contains("Usage: tandem"), "\(run)")
  }

  @Test func runtimeFailuresExit1InOneLine() throws {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tandem-exit-\(getpid())").path
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    try "model = \"churn\"\nrun = \"r.toml\"\ndata = \"d.h5\"\nranks = \"2\"\n".write(toFile: folder + "/retrain.toml", atomically: true, encoding: .utf8)
    try "model = \"Churn!\"\nrun = \"r.toml\"\ndata = \"d.h5\"\n".write(toFile: folder + "/badname.toml", atomically: true, encoding: .utf8)
    let cases: [([String], String)] = [
      (["report", folder + "/no-such-run"], "tandem: \(folder)/no-such-run: no such run directory"),
      (["evaluate", folder + "/no-such-run"], "tandem: \(folder)/no-such-run: no such run directory"),
      (["retrain", "--config", folder + "/retrain.toml"], "tandem: retrain.toml: 'ranks' must be an integer, got \"2\""),
      (["retrain", "--config", folder + "/badname.toml"], "tandem: badname.toml: model name 'Churn!' must be lower-case letters, digits and '-'"),
      (["dataset", "inspect", folder + "/retrain.toml"], "tandem: \(folder)/retrain.toml: not an HDF5 file"),
    ]
    for (arguments, line) in cases {
      let run = try TandemProcess.run(arguments, timeout: 60, directory: URL(fileURLWithPath: folder))
      #expect(run.status == 1 && run.stderr == line + "\n", "\(arguments): \(run)")
    }
  }
}
