// TandemMPI
//
// Owns: `MPICommunicator` (time-bounded collectives with stall reports) and
// `MPIWorld`: the only importer of CMPI.
//
// Must not import: anything above TandemDistributed.
