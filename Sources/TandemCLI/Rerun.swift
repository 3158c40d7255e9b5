import ArgumentParser
import Foundation
import TandemMPI
import TandemRun
import TandemTraining

extension Tandem {
  struct Rerun: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Retrain from a snapshot alone and compare with the original run's final parameters.",
      discussion: """
        mpirun -np N tandem rerun SNAPSHOT_ID [--store DIR] [--out DIR]
        Reads the run file, seed and dataset from the store (the dataset's content hash is \
        checked first), trains on N ranks into OUTPUT/, and compares the final parameters with \
        those the original run recorded. Prints `identical` (bitwise) and exits 0, or the \
        largest difference per tensor and exits 1. With the exact reduction (the default) any \
        N gives the original bits on the same kind of machine. The comparison is also written \
        to OUTPUT/RUN-ID/rerun.json.
        """)

    @Argument(help: "The snapshot id (64 hex digits; tandem snapshot list shows them).") var snapshotID: String
    @OptionGroup var storeOption: StoreOption
    @Option(help: "Where the re-run writes its run directory.") var out = "reruns"

    func run() throws {
      let faults = try FaultInjection(environment: ProcessInfo.processInfo.environment)
      var identical = false
      try MPIWorld.run { world in
        // Rank 0 recomputes the stored dataset's hash; the others only need its path.
        let rerun = try world.agree {
          try TandemTraining.Rerun(snapshotID: snapshotID, storeRoot: storeOption.store, output: out, coordinator: world.rank == 0)
        }
        world.collectiveTimeout = rerun.configuration.cluster.collectiveTimeout
        if world.rank == 0 {
          printNow("re-running snapshot \(snapshotID) (run \(rerun.original?.id ?? "?"), \(rerun.manifest.worldSize) rank(s)) "
                   + "on \(world.worldSize) rank(s)")
          for note in rerun.notes { printNow("note: \(note)") }
        }
        let training = TrainingRun(configuration: rerun.configuration, configurationText: rerun.manifest.configTOML,
                                   communicator: world, faults: faults, log: printNow)
        training.onPhase = { world.phase = $0 }
        training.mpiVersion = MPICommunicator.libraryVersion
        let summary = try training.run()
        var verdict = try world.agree { () throws -> [Int64] in
          guard world.rank == 0 else { return [0] }
          let comparison = try rerun.compare(parametersFile: summary.runDirectory + "/model.h5")
          try comparison.write(to: summary.runDirectory + "/rerun.json")
          for note in comparison.notes { printNow("note: \(note)") }
          for line in comparison.report { printNow(line) }
          return [comparison.identical ? 1 : 0]
        }
        try world.broadcast(&verdict, root: 0)
        identical = verdict[0] == 1
      }
      if !identical { throw ExitCode(1) }
    }
  }
}
