import ArgumentParser
import Foundation
import TandemCUDA
import TandemMPI
import TandemNN
import TandemTraining

extension Tandem {
  struct Diagnose: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Check the cluster set-up.",
      subcommands: [MPI.self, CUDA.self, CUDAReference.self])

    struct MPI: ParsableCommand, UsageChecked {
      static let configuration = CommandConfiguration(
        commandName: "mpi",
        abstract: "Check MPI: every rank reports, and allreduce and broadcast give exact results.",
        discussion: """
          mpirun -np 4 tandem diagnose mpi --count 1000000

          Run it as the job would run (the same launcher, hosts and ranks).
          """)

      @Option(help: "Elements in the test arrays.") var count = 100_003

      func checkUsage() throws {
        // An empty allreduce proves nothing.
        guard count > 0 else { throw ValidationError("--count must be positive, got \(count)") }
      }

      func run() throws {
        try MPIWorld.run { world in
          let n = world.worldSize, r = world.rank
          // Small integers: every partial sum is exact in Float, in any order.
          var values = (0..<count).map { Float(($0 % 1000) * (r + 1)) }
          try world.allreduce(&values, .sum)
          let factor = Float(n * (n + 1) / 2)
          if let bad = (0..<count).first(where: { values[$0] != Float($0 % 1000) * factor }) {
            throw DiagnoseError("allreduce element \(bad) is \(values[bad]), expected \(Float(bad % 1000) * factor)")
          }
          var token: [Int64] = r == 0 ? [0x7A4D_E3] : [0]
          try world.broadcast(&token, root: 0)
          guard token == [0x7A4D_E3] else { throw DiagnoseError("broadcast gave \(token[0])") }
          try world.barrier()
          printNow("rank \(r)/\(n) on \(world.processorName): allreduce of \(count) floats exact, broadcast ok")
          try world.barrier()
          if r == 0 { printNow("mpi ok: \(n) rank\(n == 1 ? "" : "s"), \(MPICommunicator.libraryVersion)") }
        }
      }
    }
  }
}

extension Tandem.Diagnose {
  struct CUDA: ParsableCommand {
    static let configuration = CommandConfiguration(
      commandName: "cuda",
      abstract: "Check the CUDA backend: it loads, and this rank's GPU opens as training would open it.",
      discussion: """
        mpirun -np 2 tandem diagnose cuda

        Each rank opens the GPU of its local rank (CUDA_VISIBLE_DEVICES applies) and \
        prints it; a missing backend, driver or GPU is one line and exit 1.
        """)

    func run() throws {
      let device = try CUDADevice.open()
      printNow("local rank \(CUDADevice.localRank()): GPU \(device.info.ordinal) of \(device.info.visibleDevices), \(device.summary)")
    }
  }

  struct CUDAReference: ParsableCommand, UsageChecked {
    static let configuration = CommandConfiguration(
      commandName: "cuda-reference",
      abstract: "Write the CPU path's answers for the CUDA harness (CUDA/harness/check).",
      discussion: """
        tandem diagnose cuda-reference --out cuda-reference
        .build/cuda/check cuda-reference/*

        One micro-batch of xray-cnn, xray-cnn-gn, xray-cnn-deep and churn-mlp: every layer's output and \
        input gradient, the loss and the parameter gradient, for a GPU machine without Swift.
        """)

    @Option(help: "Directory to write (one subdirectory per model).") var out: String
    @Option(help: "Samples in the batch.") var batch = 3
    @Option(help: "The image models' side, a multiple of 16 (xray-cnn-deep pools four times).") var imageSize = 128
    @Option(help: "Seed of the parameters and inputs.") var seed: UInt64 = 1

    func checkUsage() throws {
      guard batch > 0 else { throw ValidationError("--batch must be positive, got \(batch)") }
      let multiple = TandemTraining.CUDAReference.imageSizeMultiple
      guard imageSize >= multiple, imageSize % multiple == 0 else {
        throw ValidationError("--image-size must be a positive multiple of \(multiple), got \(imageSize)")
      }
    }

    func run() throws {
      for path in try TandemTraining.CUDAReference.writeStandard(to: out, imageSize: imageSize, batch: batch, seed: seed) {
        printNow(path)
      }
    }
  }
}

struct DiagnoseError: Error, CustomStringConvertible {
  let description: String
  init(_ description: String) { self.description = description }
}
