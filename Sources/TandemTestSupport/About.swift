// TandemTestSupport
//
// Owns: Test helpers: finite-difference gradient checks and running the built
// binary (under mpirun).
//
// Must not import: anything but TandemNN and TandemTensor; used by tests alone.
