import CMPI
import Foundation
import TandemDistributed
import TandemTensor

public enum MPIWorld {
  /// Runs `body` between `MPI_Init` and `MPI_Finalize`. If `body` throws on any
  /// rank, that rank prints the error and calls `MPI_Abort`, which ends them
  /// all: no rank is left waiting in a collective.
  ///
  /// An `AgreedFailure` is known to every rank already (see
  /// `Communicator.agree`): rank 0 prints it once, every rank finalises, and
  /// the process exits with status 1 (or the error's `DistinctExitStatus`),
  /// which mpirun passes on.
  public static func run(collectiveTimeout: Double = 120, _ body: (MPICommunicator) throws -> Void) throws {
    try check(MPI_Init(nil, nil), "MPI_Init")
    let world = try MPICommunicator(collectiveTimeout: collectiveTimeout)
    do {
      try body(world)
    } catch let failure as AgreedFailure {
      if world.rank == 0 { FileHandle.standardError.write(Data("tandem: \(failure)\n".utf8)) }
      MPI_Finalize()
      exit(failure.exitStatus)
    } catch {
      let line = "tandem: rank \(world.rank): \(ErrorText.line(error))\n"
      FileHandle.standardError.write(Data(line.utf8))
      world.abort(code: (error as? DistinctExitStatus)?.exitStatus ?? 1)
    }
    try check(MPI_Finalize(), "MPI_Finalize")
  }

  /// True when this process was started by an MPI launcher (mpirun, srun, ...).
  public static var launchedByMPI: Bool {
    let env = ProcessInfo.processInfo.environment
    return env["OMPI_COMM_WORLD_SIZE"] != nil || env["PMI_SIZE"] != nil || env["PMIX_RANK"] != nil
  }
}
