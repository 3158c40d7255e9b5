import ArgumentParser
import Foundation
import TandemData
import TandemTensor
import TandemRun
import TandemTraining

extension Tandem {
  struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Benchmarks that print one JSON line each.",
      subcommands: [Kernels.self, Sgemm.self, Read.self])

    struct Sgemm: ParsableCommand {
      static let configuration = CommandConfiguration(
        abstract: "sgemm GFLOP/s on 1024³ matrices (the ceiling other figures are quoted against).",
        discussion: """
          tandem bench sgemm --blas-threads 1
          """)
      @Option(name: .customLong("blas-threads")) var blasThreads = 1
      func run() throws {
        BLAS.threadCount = blasThreads
        let rate = KernelBenchmark().measureSgemm()
        let advice = BLAS.coreTypeForThisCPU.map { ",\"blasCoreForThisCPU\":\"\($0)\"" } ?? ""
        warnOfOpenBLASFallback()
        printNow("{\"benchmark\":\"sgemm\",\"blasThreads\":\(blasThreads),\"blasCore\":\"\(BLAS.coreName)\"\(advice),\"sgemmGFLOPs\":\(rate)}")
      }
    }

    struct Kernels: ParsableCommand {
      static let configuration = CommandConfiguration(
        abstract: "sgemm, xray-cnn convolutions and the xray-cnn training step, on one core by default.",
          discussion: """
            tandem bench kernels
            OPENBLAS_CORETYPE=Haswell tandem bench kernels --numerics openblas
            """)

      @Option(name: .customLong("blas-threads")) var blasThreads = 1
      @Option var repeats = 5
      @Option(help: "The numeric path the convolutions and the step run on: pinned or openblas.") var numerics = NumericPath.pinned

      func run() throws {
        Numerics.path = numerics
        BLAS.threadCount = blasThreads
        var bench = KernelBenchmark()
        bench.repeats = repeats
        let result = try bench.run()
        warnOfOpenBLASFallback()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        printNow(String(decoding: try encoder.encode(result), as: UTF8.self))
      }
    }
  }
}

extension Tandem.Bench {
  struct Read: ParsableCommand, UsageChecked {
    static let configuration = CommandConfiguration(
      abstract: "Random batch reads of a dataset through DatasetReader, timed; prints one JSON line.",
      discussion: "tandem bench read xray.h5 --batch 64 --batches 3000")

    @Argument(help: "A file written by tandem ingest.") var file: String
    @Option(help: "Samples per batch.") var batch = 64
    @Option(help: "Batches to time.") var batches = 500
    @Option(help: "Seed for the random indices.") var seed: UInt64 = 7

    func checkUsage() throws {
      guard batch > 0, batches > 0 else { throw ValidationError("--batch and --batches must be positive") }
    }

    func run() throws {
      var bench = ReadBenchmark()
      bench.batchSize = batch
      bench.batches = batches
      bench.seed = seed
      let encoder = JSONEncoder()
      encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
      printNow(String(decoding: try encoder.encode(try bench.run(path: file)), as: UTF8.self))
    }
  }
}

/// An sgemm ceiling from a kernel without FMA would make every fraction of it
/// meaningless: say so, and name the kernel this CPU runs.
private func warnOfOpenBLASFallback() {
  guard let core = BLAS.coreTypeForThisCPU else { return }
  printError("tandem bench: OpenBLAS runs its \(BLAS.coreName) kernel, without FMA, on this CPU (newer than OpenBLAS knows); "
             + "run with OPENBLAS_CORETYPE=\(core) for the sgemm rate this CPU has")
}
