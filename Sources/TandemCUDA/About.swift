// TandemCUDA
//
// Owns: the CUDA backend as seen from Swift: finding and opening
// libtandem_cuda.so at run time (`CUDABackend`), one rank's GPU and what the
// snapshot records of it (`CUDADevice`), and a model's forward and backward
// passes on that GPU (`CUDAModel`, a `ComputeDevice`).
//
// Must not import: MPI, the data files or the trainer: only TandemNN and
// TandemTensor, so the layers it mirrors are the only thing it depends on.
// Nothing here links CUDA: a binary without the backend runs as before.
