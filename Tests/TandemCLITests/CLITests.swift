import Foundation
import Testing
import TandemTensor
import TandemTestSupport

extension MPIJobTests {
  @Test func mpiAllreduceIsExactOnTwoRanks() throws {
    let run = try TandemProcess.run(["diagnose", "mpi"], ranks: 2, timeout: 120)
    #expect(run.status == 0, "\(run)")
    #expect(run.stdout.contains("rank 0/2"), "\(run)")
    #expect(run.stdout.contains("rank 1/2"), "\(run)")
    #expect(run.stdout.contains("mpi ok: 2 ranks"), "\(run)")
  }
}

@Test func unknownModelIsOneLineOnStandardErrorAndExitsNonZero() throws {
  let run = try TandemProcess.run(["train", "--architecture", "resnet50", "--steps", "1"])
  #expect(run.status == 1)
  #expect(run.stderr == "tandem: unknown model 'resnet50' (known: xray-cnn, xray-cnn-gn, xray-cnn-deep, churn-logreg, churn-mlp)\n")
}

@Test func badFlagsAreUsageErrors() throws {
  let run = try TandemProcess.run(["train", "--architecture", "churn-mlp", "--steps", "0"])
  #expect(run.status == 64, "\(run)")
  #expect(run.stderr.contains("--steps must be positive, got 0"), "\(run)")
}

@Test func singleProcessTrainingReportsLossEveryStepAndLearns() throws {
  let run = try TandemProcess.run(["train", "--architecture", "churn-mlp", "--synthetic", "2048", "--steps", "40", "--seed", "3"])
  #expect(run.status == 0, "\(run)")
  let losses = run.stdout.split(separator: "\n").compactMap { line -> Double? in
    guard line.hasPrefix("step ") else { return nil }
    let parts = line.split(separator: " ", omittingEmptySubsequences: true)
    return parts.firstIndex(of: "loss").map { Double(parts[$0 + 1])! }
  }
  #expect(losses.count == 40, "\(run)")
  #expect(losses.last! < losses.first! * 0.5, "losses \(losses)")
}

@Test func architecturesListsTheReferenceParameterCounts() throws {
  let run = try TandemProcess.run(["architectures"])
  #expect(run.status == 0)
  #expect(run.stdout.contains("xray-cnn\tinput 1x128x128\t105538 parameters\tstep "), "\(run)")
  #expect(run.stdout.contains("xray-cnn-gn\tinput 1x128x128\t106018 parameters\tstep "), "\(run)")
  #expect(run.stdout.contains("xray-cnn-deep\tinput 1x128x128\t409890 parameters\tstep "), "\(run)")
  #expect(run.stdout.split(separator: "\n").allSatisfy { $0.hasSuffix(" ms per sample") }, "every model has its step cost: \(run)")
  let quick = try TandemProcess.run(["architectures", "--no-timing", "--image-size", "64"])
  #expect(quick.status == 0 && quick.stdout.contains("xray-cnn\tinput 1x64x64\t105538 parameters\n"), "\(quick)")
}

/// OpenBLAS run on a kernel without FMA (as it falls back to on CPUs newer
/// than it knows) is named, with the kernel the CPU runs; its own pick is not.
@Test(.enabled(if: Gemm.vectorPathAvailable, "needs a CPU with AVX2 and FMA"))
func benchSgemmNamesTheOpenBLASKernelThisCPURunsWhenItFellBack() throws {
  let fallback = try TandemProcess.run(["bench", "sgemm"], environment: ["OPENBLAS_CORETYPE": "Prescott"])
  #expect(fallback.status == 0, "\(fallback)")
  let json = try #require(try JSONSerialization.jsonObject(with: Data(fallback.stdout.utf8)) as? [String: Any])
  #expect(json["blasCore"] as? String == "Prescott", "\(fallback)")
  let advised = try #require(json["blasCoreForThisCPU"] as? String, "\(fallback)")
  #expect(["SkylakeX", "Haswell"].contains(advised))
  #expect(fallback.stderr.contains("OPENBLAS_CORETYPE=\(advised)"), "\(fallback)")

  let fitting = try TandemProcess.run(["bench", "sgemm"], environment: ["OPENBLAS_CORETYPE": "Haswell"])
  #expect(fitting.status == 0 && !fitting.stdout.contains("blasCoreForThisCPU") && fitting.stderr.isEmpty, "\(fitting)")
}
