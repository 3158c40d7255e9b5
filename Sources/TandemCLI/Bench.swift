import ArgumentParser
import Foundation
import TandemTensor
import TandemRun
import TandemTraining

extension Tandem {
  struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Benchmarks that print one JSON line each.",
      subcommands: [Kernels.self, Sgemm.self])

    struct Sgemm: ParsableCommand {
      static let configuration = CommandConfiguration(abstract: "sgemm GFLOP/s on 1024³ matrices (the ceiling other figures are quoted against).")
      @Option(name: .customLong("blas-threads")) var blasThreads = 1
      func run() throws {
        BLAS.threadCount = blasThreads
        let rate = KernelBenchmark().measureSgemm()
        printNow("{\"benchmark\":\"sgemm\",\"blasThreads\":\(blasThreads),\"blasCore\":\"\(BLAS.coreName)\",\"sgemmGFLOPs\":\(rate)}")
      }
    }

    struct Kernels: ParsableCommand {
      static let configuration = CommandConfiguration(
        abstract: "sgemm, xray-cnn convolutions and the xray-cnn training step, on one core by default.")

      @Option(name: .customLong("blas-threads")) var blasThreads = 1
      @Option var repeats = 5
      @Option(help: "The numeric path the convolutions and the step run on: pinned or openblas.") var numerics = NumericPath.pinned

      func run() throws {
        Numerics.path = numerics
        BLAS.threadCount = blasThreads
        var bench = KernelBenchmark()
        bench.repeats = repeats
        let result = try bench.run()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        printNow(String(decoding: try encoder.encode(result), as: UTF8.self))
      }
    }
  }
}

