import Foundation
import Testing
import TandemTestSupport

/// The CUDA backend as Scripts/test.sh builds it (Scripts/build-cuda.sh --pypi).
enum CUDABuild {
  static let directory = TandemProcess.packageRoot.appendingPathComponent(".build/cuda").path
  static let library = directory + "/libtandem_cuda.so"
  static let harness = directory + "/check"
  static let built = FileManager.default.fileExists(atPath: library) && FileManager.default.isExecutableFile(atPath: harness)
  static let hasGPU = FileManager.default.fileExists(atPath: "/dev/nvidia0")
}

extension MPIJobTests {
  /// `device = "cuda"` where it cannot work stops every rank with one line
  /// that says why (no backend; a backend but no GPU or driver), before a run
  /// directory or checkpoint exists; predict and evaluate's `--device cuda`
  /// say the same. Where a GPU is present, 1 and 2 ranks train the same bits.
  @Test(.enabled(if: Fixtures.hasSharedData, Fixtures.sharedDataMissing))
  func deviceCUDAWithoutABackendOrAGPUStopsEveryRankBeforeTraining() throws {
    let toml = """
      model = "churn-mlp"
      dataset = "\(try Fixtures.churn)"
      seed = 3
      epochs = 1
      [training]
      max_steps = 6
      [cluster]
      device = "cuda"
      """
    let missing = try train(toml, ranks: 2, environment: ["TANDEM_CUDA_LIBRARY": "/nonexistent/libtandem_cuda.so"])
    #expect(missing.output.status == 1, "\(missing.output)")
    #expect(missing.output.stderr.components(separatedBy: "the CUDA backend is not installed").count == 2, "\(missing.output)")
    #expect(missing.output.stderr.contains("/nonexistent/libtandem_cuda.so") && missing.directory == nil, "\(missing.output)")

    if CUDABuild.built && !CUDABuild.hasGPU {
      let noGPU = try train(toml, ranks: 2, environment: ["TANDEM_CUDA_LIBRARY": CUDABuild.library])
      #expect(noGPU.output.status == 1 && noGPU.output.stderr.contains("this machine has no usable GPU: no NVIDIA driver")
              && noGPU.directory == nil, "\(noGPU.output)")
    }
    if CUDABuild.built && CUDABuild.hasGPU {
      let one = try train(toml, ranks: 1), two = try train(toml, ranks: 2)
      #expect(one.output.status == 0 && two.output.status == 0 && one.output.stdout.contains("device: rank 0 computes on GPU"),
              "\(one.output)\n\(two.output)")
      #expect(try bits(try #require(one.directory)) == (try bits(try #require(two.directory))))
    }

    let cpu = try train(toml.replacingOccurrences(of: "device = \"cuda\"", with: "device = \"cpu\""), ranks: 1)
    let run = try #require(cpu.directory, "\(cpu.output)")
    let evaluated = try TandemProcess.run(["evaluate", run, "--no-register", "--device", "cuda"],
                                          environment: ["TANDEM_CUDA_LIBRARY": "/nonexistent/libtandem_cuda.so"])
    #expect(evaluated.status == 1 && evaluated.stderr.hasPrefix("tandem: device = \"cuda\" but the CUDA backend is not installed"),
            "\(evaluated)")
    let usage = try TandemProcess.run(["evaluate", run, "--device", "tpu"])
    #expect(usage.status == 64 && usage.stderr.contains("cpu") && usage.stderr.contains("cuda"), "\(usage)")
  }
}

/// The harness's references come from the CPU path; the harness (C++, no
/// Swift) reads them and finds every file at the size the model's shapes
/// give, so the two sides of reference.txt agree without a GPU.
@Suite struct CUDAReferenceTests {
  @Test func theCPUPathsReferencesAreCompleteForTheHarness() throws {
    let out = Fixtures.directory.appendingPathComponent("cuda-reference-\(UUID().uuidString)").path
    let written = try TandemProcess.run(["diagnose", "cuda-reference", "--out", out, "--batch", "3", "--image-size", "32"])
    #expect(written.status == 0 && written.stdout == "\(out)/xray-cnn\n\(out)/xray-cnn-gn\n\(out)/xray-cnn-deep\n\(out)/churn-mlp\n", "\(written)")
    let gn = try String(contentsOfFile: out + "/xray-cnn-gn/reference.txt", encoding: .utf8)
    #expect(gn.contains("layer conv2d 1 16 3 1 1 0 0\nlayer groupnorm 16 4 1e-05\nlayer relu\nlayer maxpool2\n"), "\(gn)")
    let text = try String(contentsOfFile: out + "/xray-cnn/reference.txt", encoding: .utf8)
    #expect(text.contains("sample 1 32 32\nloss softmax 2\nbatch 3\nnormalizer 6\nlayer conv2d 1 16 3 1 1 1 0\nlayer maxpool2\n"), "\(text)")
    // The first convolution computes no input gradient: the harness must not look for one.
    #expect(!FileManager.default.fileExists(atPath: out + "/xray-cnn/backward-0.f32"))
    #expect(try Data(contentsOf: URL(fileURLWithPath: out + "/xray-cnn/forward-0.f32")).count == 3 * 16 * 32 * 32 * 4)
    guard CUDABuild.built else { return }
    let checked = try TandemProcess.run([], executable: CUDABuild.harness, arguments: ["--files-only", out + "/xray-cnn", out + "/xray-cnn-gn", out + "/xray-cnn-deep", out + "/churn-mlp"])
    #expect(checked.status == 0 && checked.stdout.contains(#""layers": 11, "parameters": 105538, "batch": 3, "files": "complete""#)
            && checked.stdout.contains(#""layers": 19, "parameters": 106018"#)
            && checked.stdout.contains(#""layers": 23, "parameters": 409890"#)
            && checked.stdout.contains(#""layers": 5, "parameters": 5121"#), "\(checked)")
    // A truncated file is the reference's fault, named before any device is touched.
    let truncated = out + "/churn-mlp/gradients.f32"
    try Data(try Data(contentsOf: URL(fileURLWithPath: truncated)).dropLast(4)).write(to: URL(fileURLWithPath: truncated))
    let bad = try TandemProcess.run([], executable: CUDABuild.harness, arguments: [out + "/churn-mlp"])
    #expect(bad.status == 2 && bad.stderr.contains("gradients.f32: expected 20484 bytes"), "\(bad)")
  }
}
