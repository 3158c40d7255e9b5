// TandemDistributed
//
// Owns: The `Communicator` protocol, agreement on failures across ranks, fused
// and exact (fixed-point) gradient reduction, and `LocalWorld` (ranks as
// threads, for tests).
//
// Must not import: MPI (TandemMPI implements the protocol) and no files.
