import ArgumentParser
import Foundation
import TandemMPI

extension Tandem {
  struct Diagnose: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Check the cluster set-up.",
      subcommands: [MPI.self])

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

struct DiagnoseError: Error, CustomStringConvertible {
  let description: String
  init(_ description: String) { self.description = description }
}
