#ifndef TANDEM_KERNELS_H
#define TANDEM_KERNELS_H
// Tandem's own matrix product, the kernel behind its pinned numeric path.
//
// Every element is computed as one chain of fused multiply-adds in ascending
// k, starting from C (accumulate) or +0:
//     acc = accumulate ? C[i][j] : +0;  for p in 0..<k: acc = fma(A[i][p], B[p][j], acc)
// Blocking, vector width and the instruction set only decide which elements
// are computed together, never the order of any element's additions, so the
// AVX2 kernel, any wider kernel and the scalar `fmaf` reference give the same
// bits on every machine.
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Row-major `C = op(A)·op(B)` (or `C += ...` with `accumulate`), where op(A) is
/// m×k and op(B) is k×n. `transpose_a`/`transpose_b` read A as k×m / B as n×k.
void tandem_sgemm(int transpose_a, int transpose_b, long m, long n, long k,
                  const float *a, long lda, const float *b, long ldb,
                  int accumulate, float *c, long ldc);

/// The column matrix of a stride-1 convolution over one `[channels, height,
/// width]` image, for the output rows from `first_row` on: row (channel,
/// kernel row, kernel column), column (output row, output column), zero where
/// the window lies in the padding (what `Im2Col.imageToColumns` writes).
typedef struct {
  const float *image;
  long channels, height, width, kernel_h, kernel_w, padding;
  long out_w, first_row;
} tandem_conv_columns;

/// `C = A·op(B)` (or `C += ...` with `accumulate`) with B that column matrix
/// (channels·kernel_h·kernel_w rows, one column per output pixel of the band;
/// `transpose_b`: its transpose, as the weight gradient takes it), never
/// written out: the same values in the same chains, so the bits of
/// `tandem_sgemm` on the explicit matrix. The forward product over whole
/// output rows, and the weight gradient of a patch of at most 12 taps, read
/// the taps from padded copies of the image rows (direct kernels); other
/// weight gradients are packed straight from the image. Returns 0 and does
/// nothing where that is not the product `tandem_sgemm` would run anyway
/// (other small or swapped weight gradients, the scalar reference): build the
/// columns then.
int tandem_sgemm_implicit_columns(int transpose_b, long m, long n, long k, const float *a, long lda,
                                  const tandem_conv_columns *b, int accumulate, float *c, long ldc);

/// The same product by the scalar reference loop (`fmaf`), on any CPU.
void tandem_sgemm_reference(int transpose_a, int transpose_b, long m, long n, long k,
                            const float *a, long lda, const float *b, long ldb,
                            int accumulate, float *c, long ldc);

/// Which code `tandem_sgemm` runs here: 1 for the AVX2+FMA kernel, 0 for the
/// scalar reference (slow: no vector FMA on this CPU).
int tandem_gemm_vector_path(void);

/// Forces the scalar reference (for tests and the self-test's cross-check).
void tandem_gemm_force_reference(int on);

/// 1 where the CPU runs AVX2 (the fixed point's and the pooling's vector loops).
int tandem_cpu_avx2(void);

/// 1 where the CPU and OS run AVX-512 (F, DQ, BW, VL).
int tandem_cpu_avx512(void);

/// 1 when `tandem_sgemm` also runs its AVX-512 tiles (an AVX-512 CPU, the
/// vector path, and not forced to AVX2): the same bits, more at once.
int tandem_gemm_avx512_path(void);

/// Non-zero keeps the vector paths (these tiles, the fixed point) to AVX2: `TANDEM_PINNED_KERNEL=avx2`, tests.
void tandem_gemm_force_avx2(int on);

/// `acc[i] += src[i] · 2^exponent` rounded to the nearest integer, ties to
/// even, for finite `src[i]` with `|src[i]| · 2^exponent <= 2^62` (the exact
/// reduction's fixed point). The AVX-512, AVX2 and scalar paths give the same
/// integers (the AVX-512 one only where `tandem_gemm_avx512_path`); additions wrap.
void tandem_fixed_accumulate(const float *src, long n, int exponent, int64_t *acc);

/// `dst[i] = (float)((double)src[i] * scale)`, rounding to nearest-even at
/// both conversions (the exact reduction's way back from fixed point).
void tandem_fixed_to_float(const int64_t *src, long n, double scale, float *dst);

/// The largest |src[i]|; +infinity when any is infinite or NaN.
float tandem_abs_max(const float *src, long n);

/// Non-zero forces the scalar paths of the two above (tests).
void tandem_fixed_point_force_scalar(int on);

/// `out` row b = `table` row `rows[b]`, each `width` floats, for b < count:
/// a batch of shuffled rows, with the rows ahead prefetched.
void tandem_gather_rows(const float *table, long width, const long *rows, long count, float *out);

/// Float64 sums of `count` streams of `n` floats, stream g at `x + g*stride`,
/// each one chain of additions in element order (the plain loop's bits),
/// several streams side by side: `sums[g] = Σ_k (double)x[g*stride + k]`.
void tandem_chained_sums(const float *x, long stride, long count, long n, double *sums);

/// As `tandem_chained_sums` of `d*d` with `d = (double)x - means[g]` (a
/// product, then an addition: never fused).
void tandem_chained_centered_squares(const float *x, long stride, long count, long n, const double *means,
                                     double *sums);

/// As `tandem_chained_sums` of `a`, and of the float products `a*b` widened,
/// the two chains of each stream side by side.
void tandem_chained_sums_and_products(const float *a, const float *b, long stride, long count, long n,
                                      double *sums, double *productSums);

/// 2 x 2 max pooling, stride 2, over `planes` planes of `[height, width]`
/// (odd trailing rows and columns dropped): y is each window's first maximum
/// and argmax its position (0 to 3, row-major in the window).
void tandem_max_pool_2x2(const float *x, long planes, long height, long width, float *y, unsigned char *argmax);

/// Writes all of dx: each window's gradient at its argmax, +0 elsewhere.
/// With the forward output `y` (else NULL), a window whose maximum is <= 0
/// passes +0: the mask of a ReLU before the pooling, whose output is >= 0
/// and whose gradient is nonzero only at the argmax.
void tandem_max_pool_2x2_backward(const float *dy, const unsigned char *argmax, const float *y, long planes,
                                  long height, long width, float *dx);

/// Non-zero forces the pooling kernels' scalar loops (tests compare the two).
void tandem_pooling_force_scalar(int on);

#ifdef __cplusplus
}
#endif
#endif
