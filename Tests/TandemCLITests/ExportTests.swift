import Foundation
import Testing
import TandemTestSupport

extension MPIJobTests {
  /// Every architecture trained on the bundled sample, exported to ONNX (from
  /// a run directory and from the registry), scored by onnxruntime on the
  /// whole sample: its probabilities match `tandem predict`'s within 1e-5, the
  /// checker accepts the model, and the metadata carries the threshold and
  /// class names; the safetensors weights equal model.h5's bit for bit.
  @Test func exportedModelsScoreInONNXRuntimeAsTandemDoes() throws {
    let home = (Fixtures.runFile("") as NSString).deletingLastPathComponent
    let here = URL(fileURLWithPath: home)
    func tandem(_ arguments: [String]) throws -> TandemProcess.Output { try tandemCommand(arguments, in: here) }
    let sample = TandemProcess.packageRoot.appendingPathComponent("Data/sample").path
    let ingested = try tandem(["ingest", "csv", sample + "/telco/WA_Fn-UseC_-Telco-Customer-Churn.csv",
                               "--label", "Churn", "--id", "customerID", "--out", "churn.h5"])
    #expect(ingested.status == 0, "\(ingested)")
    let xray = try SmallXray.dataset
    let check = TandemProcess.packageRoot.appendingPathComponent("Tests/TandemCLITests/Resources/check_export.py").path

    var registered: [String: Int] = [:]
    for (model, data) in [("churn-logreg", "churn.h5"), ("churn-mlp", "churn.h5"),
                          ("xray-cnn", xray), ("xray-cnn-gn", xray), ("xray-cnn-deep", xray)] {
      try "model = \"\(model)\"\ndataset = \"\(data)\"\nseed = 3\nepochs = 2\n"
        .write(toFile: "\(home)/\(model).toml", atomically: true, encoding: .utf8)
      let trained = try tandem(["train", "--config", "\(model).toml"])
      let run = try #require(Fixtures.runDirectory(from: trained.stdout), "\(trained)")

      let early = try tandem(["export", run, "--format", "onnx", "--out", "early.onnx"])
      #expect(early.status == 1 && tandemLines(early.stderr) == ["tandem: \(run): the run has no evaluation, so no threshold: "
                                                                 + "run `tandem evaluate \(run)` first"], "\(early)")
      #expect(!FileManager.default.fileExists(atPath: home + "/early.onnx"))

      let evaluated = try tandem(["evaluate", run])
      let task = model.hasPrefix("churn") ? "churn" : "pneumonia"
      let version = registered[task, default: 0] + 1
      registered[task] = version
      #expect(evaluated.status == 0 && evaluated.stdout.contains("registered \(task) version \(version)"), "\(evaluated)")
      // One of each pair from its run directory, the other from the registry.
      let source = version % 2 == 1 ? run : "\(task)@\(version)"
      let onnx = try tandem(["export", source, "--format", "onnx", "--out", "\(model).onnx"])
      #expect(onnx.status == 0 && onnx.stdout.contains("as onnx"), "\(onnx)")
      let weights = try tandem(["export", source, "--format", "safetensors", "--out", "\(model).safetensors"])
      #expect(weights.status == 0, "\(weights)")
      let predicted = try tandem(["predict", "--model", "\(task)@\(version)", "--input", data, "--out", "\(model).csv"])
      #expect(predicted.status == 0, "\(predicted)")

      let scored = try TandemProcess.run([], executable: "/usr/bin/env", arguments: [
        "python3", check, "\(home)/\(model).onnx", data.hasPrefix("/") ? data : "\(home)/\(data)", "\(home)/\(model).csv",
        "\(home)/\(run)/model.h5", "\(home)/\(model).safetensors"])
      #expect(scored.status == 0, "\(model): \(scored)")
      let result = try #require(try JSONSerialization.jsonObject(with: Data(scored.stdout.utf8)) as? [String: Any], "\(scored)")
      #expect(result["opset"] as? Int == 17)
      #expect((result["samples"] as? Int ?? 0) >= 200, "\(result)")
      #expect((result["max_abs_difference"] as? Double ?? 1) <= 1e-5, "\(model): \(result)")
      #expect(result["threshold"] as? Double == result["predict_threshold"] as? Double, "\(result)")
      #expect(result["labels_agree"] as? Bool == true && result["safetensors_equal"] as? Bool == true, "\(model): \(result)")
      let names = result["class_names"] as? [String]
      #expect(names == (task == "churn" ? ["No", "Yes"] : ["NORMAL", "PNEUMONIA"]), "\(result)")
      let keys = Set(result["metadata"] as? [String] ?? [])
      #expect(keys.isSuperset(of: ["snapshot_id", "dataset_sha256", "threshold", "class_names", "normalisation"]), "\(keys)")
      #expect(keys.contains("feature_names") == (task == "churn"), "\(keys)")
    }

    let unknown = try tandem(["export", "nosuch@1", "--format", "onnx", "--out", "x.onnx"])
    #expect(unknown.status == 1 && tandemLines(unknown.stderr).count == 1, "\(unknown)")
    let format = try tandem(["export", "churn@1", "--format", "pickle", "--out", "x.onnx"])
    #expect(format.status == 64 && format.stderr.contains("pickle"), "\(format)")
    #expect(!FileManager.default.fileExists(atPath: home + "/x.onnx"))
  }
}
