import Foundation
import Testing
import TandemTestSupport
import TandemStore

/// `tandem snapshot …` and `tandem runs …` on a store filled through the API.
struct StoreCommandTests {
  /// A store with one snapshot and one finished run of two epochs.
  func filledStore() throws -> (store: Store, id: String, work: String) {
    let work = Fixtures.folder()
    let store = try Store(root: work + "/store")
    let (path, hash) = try Fixtures.dataset(in: work)
    try store.storeDataset(at: path, contentSHA256: hash)
    let id = try store.saveSnapshot(Fixtures.manifest(datasetSHA256: hash))
    let start = Date(timeIntervalSince1970: 1_750_000_000)
    try store.registry.recordStart(Fixtures.run(id: "churn-mlp-20250615-150640", snapshotID: id, startedAt: start))
    for epoch in 1...2 {
      try store.registry.record(RunRecord.Epoch(runID: "churn-mlp-20250615-150640", epoch: epoch,
                                                metrics: Fixtures.metrics(loss: 0.5 - 0.1 * Double(epoch))))
    }
    try store.registry.recordFinish(runID: "churn-mlp-20250615-150640", endedAt: start.addingTimeInterval(125),
                                    status: .finished, parametersSHA256: String(repeating: "e", count: 64),
                                    parametersFile: "runs/churn-mlp-20250615-150640/model.h5")
    return (store, id, work)
  }

  @Test func listAndShowPrintSnapshotsAndRuns() throws {
    let (store, id, work) = try filledStore()
    let list = try TandemProcess.run(["snapshot", "list", "--store", store.root], timeout: 60)
    #expect(list.status == 0, "\(list)")
    let lines = list.stdout.split(separator: "\n")
    #expect(lines.count == 2 && lines[0].hasPrefix("ID ") && lines[1].hasPrefix(id), "\(list)")
    #expect(lines[1].hasSuffix("  1"), "one run: \(list)")

    let show = try TandemProcess.run(["snapshot", "show", id, "--store", store.root], timeout: 60)
    #expect(show.status == 0, "\(show)")
    for expected in ["snapshot    \(id)", "seed        1", "world size  2", "settings    epochs = 5",
                     "training.learning_rate = 0.05", "run file:\n  model = \"churn-mlp\"", "churn-mlp-20250615-150640  finished"] {
      #expect(show.stdout.contains(expected), "\(expected): \(show)")
    }

    let runs = try TandemProcess.run(["runs", "list", "--store", store.root], timeout: 60)
    #expect(runs.status == 0, "\(runs)")
    #expect(runs.stdout.contains("churn-mlp-20250615-150640  finished  2025-06-15 15:06:40Z  2m05s"), "\(runs)")

    let run = try TandemProcess.run(["runs", "show", "churn-mlp-20250615-150640", "--store", store.root], timeout: 60)
    #expect(run.status == 0, "\(run)")
    for expected in ["status         finished", "EPOCH  COUNT  LOSS    ACCURACY  AUC     PRECISION  RECALL  F1      THRESHOLD",
                     "1      8      0.4000  0.7500    0.8750  0.7500     0.7500  0.7500  0.5000",
                     "2      8      0.3000  0.7500", "epoch 2 confusion: [[3, 1], [1, 3]]", "features       1 standardised (mean/std): 0.5/1.5",
                     "environment    Debian GNU/Linux 12 (bookworm); Test CPU @ 3.0GHz"] {
      #expect(run.stdout.contains(expected), "\(expected): \(run)")
    }

    let export = try TandemProcess.run(["snapshot", "export", id, work + "/out", "--store", store.root], timeout: 60)
    #expect(export.status == 0 && export.stdout.contains("churn.h5, config.toml, manifest.json"), "\(export)")
  }

  @Test func badIdsAndMissingStoresFailWithOneLine() throws {
    let (store, _, work) = try filledStore()
    let cases: [([String], String)] = [
      (["snapshot", "show", "../etc", "--store", store.root],
       "tandem: '../etc': not a snapshot id: expected 64 lower-case hex digits (SHA-256)"),
      (["snapshot", "export", String(repeating: "0", count: 64), work + "/x", "--store", store.root],
       "tandem: \(String(repeating: "0", count: 64)): no such snapshot in \(store.snapshotsDirectory) (tandem snapshot list --store \(store.root) shows them)"),
      (["runs", "show", "nope", "--store", store.root],
       "tandem: nope: no such run in \(store.registryPath) (tandem runs list --store \(store.root) shows them)"),
      (["runs", "list", "--store", work + "/none"],
       "tandem: \(work)/none: no store here (the first run with a store creates it; pass --store DIR)"),
    ]
    for (arguments, message) in cases {
      let output = try TandemProcess.run(arguments, timeout: 60)
      #expect(output.status == 1 && output.stderr == message + "\n", "\(arguments): \(output)")
    }
    #expect(!FileManager.default.fileExists(atPath: work + "/none") && !FileManager.default.fileExists(atPath: work + "/x"))
  }
}
