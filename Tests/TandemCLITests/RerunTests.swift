import Foundation
import Testing
import TandemStore
import TandemTestSupport
import TandemRun
import TandemTraining

/// Runs `tandem rerun ID` under mpirun from `directory`, where the store is.
func rerun(_ id: String, in directory: String, ranks: Int, arguments: [String] = []) throws -> TandemProcess.Output {
  try TandemProcess.run(["rerun", id, "--store", "store", "--out", "reruns"] + arguments, ranks: ranks, timeout: 300,
                        environment: ["TANDEM_PROGRESS": "plain"], directory: URL(fileURLWithPath: directory))
}

/// Every file under `root` with its bytes, but the registry's (SQLite touches
/// its WAL index even to read; the registry is compared by its rows).
func contents(of root: String) throws -> [String: Data] {
  var files: [String: Data] = [:]
  let enumerator = FileManager.default.enumerator(atPath: root)
  while let name = enumerator?.nextObject() as? String {
    if name.hasPrefix("registry.") { continue }
    var isDirectory: ObjCBool = false
    let path = root + "/" + name
    if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue {
      files[name] = try Data(contentsOf: URL(fileURLWithPath: path))
    }
  }
  return files
}

extension MPIJobTests {
  static var churnRerun: String { get throws { try """
    model = "churn-mlp"
    dataset = "\(try Fixtures.churn)"
    seed = 11
    epochs = 2
    [training]
    max_steps = 24
    checkpoint_every = 10
    """ } }

  /// A finished run (2 ranks) re-run from its snapshot alone on 1, 2 and 4
  /// ranks: `identical` every time, and the registry holds the run with its
  /// snapshot, epochs and final parameters' hash.
  @Test(arguments: ["churn-mlp", "xray-cnn"])
  func rerunFromASnapshotIsIdenticalOnOneTwoAndFourRanks(model: String) throws {
    let toml = model == "churn-mlp" ? try Self.churnRerun : try SmallXray.toml.replacingOccurrences(of: "epochs = 4", with: "epochs = 2")
    let original = try train(toml, ranks: 2)
    #expect(original.output.status == 0, "\(original.output)")
    let directory = try #require(original.directory)
    let summary = try JSONDecoder().decode(RunSummary.self, from: Data(contentsOf: URL(fileURLWithPath: directory + "/summary.json")))
    let id = try #require(summary.snapshotID)
    #expect(original.output.stdout.contains("snapshot: \(id)"))

    let home = (original.config as NSString).deletingLastPathComponent
    let store = try Store(root: home + "/store", create: false)
    let manifest = try store.snapshot(id: id)
    #expect(manifest.worldSize == 2 && manifest.seed == (model == "churn-mlp" ? 11 : 4))
    #expect(manifest.configTOML == toml)
    #expect(manifest.environment.openBLASCore.isEmpty == false && manifest.environment.blasThreads == 1)
    #expect(manifest.environment.mpiVersion.contains("Open MPI"), "\(manifest.environment.mpiVersion)")
    let row = try #require(try store.registry.run(id: (directory as NSString).lastPathComponent))
    #expect(row.snapshotID == id && row.status == .finished && row.worldSize == 2)
    #expect(row.epochs.map(\.epoch) == [1, 2])
    #expect(row.parametersSHA256 == (try parametersSHA256(file: directory + "/model.h5")))
    // The dataset is stored once, by content hash.
    #expect(try FileManager.default.contentsOfDirectory(atPath: home + "/store/datasets") == ["\(manifest.datasetSHA256).h5"])

    for ranks in [1, 2, 4] {
      let again = try rerun(id, in: home, ranks: ranks)
      #expect(again.status == 0, "\(ranks) rank(s): \(again)")
      #expect(again.stdout.split(separator: "\n").contains("identical"), "\(ranks) rank(s): \(again.stdout)")
    }
    // Re-runs check; they do not add runs or snapshots.
    #expect(try store.registry.runs().count == 1)
    #expect(try store.snapshots().count == 1)
    let reports = try FileManager.default.contentsOfDirectory(atPath: home + "/reruns")
    #expect(reports.count == 3)
    for report in reports {
      let comparison = try JSONDecoder().decode(ParameterComparison.self,
                                                from: Data(contentsOf: URL(fileURLWithPath: home + "/reruns/\(report)/rerun.json")))
      #expect(comparison.identical && comparison.snapshotID == id && comparison.tensors.allSatisfy { $0.differing == 0 })
    }
  }

  /// With the float allreduce, 1 rank sums gradients in another order than 2:
  /// the re-run is close but not identical, and says by how much, per tensor,
  /// with a non-zero exit.
  @Test(.enabled(if: Fixtures.hasSharedData, Fixtures.sharedDataMissing)) func aRerunThatDiffersReportsPerTensorDifferencesAndFails() throws {
    let toml = try Self.churnRerun + "\n[cluster]\nreduction = \"float\"\n"
    let original = try train(toml, ranks: 2)
    #expect(original.output.status == 0, "\(original.output)")
    let directory = try #require(original.directory)
    let summary = try JSONDecoder().decode(RunSummary.self, from: Data(contentsOf: URL(fileURLWithPath: directory + "/summary.json")))
    let home = (original.config as NSString).deletingLastPathComponent
    let again = try rerun(try #require(summary.snapshotID), in: home, ranks: 1)
    #expect(again.status == 1, "\(again)")
    let lines = again.stdout.split(separator: "\n").map(String.init)
    #expect(!lines.contains("identical"))
    let first = try #require(lines.firstIndex { $0.hasPrefix("differs from run \((directory as NSString).lastPathComponent)") }, "\(again.stdout)")
    let tensorLines = lines[(first + 1)...].filter { $0.hasPrefix("  ") && $0.contains("max |Δ|") }
    #expect(!tensorLines.isEmpty, "\(again.stdout)")
    // Close, though: a real error would move the parameters far more.
    let rerunDirectory = home + "/reruns/" + (try FileManager.default.contentsOfDirectory(atPath: home + "/reruns")).first!
    let comparison = try JSONDecoder().decode(ParameterComparison.self,
                                              from: Data(contentsOf: URL(fileURLWithPath: rerunDirectory + "/rerun.json")))
    #expect(!comparison.identical && comparison.tensors.contains { $0.differing > 0 })
    #expect(comparison.tensors.allSatisfy { $0.maxAbsDifference < 1e-2 }, "\(comparison.tensors)")
  }

  /// A flipped byte in the stored dataset, unknown snapshot ids and ids that
  /// try to leave the store: each refused with one clear line and a non-zero
  /// exit, and the store unchanged, byte for byte.
  @Test func rerunRefusesDamagedDataAndBadSnapshotIDs() throws {
    // A private copy of the data: the store hard-links it, and this test damages it.
    let home = (Fixtures.runFile("") as NSString).deletingLastPathComponent
    let data = home + "/xray-copy.h5"
    try FileManager.default.copyItem(atPath: try SmallXray.dataset, toPath: data)
    let toml = try SmallXray.toml.replacingOccurrences(of: try SmallXray.dataset, with: data).replacingOccurrences(of: "epochs = 4", with: "epochs = 1")
    try toml.write(toFile: home + "/run.toml", atomically: true, encoding: .utf8)
    let original = try TandemProcess.run(["train", "--config", "run.toml"], ranks: 2, timeout: 120,
                                         environment: ["TANDEM_PROGRESS": "plain"], directory: URL(fileURLWithPath: home))
    #expect(original.status == 0, "\(original)")
    let store = try Store(root: home + "/store", create: false)
    let id = try #require(try store.snapshots().first?.id)

    var before = try contents(of: home + "/store")
    for bad in [String(repeating: "ab", count: 32), "../../etc/passwd", "snapshots/\(id)", "..", ""] {
      let run = try rerun(bad, in: home, ranks: 2)
      #expect(run.status != 0, "\(bad): \(run)")
      let lines = tandemLines(run.stderr)
      #expect(lines.count == 1, "\(bad): \(run.stderr)")
      let expected = bad.count == 64 ? "no such snapshot" : "not a snapshot id"
      #expect(lines.first?.contains(expected) == true, "\(bad): \(lines)")
      #expect(try contents(of: home + "/store") == before, "\(bad) changed the store")
    }

    // Flip one byte in the middle of the stored dataset (the pixels).
    let stored = try store.datasetPath(sha256: try store.snapshot(id: id).datasetSHA256)
    chmod(stored, 0o644)
    let handle = try #require(FileHandle(forUpdatingAtPath: stored))
    let middle = try handle.seekToEnd() / 2
    try handle.seek(toOffset: middle)
    let byte = try #require(try handle.read(upToCount: 1)).first!
    try handle.seek(toOffset: middle)
    try handle.write(contentsOf: [byte ^ 0x01])
    try handle.close()
    before = try contents(of: home + "/store")
    let refused = try rerun(id, in: home, ranks: 2)
    #expect(refused.status != 0, "\(refused)")
    let lines = tandemLines(refused.stderr)
    #expect(lines.count == 1 && lines[0].contains((stored as NSString).lastPathComponent) && lines[0].contains("corrupt"),
            "\(refused.stderr)")
    #expect(!FileManager.default.fileExists(atPath: home + "/reruns"), "a refused re-run must not train")
    #expect(try contents(of: home + "/store") == before)
    #expect(try store.registry.runs().map(\.status) == [.finished])
  }
}
