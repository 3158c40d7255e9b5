import Foundation
import Testing
import TandemTestSupport

extension MPIJobTests {
  /// `--json` on every list and show command: one document with its schema
  /// name and version, and the keys docs/json.md promises (a key removed or
  /// renamed fails here, so the schema cannot drift silently).
  @Test func everyListAndShowCommandPrintsItsDocumentedJSON() throws {
    let home = (Fixtures.runFile("") as NSString).deletingLastPathComponent
    let here = URL(fileURLWithPath: home)
    func tandem(_ arguments: [String]) throws -> TandemProcess.Output { try tandemCommand(arguments, in: here) }
    func document(_ arguments: [String], schema: String, status: Int32 = 0) throws -> [String: Any] {
      let run = try tandem(arguments + ["--json"])
      #expect(run.status == status, "\(arguments): \(run)")
      let object = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any], "\(arguments): \(run.stdout)")
      #expect(object["schema"] as? String == schema && object["schema_version"] as? Int == 1, "\(arguments): \(object)")
      return object
    }
    func keys(_ value: Any?) -> Set<String> { Set((value as? [String: Any])?.keys.map { $0 } ?? []) }

    let csv = TandemProcess.packageRoot.appendingPathComponent("Data/sample/telco/WA_Fn-UseC_-Telco-Customer-Churn.csv").path
    #expect(try tandem(["ingest", "csv", csv, "--label", "Churn", "--id", "customerID", "--out", "churn.h5"]).status == 0)
    try "model = \"churn-mlp\"\ndataset = \"churn.h5\"\nseed = 2\nepochs = 1\n".write(toFile: home + "/run.toml", atomically: true, encoding: .utf8)
    let trained = try tandem(["train", "--config", "run.toml"])
    let runDirectory = try #require(Fixtures.runDirectory(from: trained.stdout), "\(trained)")
    let id = (runDirectory as NSString).lastPathComponent

    let metrics: Set<String> = ["count", "loss", "accuracy", "roc_auc", "precision", "recall", "f1", "threshold", "confusion"]
    let version: Set<String> = ["name", "version", "production", "run_id", "run_directory", "snapshot_id", "parameters_file",
                                "parameters_sha256", "threshold", "threshold_policy", "metrics", "gates", "created_at", "created_by"]
    let run: Set<String> = ["id", "status", "user", "started_at", "ended_at", "duration_seconds", "heartbeat_at", "run_directory",
                            "snapshot_id", "code_version", "world_size", "model", "task", "train_data", "validation_data",
                            "parameters_file", "parameters_sha256", "last_validation"]

    let evaluation = try document(["evaluate", runDirectory], schema: "tandem.evaluation")
    #expect(keys(evaluation["registered"]) == version, "\(evaluation)")
    #expect(keys((evaluation["evaluation"] as? [String: Any])?["metrics"]) == metrics)
    #expect(keys(evaluation["evaluation"]).isSuperset(of: ["threshold", "threshold_policy", "validation", "roc", "threshold_table", "calibration"]))

    let runs = try #require(try document(["runs", "list"], schema: "tandem.runs")["runs"] as? [[String: Any]])
    #expect(runs.count == 1 && Set(runs[0].keys) == run && runs[0]["status"] as? String == "finished", "\(runs)")
    #expect(keys(runs[0]["last_validation"]) == metrics && keys(runs[0]["train_data"]) == ["path", "sha256", "split"])
    let shown = try document(["runs", "show", id], schema: "tandem.run")["run"]
    #expect(keys(shown) == run.union(["configuration", "environment", "feature_statistics", "epochs"]), "\(keys(shown))")

    let versions = try #require(try document(["models", "list"], schema: "tandem.models")["versions"] as? [[String: Any]])
    #expect(versions.count == 1 && Set(versions[0].keys) == version)
    #expect(keys(versions[0]["metrics"]).isSuperset(of: ["split", "accuracy", "recall", "precision", "f1", "roc_auc", "false_negatives"]))
    let model = try document(["models", "show", "churn@1"], schema: "tandem.model")
    #expect(keys(model) == ["schema", "schema_version", "version", "promotions", "retrains"] && keys(model["version"]) == version)

    let snapshots = try #require(try document(["snapshot", "list"], schema: "tandem.snapshots")["snapshots"] as? [[String: Any]])
    #expect(snapshots.count == 1 && Set(snapshots[0].keys) == ["id", "dataset_file_name", "dataset_sha256", "code", "seed", "world_size", "runs"])
    let snapshot = try document(["snapshot", "show", try #require(snapshots[0]["id"] as? String)], schema: "tandem.snapshot")
    #expect(keys(snapshot["manifest"]) == ["code", "config_toml", "dataset_file_name", "dataset_sha256", "environment",
                                           "resolved_config", "seed", "world_size"], "\(snapshot)")
    let environment = keys((snapshot["manifest"] as? [String: Any])?["environment"])
    #expect(environment.contains("logical_cpus"), "\(environment)")
    #expect((snapshot["runs"] as? [[String: Any]])?.first?["id"] as? String == id)

    let dataset = try document(["dataset", "inspect", "churn.h5"], schema: "tandem.dataset")["dataset"] as? [String: Any]
    #expect(keys(dataset) == ["path", "kind", "samples", "sample_shape", "content_sha256", "class_names", "class_counts", "splits",
                              "attributes", "datasets", "columns", "mean", "std"], "\(keys(dataset))")
    #expect(dataset?["samples"] as? Int == 7043 && (dataset?["columns"] as? [Any])?.count == 19)

    let monitored = try document(["monitor", "--model", "churn@1", "--data", "churn.h5"], schema: "tandem.monitor")
    #expect(keys(monitored) == ["schema", "schema_version", "report", "reasons", "retrain_due"] && monitored["retrain_due"] as? Bool == false)

    // runs compare: the same run file twice gives the same bits; another seed differs in that setting and every tensor.
    let twin = try #require(Fixtures.runDirectory(from: try tandem(["train", "--config", "run.toml"]).stdout))
    let other = try #require(Fixtures.runDirectory(from: try tandem(["train", "--config", "run.toml", "--seed", "3"]).stdout))
    let same = try tandem(["runs", "compare", id, (twin as NSString).lastPathComponent])
    #expect(same.status == 0 && same.stdout.contains("settings: all resolved settings equal")
            && same.stdout.contains("parameters: bitwise identical"), "\(same)")
    let compared = try document(["runs", "compare", id, (other as NSString).lastPathComponent], schema: "tandem.runs.compare")
    let comparison = try #require(compared["comparison"] as? [String: Any])
    let settings = try #require(comparison["settings"] as? [[String: Any]])
    #expect(settings.count == 1 && settings[0]["key"] as? String == "seed" && settings[0]["a"] as? String == "2"
            && settings[0]["b"] as? String == "3", "\(settings)")
    let parameters = try #require(comparison["parameters"] as? [String: Any])
    let tensors = try #require(parameters["tensors"] as? [[String: Any]])
    #expect(parameters["identical"] as? Bool == false && tensors.count == 6 && tensors.allSatisfy { ($0["differing"] as? Int ?? 0) > 0 },
            "\(parameters)")
    #expect((comparison["metrics_a"] as? [Any])?.count == 2 && (comparison["metrics_b"] as? [Any])?.count == 1, "\(comparison)")

    // Errors stay one line on standard error, with nothing on standard output.
    let missing = try tandem(["runs", "show", "no-such-run", "--json"])
    #expect(missing.status == 1 && missing.stdout.isEmpty && tandemLines(missing.stderr).count == 1, "\(missing)")
  }
}
