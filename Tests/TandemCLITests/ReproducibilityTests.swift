import Foundation
import Testing
import TandemData
import TandemStore
import TandemTensor
import TandemTestSupport
import TandemRun
import TandemTraining

/// The promise of the pinned numeric path: the same final parameters, bit for
/// bit, whatever the shell says about OpenBLAS, however many ranks, on every
/// machine of the kind. Data come from the repository's bundled sample, so
/// these tests need nothing outside it.
enum Reproducibility {
  /// What a machine or a user may set: the OpenBLAS kernel and thread counts.
  static let environments: [(name: String, variables: [String: String])] = [
    ("the default environment", [:]),
    ("OPENBLAS_CORETYPE=Haswell", ["OPENBLAS_CORETYPE": "Haswell"]),
    ("OPENBLAS_CORETYPE=Sandybridge OPENBLAS_NUM_THREADS=2",
     ["OPENBLAS_CORETYPE": "Sandybridge", "OPENBLAS_NUM_THREADS": "2", "OMP_NUM_THREADS": "2", "GOTO_NUM_THREADS": "2"]),
  ]

  /// The bundled Telco CSV, ingested with the default seed.
  static var churn: String { get throws { try ingested.get() } }
  private static let ingested = Result {
    try Fixtures.ingest(["ingest", "csv", TandemProcess.packageRoot.appendingPathComponent("Data/sample/telco/WA_Fn-UseC_-Telco-Customer-Churn.csv").path,
                         "--label", "Churn", "--id", "customerID"], name: "churn-bundled.h5")
  }

  /// Short fixed runs. The micro-batch is an eighth of the global batch, so
  /// on 8 ranks every rank computes gradients.
  static func toml(_ model: String) throws -> String {
    // The xray-cnn run on the recipes' machinery: group normalisation (and the
    // fifth block), every augmentation, warm-up and a cosine schedule.
    if model == "xray-cnn-gn" || model == "xray-cnn-deep" {
      return try toml("xray-cnn").replacingOccurrences(of: "model = \"xray-cnn\"", with: "model = \"\(model)\"") + """

        schedule = "cosine"
        warmup_epochs = 0.2
        [augmentation]
        shift = 0.1
        zoom = 0.1
        rotation = 8
        brightness = 0.1
        contrast = 0.3
        gamma = 0.3
        noise = 0.02
        sharpness = 1
        low_resolution = 0.3
        """
    }
    return try model == "churn-mlp" ? """
      model = "churn-mlp"
      dataset = "\(churn)"
      seed = 11
      epochs = 1
      [training]
      max_steps = 12
      micro_batch = 32
      """ : """
      model = "xray-cnn"
      dataset = "\(try SmallXray.dataset)"
      seed = 4
      epochs = 1
      [training]
      global_batch = 16
      micro_batch = 2
      max_steps = 6
      """
  }

  /// Committed results of `toml(model)` on one rank: every machine with a
  /// correct IEEE 754 FPU must reproduce them (an AVX2-only machine and an
  /// AVX-512 one agree). They change only when the pinned numerics' identifier
  /// changes or the run itself is redefined, and then on purpose.
  static let golden: [String: (dataset: String, parameters: String)] = [
    "churn-mlp": ("119b91e89f1dcc519909fc4fa6ac11e00c8f18547307bf6c9c3058547d94fa78",
                  "2fae12abe071b70dd6fca3e18d624e471c940685d4867d7c258e77c44653e200"),
    "xray-cnn": ("624ae62bb196d939b36bb816b3664b27c02dadf434864ecfea4c3603598792cb",
                 "e48a6b36a581cc699d676d985014bc3a0a9df4672c4277b16dfb8b2e7534ef6a"),
    "xray-cnn-gn": ("624ae62bb196d939b36bb816b3664b27c02dadf434864ecfea4c3603598792cb",
                    "735f1e6ba69b39bec08e83187008074fcf61074280a4ab3967feb864eb4a087e"),
    "xray-cnn-deep": ("624ae62bb196d939b36bb816b3664b27c02dadf434864ecfea4c3603598792cb",
                      "7d0995db87eb17f8c2ad060c6a681abbc2746cd2229748932d636960824ef474"),
  ]

  static func parametersHash(_ run: (output: TandemProcess.Output, directory: String?, config: String)) throws -> String {
    let directory = try #require(run.directory, "no run directory in \(run.output)")
    return try parametersSHA256(file: directory + "/model.h5")
  }
}

extension MPIJobTests {
  /// Three environments (default, another OpenBLAS kernel, another kernel with
  /// two threads) and 1, 2, 4 and 8 ranks: one parameters hash.
  @Test(arguments: ["churn-mlp", "xray-cnn", "xray-cnn-gn", "xray-cnn-deep"])
  func finalParametersAreIdenticalUnderEveryEnvironmentAndRankCount(model: String) throws {
    let toml = try Reproducibility.toml(model)
    let envs = Reproducibility.environments
    let jobs: [(environment: Int, ranks: Int)] = [(0, 1), (1, 1), (2, 1), (0, 2), (2, 2), (1, 4), (0, 8), (2, 8)]
    var hashes: [(String, String)] = []
    for job in jobs {
      let run = try train(toml, ranks: job.ranks, environment: envs[job.environment].variables)
      #expect(run.output.status == 0, "\(run.output)")
      hashes.append(("\(job.ranks) rank(s) under \(envs[job.environment].name)", try Reproducibility.parametersHash(run)))
    }
    let reference = hashes[0].1
    for (what, hash) in hashes {
      #expect(hash == reference, "\(model): \(what) gives parameters \(hash.prefix(16)), 1 rank by default \(reference.prefix(16))")
    }
  }

  /// The golden test: the committed parameters hash of a fixed short run on
  /// the bundled sample. Passing here and on a machine whose OpenBLAS picks
  /// another kernel is what shows the two agree.
  @Test(arguments: ["churn-mlp", "xray-cnn", "xray-cnn-gn", "xray-cnn-deep"])
  func fixedRunOnTheBundledSampleReproducesTheCommittedParametersHash(model: String) throws {
    let expected = try #require(Reproducibility.golden[model])
    let dataset = try DatasetReader(path: model == "churn-mlp" ? try Reproducibility.churn : try SmallXray.dataset).contentSHA256
    #expect(dataset == expected.dataset, "\(model): the bundled sample ingests to \(dataset), committed \(expected.dataset)")
    // The CPU's kernel, its AVX2 tiles alone where it has wider ones, and the
    // scalar fmaf reference a CPU without FMA runs.
    for kernel in [""] + (Numerics.pinnedKernel == "avx512-fma" ? ["avx2"] : []) + ["scalar"] {
      let run = try train(try Reproducibility.toml(model), ranks: 1, environment: ["TANDEM_PINNED_KERNEL": kernel])
      #expect(run.output.status == 0, "\(run.output)")
      let hash = try Reproducibility.parametersHash(run)
      #expect(hash == expected.parameters, "\(model) on the \(kernel.isEmpty ? "default" : kernel) kernel: parameters \(hash), committed \(expected.parameters)")
    }
  }

  /// Predictions scored on 2 ranks are re-scored by `audit verify` in one
  /// process under another OpenBLAS kernel and thread count: every one
  /// identical. A record made with numerics this build cannot compute is
  /// reported as such (exit 4), not as a changed model.
  @Test func predictionsFromTwoRanksVerifyInOneProcessUnderAnotherEnvironment() throws {
    let (run, directory, config) = try train(try Reproducibility.toml("churn-mlp"), ranks: 1)
    #expect(run.status == 0, "\(run)")
    let home = URL(fileURLWithPath: (config as NSString).deletingLastPathComponent)
    func tandem(_ arguments: [String], ranks: Int? = nil, environment: [String: String] = [:]) throws -> TandemProcess.Output {
      try TandemProcess.run(arguments, ranks: ranks, timeout: 300, environment: environment.merging(["TANDEM_PROGRESS": "plain"]) { a, _ in a },
                            directory: home)
    }
    let evaluated = try tandem(["evaluate", try #require(directory)])
    #expect(evaluated.status == 0 && evaluated.stdout.contains("registered churn version 1"), "\(evaluated)")
    let csv = TandemProcess.packageRoot.appendingPathComponent("Data/sample/telco/WA_Fn-UseC_-Telco-Customer-Churn.csv").path
    let rows = try String(contentsOfFile: csv, encoding: .utf8).split(separator: "\r\n", omittingEmptySubsequences: true)
    try (rows.prefix(301).joined(separator: "\r\n") + "\r\n").write(to: home.appendingPathComponent("customers.csv"), atomically: true, encoding: .utf8)
    let scored = try tandem(["predict", "--model", "churn@1", "--input", "customers.csv", "--out", "preds.csv"], ranks: 2)
    #expect(scored.status == 0 && scored.stdout.contains("300 predictions"), "\(scored)")
    let sandybridge = Reproducibility.environments[2].variables
    let verified = try tandem(["audit", "verify", "--model", "churn", "--sample", "0"], environment: sandybridge)
    #expect(verified.status == 0 && verified.stdout.contains("300 of 300 sampled predictions"), "\(verified)")

    // A crash mid-append leaves a torn last line: the next predict moves it
    // aside and starts on a line of its own, so the log still verifies.
    let torn = Data("{\"model\":\"churn\",\"vers".utf8)
    let handle = try FileHandle(forWritingTo: home.appendingPathComponent("store/audit/churn.jsonl"))
    try handle.seekToEnd(); try handle.write(contentsOf: torn); try handle.close()
    try (rows.prefix(3).joined(separator: "\r\n") + "\r\n").write(to: home.appendingPathComponent("two.csv"), atomically: true, encoding: .utf8)
    let again = try tandem(["predict", "--model", "churn@1", "--input", "two.csv", "--out", "two-preds.csv"])
    #expect(again.status == 0 && again.stderr.contains("torn line"), "\(again)")
    let sidecars = try FileManager.default.contentsOfDirectory(atPath: home.appendingPathComponent("store/audit").path).filter { $0.contains(".torn-") }
    #expect(sidecars.count == 1, "\(sidecars)")
    if let sidecar = sidecars.first {
      #expect(try Data(contentsOf: home.appendingPathComponent("store/audit/\(sidecar)")) == torn)
    }
    let afterTear = try tandem(["audit", "verify", "--model", "churn", "--sample", "0"])
    #expect(afterTear.status == 0 && afterTear.stdout.contains("302 of 302 sampled predictions"), "\(afterTear)")

    // One record claims numerics this build does not have.
    let log = home.appendingPathComponent("store/audit/churn.jsonl")
    var lines = try String(contentsOf: log, encoding: .utf8).split(separator: "\n").map(String.init)
    // (JSONEncoder may write the slash escaped.)
    lines[5] = lines[5].replacingOccurrences(of: "fma-chain\\/1", with: "fma-chain\\/0").replacingOccurrences(of: "fma-chain/1", with: "fma-chain/0")
    #expect(lines[5].contains("fma-chain\\/0") || lines[5].contains("fma-chain/0"), "\(lines[5])")
    try (lines.joined(separator: "\n") + "\n").write(to: log, atomically: true, encoding: .utf8)
    let refused = try tandem(["audit", "verify", "--model", "churn", "--sample", "0"])
    #expect(refused.status == 4 && refused.stdout.contains("301 of 302") && refused.stderr.contains("line 6")
            && refused.stderr.contains("tandem-fma-chain/0"), "\(refused)")
  }

  /// A run trained on OpenBLAS's kernel (numerics = "openblas") re-runs
  /// bitwise where OpenBLAS picks the same kernel, and is refused with exit 4
  /// and the reason where it picks another.
  @Test func rerunOfAnOpenBLASRunIsRefusedWhereOpenBLASPicksAnotherKernel() throws {
    let original = try train(try Reproducibility.toml("churn-mlp") + "\n[cluster]\nnumerics = \"openblas\"\n", ranks: 1)
    #expect(original.output.status == 0, "\(original.output)")
    let summary = try JSONDecoder().decode(RunSummary.self,
                                           from: Data(contentsOf: URL(fileURLWithPath: try #require(original.directory) + "/summary.json")))
    let id = try #require(summary.snapshotID)
    #expect(summary.numerics?.hasPrefix("openblas ") == true, "\(String(describing: summary.numerics))")
    let home = (original.config as NSString).deletingLastPathComponent
    let same = try rerun(id, in: home, ranks: 1)
    #expect(same.status == 0 && same.stdout.contains("identical"), "\(same)")
    // Another kernel than the one OpenBLAS picks for this process's environment.
    let otherCore = BLAS.coreName == "Sandybridge" ? "Haswell" : "Sandybridge"
    let other = try TandemProcess.run(["rerun", id, "--store", "store", "--out", "reruns-other"], ranks: 1, timeout: 300,
                                      environment: ["OPENBLAS_CORETYPE": otherCore], directory: URL(fileURLWithPath: home))
    #expect(other.status == 4 && other.stderr.contains("cannot be reproduced bit for bit") && other.stderr.contains(otherCore), "\(other)")
    #expect(!FileManager.default.fileExists(atPath: home + "/reruns-other"), "a refused re-run must not train")
  }
}
