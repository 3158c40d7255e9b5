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
    if let hint = launchHint(ProcessInfo.processInfo.environment) { throw MPILaunchError(description: hint) }
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

  /// Why MPI_Init cannot work in this environment, before it fails with a
  /// message of its own that says nothing of the fix: a task of a multi-task
  /// srun step without PMIx (`srun` with no `--mpi=pmix`, or `--mpi=pmi2`,
  /// which Open MPI builds such as Debian's do not speak) would die there.
  static func launchHint(_ env: [String: String]) -> String? {
    guard env["SLURM_STEP_ID"] != nil, let tasks = env["SLURM_STEP_NUM_TASKS"] ?? env["SLURM_NTASKS"], (Int(tasks) ?? 1) > 1,
          env["PMIX_RANK"] == nil, env["OMPI_COMM_WORLD_SIZE"] == nil else { return nil }
    let how = env["PMI_RANK"] != nil ? "srun started this task with PMI-2" : "srun started this task without PMIx"
    return "\(how), so Open MPI's MPI_Init cannot find the other \((Int(tasks) ?? 2) - 1) task(s): "
      + "start the ranks with `srun --mpi=pmix` (`srun --mpi=list` shows what this Slurm offers), or with mpirun inside the allocation"
  }

  /// True when this process was started by an MPI launcher (mpirun, srun, ...).
  public static var launchedByMPI: Bool {
    let env = ProcessInfo.processInfo.environment
    return env["OMPI_COMM_WORLD_SIZE"] != nil || env["PMI_SIZE"] != nil || env["PMIX_RANK"] != nil
  }
}

/// The launcher started this process in a way MPI_Init cannot work with.
public struct MPILaunchError: Error, CustomStringConvertible {
  public let description: String
}
