// Shared by the kernel files of this target; not part of its interface.
#ifndef TANDEM_KERNELS_INTERNAL_H
#define TANDEM_KERNELS_INTERNAL_H

#include "tandem_kernels.h"
#include <stddef.h>

/// A thread's scratch of at least `floats` floats, 64-byte aligned, kept in
/// `*slot` between calls and grown when too small.
float *tandem_workspace(size_t floats, float **slot, size_t *capacity);

/// Whether the weight gradient's product of this shape goes direct: a patch
/// small enough for its accumulators to stay in registers (conv1's 9 taps).
int tandem_conv_direct_fits(const tandem_conv_columns *cc);

/// `tandem_sgemm_implicit_columns` without packing or column matrix, over
/// whole output rows (`pixels` a multiple of `out_w`): the forward product for
/// any patch, the weight gradient's (`transpose_b`) where
/// `tandem_conv_direct_fits`. Each output element the same chain as the
/// reference's. Needs AVX2 and FMA.
void tandem_conv_direct(int transpose_b, long m, long pixels, const float *a, long lda,
                        const tandem_conv_columns *cc, int accumulate, float *c, long ldc);

#if defined(__x86_64__)
#include <immintrin.h>

/// A mask of the first `n` of eight lanes (all for n >= 8, none for n <= 0),
/// for the masked loads and stores of a vector's tail.
__attribute__((target("avx2,fma")))
static inline __m256i first_lanes(long n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n < 8 ? n : 8)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/// Eight rows of eight floats, transposed: out[q] holds element q of rows 0..7.
__attribute__((target("avx2,fma")))
static inline void transpose8(__m256 r[8]) {
  __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
  __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
  __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  r[0] = _mm256_permute2f128_ps(s0, s4, 0x20); r[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
  r[2] = _mm256_permute2f128_ps(s2, s6, 0x20); r[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
  r[4] = _mm256_permute2f128_ps(s0, s4, 0x31); r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
  r[6] = _mm256_permute2f128_ps(s2, s6, 0x31); r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}
#endif

#endif
