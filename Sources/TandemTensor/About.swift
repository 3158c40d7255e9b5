// TandemTensor
//
// Owns: Dense Float32 tensors and the arithmetic under everything: the pinned
// matrix kernel's Swift side (`Gemm`, `Numerics` with its self-test and
// identifiers), the one caller of OpenBLAS, im2col/col2im, SIMD kernels, libm-
// free `PortableMath`, the portable seeded RNG.
//
// Must not import: any Tandem module: this is the bottom layer.
