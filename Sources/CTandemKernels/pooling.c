#include "tandem_kernels.h"
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

// 2 x 2 max pooling, stride 2. The scalar loops are the definition; the AVX2
// ones compute the same values (an ordered greater-than, so a NaN never wins
// over the first input, exactly as `v > best` in the scalar loop) eight
// outputs at a time without a branch per window.

static void pool_row_scalar(const float *r0, const float *r1, long from, long ow, float *out, unsigned char *arg) {
  for (long ox = from; ox < ow; ox++) {
    float v0 = r0[2 * ox], v1 = r0[2 * ox + 1], v2 = r1[2 * ox], v3 = r1[2 * ox + 1];
    float best = v0;
    unsigned char at = 0;
    if (v1 > best) { best = v1; at = 1; }
    if (v2 > best) { best = v2; at = 2; }
    if (v3 > best) { best = v3; at = 3; }
    out[ox] = best;
    arg[ox] = at;
  }
}

static void unpool_row_scalar(const float *g, const unsigned char *arg, const float *pooled, long from, long ow,
                              float *r0, float *r1) {
  for (long ox = from; ox < ow; ox++) {
    float *rows[2] = {r0, r1};
    float v = pooled && pooled[ox] <= 0 ? 0.0f : g[ox];
    for (int q = 0; q < 4; q++) rows[q >> 1][2 * ox + (q & 1)] = arg[ox] == q ? v : 0.0f;
  }
}

static int forced_scalar = 0;
void tandem_pooling_force_scalar(int on) { forced_scalar = on; }

#if defined(__x86_64__)
/// The even and the odd elements of 16 floats.
__attribute__((target("avx2")))
static inline void deinterleave(const float *p, __m256 *even, __m256 *odd) {
  __m256 a = _mm256_loadu_ps(p), b = _mm256_loadu_ps(p + 8);
  *even = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0x88)), 0xD8));
  *odd = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0xDD)), 0xD8));
}

__attribute__((target("avx2")))
static long pool_row_avx2(const float *r0, const float *r1, long ow, float *out, unsigned char *arg) {
  long ox = 0;
  for (; ox + 8 <= ow; ox += 8) {
    __m256 v0, v1, v2, v3;
    deinterleave(r0 + 2 * ox, &v0, &v1);
    deinterleave(r1 + 2 * ox, &v2, &v3);
    __m256 best = v0;
    __m256i at = _mm256_setzero_si256();
    __m256 m = _mm256_cmp_ps(v1, best, _CMP_GT_OQ);
    best = _mm256_blendv_ps(best, v1, m);
    at = _mm256_blendv_epi8(at, _mm256_set1_epi32(1), _mm256_castps_si256(m));
    m = _mm256_cmp_ps(v2, best, _CMP_GT_OQ);
    best = _mm256_blendv_ps(best, v2, m);
    at = _mm256_blendv_epi8(at, _mm256_set1_epi32(2), _mm256_castps_si256(m));
    m = _mm256_cmp_ps(v3, best, _CMP_GT_OQ);
    best = _mm256_blendv_ps(best, v3, m);
    at = _mm256_blendv_epi8(at, _mm256_set1_epi32(3), _mm256_castps_si256(m));
    _mm256_storeu_ps(out + ox, best);
    __m128i words = _mm_packus_epi32(_mm256_castsi256_si128(at), _mm256_extracti128_si256(at, 1));
    _mm_storel_epi64((__m128i *)(arg + ox), _mm_packus_epi16(words, words));
  }
  return ox;
}

__attribute__((target("avx2")))
static long unpool_row_avx2(const float *g, const unsigned char *arg, const float *pooled, long ow, float *r0,
                            float *r1) {
  long ox = 0;
  for (; ox + 8 <= ow; ox += 8) {
    __m256 v = _mm256_loadu_ps(g + ox);
    if (pooled) v = _mm256_andnot_ps(_mm256_cmp_ps(_mm256_loadu_ps(pooled + ox), _mm256_setzero_ps(), _CMP_LE_OQ), v);
    __m256i a = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(arg + ox)));
    __m256 s[4];
    for (int q = 0; q < 4; q++)
      s[q] = _mm256_and_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(a, _mm256_set1_epi32(q))), v);
    for (int row = 0; row < 2; row++) {
      __m256 lo = _mm256_unpacklo_ps(s[2 * row], s[2 * row + 1]), hi = _mm256_unpackhi_ps(s[2 * row], s[2 * row + 1]);
      float *dst = (row ? r1 : r0) + 2 * ox;
      _mm256_storeu_ps(dst, _mm256_permute2f128_ps(lo, hi, 0x20));
      _mm256_storeu_ps(dst + 8, _mm256_permute2f128_ps(lo, hi, 0x31));
    }
  }
  return ox;
}

#endif

static int use_avx2(void) { return tandem_cpu_avx2() && !forced_scalar; }

void tandem_max_pool_2x2(const float *x, long planes, long height, long width, float *y, unsigned char *argmax) {
  long oh = height / 2, ow = width / 2;
  int vector = use_avx2();
  for (long p = 0; p < planes; p++) {
    for (long oy = 0; oy < oh; oy++) {
      const float *r0 = x + (p * height + 2 * oy) * width, *r1 = r0 + width;
      float *out = y + (p * oh + oy) * ow;
      unsigned char *arg = argmax + (p * oh + oy) * ow;
      long from = 0;
#if defined(__x86_64__)
      if (vector) from = pool_row_avx2(r0, r1, ow, out, arg);
#endif
      pool_row_scalar(r0, r1, from, ow, out, arg);
    }
  }
}

void tandem_max_pool_2x2_backward(const float *dy, const unsigned char *argmax, const float *y, long planes,
                                  long height, long width, float *dx) {
  long oh = height / 2, ow = width / 2;
  int vector = use_avx2();
  for (long p = 0; p < planes; p++) {
    float *plane = dx + p * height * width;
    for (long oy = 0; oy < oh; oy++) {
      float *r0 = plane + 2 * oy * width, *r1 = r0 + width;
      const float *g = dy + (p * oh + oy) * ow;
      const unsigned char *arg = argmax + (p * oh + oy) * ow;
      const float *pooled = y ? y + (p * oh + oy) * ow : NULL;
      long from = 0;
#if defined(__x86_64__)
      if (vector) from = unpool_row_avx2(g, arg, pooled, ow, r0, r1);
#endif
      unpool_row_scalar(g, arg, pooled, from, ow, r0, r1);
      // An odd width's last column took part in no window.
      if (width & 1) r0[width - 1] = r1[width - 1] = 0.0f;
    }
    if (height & 1) memset(plane + (height - 1) * width, 0, (size_t)width * sizeof(float));
  }
}
