#include "tandem_kernels.h"
#include <string.h>

static int forced_scalar = 0;

void tandem_fixed_point_force_scalar(int on) { forced_scalar = on; }

// Exact float -> 64-bit fixed point from the float's bits: v = m * 2^(x - 150)
// with the 24-bit significand m, so v * 2^e is m shifted by x - 150 + e,
// rounded to nearest, ties to even, when the shift is to the right. No
// floating-point rounding mode or libm call is involved, so every CPU and
// both paths below give the same integers.

static inline int64_t fixed_one(float v, int e) {
  uint32_t bits;
  memcpy(&bits, &v, sizeof bits);
  int64_t x = (bits >> 23) & 0xff;
  uint64_t m = bits & 0x7fffff;
  if (x) m |= 0x800000; else x = 1;
  int64_t shift = x - 150 + e;
  uint64_t magnitude;
  if (shift >= 0) {
    magnitude = m << shift;
  } else {
    // Right shifts past 40 leave 0 (m < 2^24), as the rounding below does.
    int64_t s = -shift > 40 ? 40 : -shift;
    magnitude = (m + (1ull << (s - 1)) - 1 + ((m >> s) & 1)) >> s;
  }
  return (bits >> 31) ? -(int64_t)magnitude : (int64_t)magnitude;
}

static void fixed_accumulate_scalar(const float *src, long n, int e, int64_t *acc) {
  for (long i = 0; i < n; i++) acc[i] = (int64_t)((uint64_t)acc[i] + (uint64_t)fixed_one(src[i], e));
}

static uint32_t abs_bits_max_scalar(const float *src, long n) {
  uint32_t top = 0;
  for (long i = 0; i < n; i++) {
    uint32_t bits;
    memcpy(&bits, src + i, sizeof bits);
    bits &= 0x7fffffff;
    if (bits > top) top = bits;
  }
  return top;
}

#if defined(__x86_64__)
#include <immintrin.h>

__attribute__((target("avx2")))
static void fixed_accumulate_avx2(const float *src, long n, int e, int64_t *acc) {
  const __m256i zero = _mm256_setzero_si256(), one = _mm256_set1_epi64x(1);
  const __m256i mantissa = _mm256_set1_epi64x(0x7fffff), implicit = _mm256_set1_epi64x(0x800000);
  const __m256i bias = _mm256_set1_epi64x(150 - (int64_t)e), forty = _mm256_set1_epi64x(40);
  long i = 0;
  for (; i + 4 <= n; i += 4) {
    __m256i bits = _mm256_cvtepu32_epi64(_mm_loadu_si128((const __m128i *)(src + i)));
    __m256i x = _mm256_and_si256(_mm256_srli_epi64(bits, 23), _mm256_set1_epi64x(0xff));
    __m256i normal = _mm256_xor_si256(_mm256_cmpeq_epi64(x, zero), _mm256_set1_epi64x(-1));
    __m256i m = _mm256_or_si256(_mm256_and_si256(bits, mantissa), _mm256_and_si256(normal, implicit));
    x = _mm256_or_si256(x, _mm256_andnot_si256(normal, one));      /* subnormals: x = 1 */
    __m256i shift = _mm256_sub_epi64(x, bias);                       /* x - 150 + e */
    __m256i left = _mm256_sllv_epi64(m, shift);                      /* counts < 0 read as huge: 0 */
    __m256i s = _mm256_sub_epi64(zero, shift);
    s = _mm256_blendv_epi8(s, forty, _mm256_cmpgt_epi64(s, forty));
    __m256i half = _mm256_srli_epi64(_mm256_sllv_epi64(one, s), 1);
    __m256i lsb = _mm256_and_si256(_mm256_srlv_epi64(m, s), one);
    __m256i right = _mm256_srlv_epi64(_mm256_add_epi64(_mm256_sub_epi64(_mm256_add_epi64(m, half), one), lsb), s);
    __m256i magnitude = _mm256_blendv_epi8(left, right, _mm256_cmpgt_epi64(zero, shift));
    __m256i sign = _mm256_sub_epi64(zero, _mm256_srli_epi64(bits, 31));   /* 0 or -1 */
    __m256i value = _mm256_sub_epi64(_mm256_xor_si256(magnitude, sign), sign);
    __m256i *out = (__m256i *)(acc + i);
    _mm256_storeu_si256(out, _mm256_add_epi64(_mm256_loadu_si256(out), value));
  }
  fixed_accumulate_scalar(src + i, n - i, e, acc + i);
}

/// With AVX-512 DQ: a float times 2^e is exact in double (24 significant
/// bits, exponents well inside double's range), and one conversion with its
/// rounding fixed to nearest-even in the instruction (not taken from MXCSR)
/// gives the same integer as the bit arithmetic above. A chunk holding a
/// subnormal goes through the scalar path, so a denormals-are-zero mode set
/// behind our back cannot change a result.
__attribute__((target("avx512f,avx512dq")))
static void fixed_accumulate_avx512(const float *src, long n, int e, int64_t *acc) {
  const __m512d scale = _mm512_set1_pd(__builtin_ldexp(1.0, e));
  const __m256i exponent_bits = _mm256_set1_epi32(0x7f800000), magnitude_bits = _mm256_set1_epi32(0x7fffffff);
  long i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256i bits = _mm256_loadu_si256((const __m256i *)(src + i));
    __m256i subnormal = _mm256_andnot_si256(
        _mm256_cmpgt_epi32(_mm256_and_si256(bits, exponent_bits), _mm256_setzero_si256()),
        _mm256_cmpgt_epi32(_mm256_and_si256(bits, magnitude_bits), _mm256_setzero_si256()));
    if (!_mm256_testz_si256(subnormal, subnormal)) {
      fixed_accumulate_scalar(src + i, 8, e, acc + i);
      continue;
    }
    __m512d scaled = _mm512_mul_pd(_mm512_cvtps_pd(_mm256_castsi256_ps(bits)), scale);
    __m512i value = _mm512_cvt_roundpd_epi64(scaled, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    _mm512_storeu_si512(acc + i, _mm512_add_epi64(_mm512_loadu_si512(acc + i), value));
  }
  fixed_accumulate_scalar(src + i, n - i, e, acc + i);
}

static void fixed_to_float_scalar(const int64_t *src, long n, double scale, float *dst) {
  for (long i = 0; i < n; i++) dst[i] = (float)((double)src[i] * scale);
}

/// `dst[i] = (float)((double)src[i] * scale)`, each conversion rounding to
/// nearest-even by the instruction, as the scalar loop's do under the default
/// MXCSR (AVX2 has no int64-to-double vector conversion, so only AVX-512 is vectorised).
__attribute__((target("avx512f,avx512dq")))
static void fixed_to_float_avx512(const int64_t *src, long n, double scale, float *dst) {
  const __m512d factor = _mm512_set1_pd(scale);
  long i = 0;
  for (; i + 8 <= n; i += 8) {
    __m512d wide = _mm512_cvt_roundepi64_pd(_mm512_loadu_si512(src + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 narrow = _mm512_cvt_roundpd_ps(_mm512_mul_pd(wide, factor), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    _mm256_storeu_ps(dst + i, narrow);
  }
  fixed_to_float_scalar(src + i, n - i, scale, dst + i);
}

__attribute__((target("avx2")))
static uint32_t abs_bits_max_avx2(const float *src, long n) {
  __m256i top = _mm256_setzero_si256();
  const __m256i magnitude = _mm256_set1_epi32(0x7fffffff);
  long i = 0;
  for (; i + 8 <= n; i += 8)
    top = _mm256_max_epu32(top, _mm256_and_si256(_mm256_loadu_si256((const __m256i *)(src + i)), magnitude));
  uint32_t lanes[8];
  _mm256_storeu_si256((__m256i *)lanes, top);
  uint32_t result = abs_bits_max_scalar(src + i, n - i);
  for (int l = 0; l < 8; l++) if (lanes[l] > result) result = lanes[l];
  return result;
}
#endif

static int use_avx2(void) { return tandem_cpu_avx2() && !forced_scalar; }


void tandem_fixed_accumulate(const float *src, long n, int exponent, int64_t *acc) {
#if defined(__x86_64__)
  if (use_avx2() && tandem_gemm_avx512_path()) { fixed_accumulate_avx512(src, n, exponent, acc); return; }
  if (use_avx2()) { fixed_accumulate_avx2(src, n, exponent, acc); return; }
#endif
  fixed_accumulate_scalar(src, n, exponent, acc);
}

void tandem_fixed_to_float(const int64_t *src, long n, double scale, float *dst) {
#if defined(__x86_64__)
  if (use_avx2() && tandem_gemm_avx512_path()) { fixed_to_float_avx512(src, n, scale, dst); return; }
#endif
  fixed_to_float_scalar(src, n, scale, dst);
}

float tandem_abs_max(const float *src, long n) {
  uint32_t top;
#if defined(__x86_64__)
  if (use_avx2()) top = abs_bits_max_avx2(src, n); else
#endif
  top = abs_bits_max_scalar(src, n);
  if (top > 0x7f800000u) top = 0x7f800000u;  /* a NaN counts as infinite */
  float result;
  memcpy(&result, &top, sizeof result);
  return result;
}
