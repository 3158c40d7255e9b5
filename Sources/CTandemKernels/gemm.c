#include "kernels_internal.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

// The reference loop must be an explicit fmaf chain; nothing may be contracted
// or reassociated behind our back.
#pragma clang fp contract(off)

#define MR 6
#define NR 16
#define KC 384
#define MC 96   /* multiple of MR: the packed A block (96 x 256 floats) sits in L2 */
#define NC 2048 /* multiple of NR */
/* Products at most this deep and this large skip packing (sgemm_small). */
#define SMALL_MAX_K 512
#define SMALL_MAX_VOLUME (1L << 21)

static inline float load_a(int ta, const float *a, long lda, long i, long p) {
  return ta ? a[p * lda + i] : a[i * lda + p];
}
static inline float load_b(int tb, const float *b, long ldb, long p, long j) {
  return tb ? b[j * ldb + p] : b[p * ldb + j];
}

void tandem_sgemm_reference(int ta, int tb, long m, long n, long k,
                            const float *a, long lda, const float *b, long ldb,
                            int accumulate, float *c, long ldc) {
  for (long i = 0; i < m; i++) {
    for (long j = 0; j < n; j++) {
      float acc = accumulate ? c[i * ldc + j] : 0.0f;
      for (long p = 0; p < k; p++) acc = fmaf(load_a(ta, a, lda, i, p), load_b(tb, b, ldb, p, j), acc);
      c[i * ldc + j] = acc;
    }
  }
}

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>

static int detect_avx2_fma(void) {
  unsigned eax, ebx, ecx, edx;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return 0;
  int fma = (ecx >> 12) & 1, osxsave = (ecx >> 27) & 1, avx = (ecx >> 28) & 1;
  if (!(fma && osxsave && avx)) return 0;
  unsigned lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  if ((lo & 6) != 6) return 0; /* the OS saves xmm and ymm state */
  if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return 0;
  return (ebx >> 5) & 1; /* AVX2 */
}

/// AVX-512 F, DQ, BW and VL, with the OS saving the zmm and mask state.
static int detect_avx512(void) {
  if (!detect_avx2_fma()) return 0;
  unsigned eax, ebx, ecx, edx;
  unsigned lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  if ((lo & 0xe6) != 0xe6) return 0;
  if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return 0;
  unsigned need = (1u << 16) | (1u << 17) | (1u << 30) | (1u << 31); /* F, DQ, BW, VL */
  return (ebx & need) == need;
}

/// 6 x 16 tile of C over kc steps of packed A (kc x 6) and packed B (kc x 16).
/// Starts from the tile's current values when `load`, else from +0.
__attribute__((target("avx2,fma")))
static void kernel_6x16(long kc, const float *restrict ap, const float *restrict bp,
                        float *restrict c, long ldc, int load) {
  __m256 c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
  if (load) {
    c00 = _mm256_loadu_ps(c + 0 * ldc); c01 = _mm256_loadu_ps(c + 0 * ldc + 8);
    c10 = _mm256_loadu_ps(c + 1 * ldc); c11 = _mm256_loadu_ps(c + 1 * ldc + 8);
    c20 = _mm256_loadu_ps(c + 2 * ldc); c21 = _mm256_loadu_ps(c + 2 * ldc + 8);
    c30 = _mm256_loadu_ps(c + 3 * ldc); c31 = _mm256_loadu_ps(c + 3 * ldc + 8);
    c40 = _mm256_loadu_ps(c + 4 * ldc); c41 = _mm256_loadu_ps(c + 4 * ldc + 8);
    c50 = _mm256_loadu_ps(c + 5 * ldc); c51 = _mm256_loadu_ps(c + 5 * ldc + 8);
  } else {
    c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = c40 = c41 = c50 = c51 = _mm256_setzero_ps();
  }
  for (long p = 0; p < kc; p++) {
    __m256 b0 = _mm256_load_ps(bp), b1 = _mm256_load_ps(bp + 8);
    __m256 a;
    a = _mm256_broadcast_ss(ap + 0); c00 = _mm256_fmadd_ps(a, b0, c00); c01 = _mm256_fmadd_ps(a, b1, c01);
    a = _mm256_broadcast_ss(ap + 1); c10 = _mm256_fmadd_ps(a, b0, c10); c11 = _mm256_fmadd_ps(a, b1, c11);
    a = _mm256_broadcast_ss(ap + 2); c20 = _mm256_fmadd_ps(a, b0, c20); c21 = _mm256_fmadd_ps(a, b1, c21);
    a = _mm256_broadcast_ss(ap + 3); c30 = _mm256_fmadd_ps(a, b0, c30); c31 = _mm256_fmadd_ps(a, b1, c31);
    a = _mm256_broadcast_ss(ap + 4); c40 = _mm256_fmadd_ps(a, b0, c40); c41 = _mm256_fmadd_ps(a, b1, c41);
    a = _mm256_broadcast_ss(ap + 5); c50 = _mm256_fmadd_ps(a, b0, c50); c51 = _mm256_fmadd_ps(a, b1, c51);
    ap += MR; bp += NR;
  }
  _mm256_storeu_ps(c + 0 * ldc, c00); _mm256_storeu_ps(c + 0 * ldc + 8, c01);
  _mm256_storeu_ps(c + 1 * ldc, c10); _mm256_storeu_ps(c + 1 * ldc + 8, c11);
  _mm256_storeu_ps(c + 2 * ldc, c20); _mm256_storeu_ps(c + 2 * ldc + 8, c21);
  _mm256_storeu_ps(c + 3 * ldc, c30); _mm256_storeu_ps(c + 3 * ldc + 8, c31);
  _mm256_storeu_ps(c + 4 * ldc, c40); _mm256_storeu_ps(c + 4 * ldc + 8, c41);
  _mm256_storeu_ps(c + 5 * ldc, c50); _mm256_storeu_ps(c + 5 * ldc + 8, c51);
}

/// A `ROWS` (at most 12) x 32 tile of C with AVX-512: two consecutive packed A
/// panels (rows 0-5 and 6-11, `astride` floats apart; the second read only
/// past row 6) against two consecutive packed B panels (columns 0-15 and
/// 16-31, `bstride` apart). Every element is the same chain as in
/// `kernel_6x16`; only more of them run at once.
__attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,fma")))
static inline void kernel_rows_x32(const int ROWS, long kc, const float *restrict ap, long astride,
                                   const float *restrict bp, long bstride, float *restrict c, long ldc, int load) {
  __m512 acc[12][2];
  _Pragma("clang loop unroll(full)")
  for (int r = 0; r < ROWS; r++)
    for (int v = 0; v < 2; v++) acc[r][v] = load ? _mm512_loadu_ps(c + r * ldc + 16 * v) : _mm512_setzero_ps();
  const float *a0 = ap, *a1 = ap + astride, *b0 = bp, *b1 = bp + bstride;
  for (long p = 0; p < kc; p++) {
    __m512 x = _mm512_load_ps(b0), y = _mm512_load_ps(b1);
    _Pragma("clang loop unroll(full)")
    for (int r = 0; r < ROWS; r++) {
      __m512 a = _mm512_set1_ps(r < MR ? a0[r] : a1[r - MR]);
      acc[r][0] = _mm512_fmadd_ps(a, x, acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(a, y, acc[r][1]);
    }
    a0 += MR; a1 += MR; b0 += NR; b1 += NR;
  }
  _Pragma("clang loop unroll(full)")
  for (int r = 0; r < ROWS; r++)
    for (int v = 0; v < 2; v++) _mm512_storeu_ps(c + r * ldc + 16 * v, acc[r][v]);
}

__attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,fma")))
static void kernel_12x32(long kc, const float *restrict ap, long astride, const float *restrict bp, long bstride,
                         float *restrict c, long ldc, int load) {
  kernel_rows_x32(12, kc, ap, astride, bp, bstride, c, ldc, load);
}

/// The rows (1 to 11) a block leaves after its 12-row pairs of panels, with
/// the same chains: at full width rather than through 6 x 16 tiles and a copy.
__attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,fma")))
static void kernel_tail_x32(int rows, long kc, const float *restrict ap, long astride, const float *restrict bp,
                            long bstride, float *restrict c, long ldc, int load) {
  switch (rows) {
#define TAIL_CASE(R) case R: kernel_rows_x32(R, kc, ap, astride, bp, bstride, c, ldc, load); break;
    TAIL_CASE(1) TAIL_CASE(2) TAIL_CASE(3) TAIL_CASE(4) TAIL_CASE(5) TAIL_CASE(6)
    TAIL_CASE(7) TAIL_CASE(8) TAIL_CASE(9) TAIL_CASE(10) TAIL_CASE(11)
#undef TAIL_CASE
    default: break;
  }
}

/// Packs rows [i0, i0+mc) x depth [p0, p0+kc) of op(A) into MR-row panels, zero-padded.
/// Eight depths at a time: the panel's rows are loaded as vectors and
/// transposed (rows past the matrix read as zero), then each depth's six
/// values stored at once, instead of one strided store per value.
__attribute__((target("avx2,fma")))
static void pack_a(int ta, const float *a, long lda, long m, long i0, long mc, long p0, long kc, float *dst) {
  const __m256i six = _mm256_setr_epi32(-1, -1, -1, -1, -1, -1, 0, 0);
  for (long ir = 0; ir < mc; ir += MR) {
    long rows = mc - ir < MR ? mc - ir : MR;
    long p = 0;
    if (!ta) {
      for (; p + 8 <= kc; p += 8) {
        __m256 r[8];
        for (int q = 0; q < 8; q++)
          r[q] = q < rows ? _mm256_loadu_ps(a + (i0 + ir + q) * lda + p0 + p) : _mm256_setzero_ps();
        transpose8(r);
        for (int q = 0; q < 8; q++) _mm256_maskstore_ps(dst + (p + q) * MR, six, r[q]);
      }
      for (; p < kc; p++)
        for (long r = 0; r < MR; r++) dst[p * MR + r] = r < rows ? a[(i0 + ir + r) * lda + p0 + p] : 0.0f;
    } else {
      const __m256i valid = first_lanes(rows);
      for (; p < kc; p++)
        _mm256_maskstore_ps(dst + p * MR, six, _mm256_maskload_ps(a + (p0 + p) * lda + i0 + ir, valid));
    }
    dst += kc * MR;
  }
  (void)m;
}

/// A full 16-column panel of a transposed B (16 rows of `src`, `ld` apart), kc deep.
__attribute__((target("avx2,fma")))
static void pack_b_transposed_panel(const float *src, long ld, long kc, float *dst) {
  long p = 0;
  for (; p + 8 <= kc; p += 8) {
    for (int half = 0; half < 2; half++) {
      __m256 r[8];
      for (int q = 0; q < 8; q++) r[q] = _mm256_loadu_ps(src + (half * 8 + q) * ld + p);
      transpose8(r);
      for (int q = 0; q < 8; q++) _mm256_store_ps(dst + (p + q) * NR + half * 8, r[q]);
    }
  }
  for (; p < kc; p++)
    for (long cc = 0; cc < NR; cc++) dst[p * NR + cc] = src[cc * ld + p];
}

/// Packs depth [p0, p0+kc) x columns [j0, j0+nc) of op(B) into NR-column panels, zero-padded.
__attribute__((target("avx2,fma")))
static void pack_b(int tb, const float *b, long ldb, long p0, long kc, long j0, long nc, float *dst) {
  for (long jr = 0; jr < nc; jr += NR) {
    long cols = nc - jr < NR ? nc - jr : NR;
    if (!tb) {
      for (long p = 0; p < kc; p++) {
        const float *src = b + (p0 + p) * ldb + j0 + jr;
        float *d = dst + p * NR;
        if (cols == NR) {
          memcpy(d, src, NR * sizeof(float));
        } else {
          long cc = 0;
          for (; cc < cols; cc++) d[cc] = src[cc];
          for (; cc < NR; cc++) d[cc] = 0.0f;
        }
      }
    } else if (cols == NR) {
      pack_b_transposed_panel(b + (j0 + jr) * ldb + p0, ldb, kc, dst);
    } else {
      for (long p = 0; p < kc; p++) {
        float *d = dst + p * NR;
        long cc = 0;
        for (; cc < cols; cc++) d[cc] = b[(j0 + jr + cc) * ldb + p0 + p];
        for (; cc < NR; cc++) d[cc] = 0.0f;
      }
    }
    dst += kc * NR;
  }
}

float *tandem_workspace(size_t floats, float **slot, size_t *capacity) {
  if (*capacity < floats) {
    free(*slot);
    *slot = aligned_alloc(64, ((floats * sizeof(float) + 63) / 64) * 64);
    if (!*slot) abort();
    *capacity = floats;
  }
  return *slot;
}

/// Row `q` (channel, kernel row, kernel column) of the column matrix of
/// `cc->image`, over the band's pixels [p0, p0+count): what `imageToColumns`
/// writes there, one output row's run at a time.
static void image_column_row(const tandem_conv_columns *cc, long q, long p0, long count, float *out) {
  const long taps = cc->kernel_h * cc->kernel_w, ow = cc->out_w;
  long channel = q / taps, ki = (q % taps) / cc->kernel_w, kj = q % cc->kernel_w;
  long offset = kj - cc->padding;
  // Output columns ox whose input column ox + offset lies inside the row.
  long lo = offset >= 0 ? 0 : -offset, hi = cc->width - offset < ow ? cc->width - offset : ow;
  if (hi < lo) hi = lo;
  for (long t = 0; t < count;) {
    long pixel = p0 + t, oy = cc->first_row + pixel / ow, ox = pixel % ow;
    long run = ow - ox < count - t ? ow - ox : count - t;
    long iy = oy + ki - cc->padding;
    float *d = out + t;
    if (iy < 0 || iy >= cc->height) {
      memset(d, 0, (size_t)run * sizeof(float));
    } else {
      const float *row = cc->image + (channel * cc->height + iy) * cc->width + offset;
      long from = ox > lo ? ox : lo, to = ox + run < hi ? ox + run : hi;
      if (from >= to) {
        memset(d, 0, (size_t)run * sizeof(float));
      } else {
        if (from > ox) memset(d, 0, (size_t)(from - ox) * sizeof(float));
        memcpy(d + (from - ox), row + from, (size_t)(to - from) * sizeof(float));
        if (ox + run > to) memset(d + (to - ox), 0, (size_t)(ox + run - to) * sizeof(float));
      }
    }
    t += run;
  }
}

static _Thread_local float *column_rows;
static _Thread_local size_t column_rows_capacity;

/// `pack_b` of the transposed column matrix (depth: the band's pixels;
/// columns: rows of the column matrix) straight from the image: each panel's
/// 16 rows built in a small scratch that stays in L1, then packed as
/// `pack_b` packs 16 rows of a transposed B.
__attribute__((target("avx2,fma")))
static void pack_b_image_transposed(const tandem_conv_columns *cc, long p0, long kc, long j0, long nc, float *dst) {
  float *rows = tandem_workspace((size_t)NR * kc, &column_rows, &column_rows_capacity);
  for (long jr = 0; jr < nc; jr += NR) {
    long cols = nc - jr < NR ? nc - jr : NR;
    for (long r = 0; r < cols; r++) image_column_row(cc, j0 + jr + r, p0, kc, rows + r * kc);
    if (cols == NR) {
      pack_b_transposed_panel(rows, kc, kc, dst);
    } else {
      for (long p = 0; p < kc; p++) {
        float *d = dst + p * NR;
        long r = 0;
        for (; r < cols; r++) d[r] = rows[r * kc + p];
        for (; r < NR; r++) d[r] = 0.0f;
      }
    }
    dst += kc * NR;
  }
}

static _Thread_local float *packed_a, *packed_b;
static _Thread_local size_t packed_a_capacity, packed_b_capacity;

/// The blocked product. With `transposed_c` the tile (i, j) of this product is
/// element (j, i) of `c`: the caller swapped the operands to compute Cᵀ = op(B)ᵀ·op(A)ᵀ.
__attribute__((target("avx2,fma")))
static void sgemm_blocked(int ta, int tb, long m, long n, long k, const float *a, long lda,
                          const float *b, long ldb, int accumulate, float *c, long ldc, int transposed_c,
                          const tandem_conv_columns *implicit_b) {
  float *ap = tandem_workspace((size_t)MC * KC, &packed_a, &packed_a_capacity);
  float *bp = tandem_workspace((size_t)KC * NC, &packed_b, &packed_b_capacity);
  float tile[MR * NR] __attribute__((aligned(32)));
  int wide_path = tandem_gemm_avx512_path();
  for (long jc = 0; jc < n; jc += NC) {
    long nc = n - jc < NC ? n - jc : NC;
    for (long pc = 0; pc < k; pc += KC) {
      long kc = k - pc < KC ? k - pc : KC;
      // After the first depth block every element continues its own chain from C.
      int load = accumulate || pc > 0;
      if (implicit_b) pack_b_image_transposed(implicit_b, pc, kc, jc, nc, bp);
      else pack_b(tb, b, ldb, pc, kc, jc, nc, bp);
      for (long ic = 0; ic < m; ic += MC) {
        long mc = m - ic < MC ? m - ic : MC;
        pack_a(ta, a, lda, m, ic, mc, pc, kc, ap);
        // Where the CPU has AVX-512 and a pair of full column panels remains,
        // the 12 x 32 kernel takes row pairs of panels and a narrower one
        // the rows left; other columns go through the 6 x 16 tiles.
        long step;
        for (long jr = 0; jr < nc; jr += step) {
          int wide = wide_path && !transposed_c && nc - jr >= 2 * NR;
          step = wide ? 2 * NR : NR;
          long rest = 0;
          if (wide) {
            for (; rest + 2 * MR <= mc; rest += 2 * MR)
              kernel_12x32(kc, ap + (rest / MR) * kc * MR, kc * MR, bp + (jr / NR) * kc * NR, kc * NR,
                           c + (ic + rest) * ldc + jc + jr, ldc, load);
            if (rest < mc) {
              kernel_tail_x32((int)(mc - rest), kc, ap + (rest / MR) * kc * MR, kc * MR, bp + (jr / NR) * kc * NR,
                              kc * NR, c + (ic + rest) * ldc + jc + jr, ldc, load);
              rest = mc;
            }
          }
          for (long jh = jr; jh < jr + step; jh += NR) {
            long cols = nc - jh < NR ? nc - jh : NR;
            const float *bpanel = bp + (jh / NR) * kc * NR;
            for (long ir = rest; ir < mc; ir += MR) {
              long rows = mc - ir < MR ? mc - ir : MR;
              const float *apanel = ap + (ir / MR) * kc * MR;
              long i = ic + ir, j = jc + jh;
              if (!transposed_c && rows == MR && cols == NR) {
                kernel_6x16(kc, apanel, bpanel, c + i * ldc + j, ldc, load);
                continue;
              }
              // Through a copy of the tile; padded lanes are computed and discarded.
              memset(tile, 0, sizeof tile);
              if (load) {
                for (long r = 0; r < rows; r++)
                  for (long q = 0; q < cols; q++)
                    tile[r * NR + q] = transposed_c ? c[(j + q) * ldc + i + r] : c[(i + r) * ldc + j + q];
              }
              kernel_6x16(kc, apanel, bpanel, tile, NR, load);
              for (long r = 0; r < rows; r++)
                for (long q = 0; q < cols; q++) {
                  if (transposed_c) c[(j + q) * ldc + i + r] = tile[r * NR + q];
                  else c[(i + r) * ldc + j + q] = tile[r * NR + q];
                }
            }
          }
        }
      }
    }
  }
}

static long round_up(long x, long to) { return (x + to - 1) / to * to; }

/// Whether a product goes unpacked (`sgemm_small`).
static int is_small_product(long m, long n, long k) { return k <= SMALL_MAX_K && m * n * k <= SMALL_MAX_VOLUME; }

/// Whether the blocked product is cheaper as Cᵀ = op(B)ᵀ·op(A)ᵀ (padding of
/// the MR x NR tiles in each orientation).
static int blocked_prefers_transposed(long m, long n, long k) {
  return k >= 64 && round_up(n, MR) * round_up(m, NR) * 4 < round_up(m, MR) * round_up(n, NR) * 3;
}

/// One tile of `ROWS` rows and `VECS` x 8 columns over the whole depth, for
/// products too small to repay packing. A is read where it lies, element
/// (r, p) at `a + r * ars + p * aps`; B's row p is the `VECS` vectors at
/// `b + p * bps`. With `TAIL` only `cols` columns are valid: the last
/// vector's loads and stores are masked, so nothing outside B or C is touched.
/// Each element is still the one chain of the reference, in ascending p.
__attribute__((target("avx2,fma"), always_inline))
static inline void small_tile(const int ROWS, const int VECS, const int TAIL, long k,
                              const float *a, long ars, long aps, const float *b, long bps,
                              __m256i mask, float *c, long ldc, int accumulate) {
  __m256 acc[MR][2];
  for (int r = 0; r < ROWS; r++)
    for (int v = 0; v < VECS; v++) {
      int masked = TAIL && v == VECS - 1;
      acc[r][v] = !accumulate ? _mm256_setzero_ps()
                  : masked    ? _mm256_maskload_ps(c + r * ldc + 8 * v, mask)
                              : _mm256_loadu_ps(c + r * ldc + 8 * v);
    }
  for (long p = 0; p < k; p++) {
    __m256 bv[2];
    for (int v = 0; v < VECS; v++)
      bv[v] = TAIL && v == VECS - 1 ? _mm256_maskload_ps(b + 8 * v, mask) : _mm256_loadu_ps(b + 8 * v);
    for (int r = 0; r < ROWS; r++) {
      __m256 av = _mm256_broadcast_ss(a + r * ars);
      for (int v = 0; v < VECS; v++) acc[r][v] = _mm256_fmadd_ps(av, bv[v], acc[r][v]);
    }
    a += aps;
    b += bps;
  }
  for (int r = 0; r < ROWS; r++)
    for (int v = 0; v < VECS; v++) {
      if (TAIL && v == VECS - 1) _mm256_maskstore_ps(c + r * ldc + 8 * v, mask, acc[r][v]);
      else _mm256_storeu_ps(c + r * ldc + 8 * v, acc[r][v]);
    }
}

#define SMALL_TILE_CASE(R, V, T) \
  case (R) * 4 + ((V) - 1) * 2 + (T): \
    small_tile(R, V, T, k, a, ars, aps, b, bps, mask, c, ldc, accumulate); break;
#define SMALL_TILE_ROWS(R) \
  SMALL_TILE_CASE(R, 1, 0) SMALL_TILE_CASE(R, 1, 1) SMALL_TILE_CASE(R, 2, 0) SMALL_TILE_CASE(R, 2, 1)

__attribute__((target("avx2,fma")))
static void small_tile_dispatch(int rows, int vecs, int tail, long k, const float *a, long ars, long aps,
                                const float *b, long bps, __m256i mask, float *c, long ldc, int accumulate) {
  switch (rows * 4 + (vecs - 1) * 2 + tail) {
    SMALL_TILE_ROWS(1) SMALL_TILE_ROWS(2) SMALL_TILE_ROWS(3)
    SMALL_TILE_ROWS(4) SMALL_TILE_ROWS(5) SMALL_TILE_ROWS(6)
    default: abort();
  }
}

static _Thread_local float *small_panel;
static _Thread_local size_t small_panel_capacity;

/// The unpacked product for small shapes (the MLPs' micro-batches): A is
/// never copied and B only when it is transposed, one 16-column panel at a
/// time. With `transposed_c`, element (i, j) of this product is (j, i) of `c`,
/// written through a tile copy.
__attribute__((target("avx2,fma")))
static void sgemm_small(int ta, int tb, long m, long n, long k, const float *a, long lda,
                        const float *b, long ldb, int accumulate, float *c, long ldc, int transposed_c) {
  long ars = ta ? 1 : lda, aps = ta ? lda : 1;
  float *panel = tb ? tandem_workspace((size_t)k * NR, &small_panel, &small_panel_capacity) : NULL;
  float tile[MR * NR] __attribute__((aligned(32)));
  for (long j = 0; j < n; j += NR) {
    long cols = n - j < NR ? n - j : NR;
    int vecs = cols > 8 ? 2 : 1, tail = cols % 8 != 0;
    __m256i mask = first_lanes(cols - 8 * (vecs - 1));
    const float *bj = b + j;
    long bps = ldb;
    if (tb) {
      pack_b(1, b, ldb, 0, k, j, cols, panel);
      bj = panel;
      bps = NR;
    }
    for (long i = 0; i < m; i += MR) {
      int rows = m - i < MR ? (int)(m - i) : MR;
      const float *ai = a + i * ars;
      if (!transposed_c) {
        small_tile_dispatch(rows, vecs, tail, k, ai, ars, aps, bj, bps, mask, c + i * ldc + j, ldc, accumulate);
        continue;
      }
      if (accumulate)
        for (long r = 0; r < rows; r++)
          for (long q = 0; q < cols; q++) tile[r * NR + q] = c[(j + q) * ldc + i + r];
      small_tile_dispatch(rows, vecs, tail, k, ai, ars, aps, bj, bps, mask, tile, NR, accumulate);
      for (long r = 0; r < rows; r++)
        for (long q = 0; q < cols; q++) c[(j + q) * ldc + i + r] = tile[r * NR + q];
    }
  }
}

/// Vector instructions the unpacked product issues in one orientation: a
/// multiply-add per row, per `width` columns, per depth step, plus packing B.
static long small_cost(int tb, long m, long n, long k, long width) {
  return m * ((n + width - 1) / width) * k + (tb ? k * ((n + NR - 1) / NR) * NR / 2 : 0);
}

#define MR_WIDE 12
#define NR_WIDE 32
#define AVX512 __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,fma")))

/// `small_tile` with AVX-512: up to 12 rows of two 16-column vectors, the
/// second `vstride` floats after the first in each row of B (16 in B itself,
/// one packed panel further in a packed B). The same chains, more at once.
AVX512 __attribute__((always_inline))
static inline void small_tile_wide(const int ROWS, const int VECS, const int TAIL, long k,
                                   const float *a, long ars, long aps, const float *b, long bps, long vstride,
                                   __mmask16 mask, float *c, long ldc, int accumulate) {
  __m512 acc[MR_WIDE][2];
  _Pragma("clang loop unroll(full)") for (int r = 0; r < ROWS; r++)
    for (int v = 0; v < VECS; v++) {
      int masked = TAIL && v == VECS - 1;
      acc[r][v] = !accumulate ? _mm512_setzero_ps()
                  : masked    ? _mm512_maskz_loadu_ps(mask, c + r * ldc + 16 * v)
                              : _mm512_loadu_ps(c + r * ldc + 16 * v);
    }
  for (long p = 0; p < k; p++) {
    __m512 bv[2];
    _Pragma("clang loop unroll(full)") for (int v = 0; v < VECS; v++)
      bv[v] = TAIL && v == VECS - 1 ? _mm512_maskz_loadu_ps(mask, b + v * vstride) : _mm512_loadu_ps(b + v * vstride);
    _Pragma("clang loop unroll(full)") for (int r = 0; r < ROWS; r++) {
      __m512 av = _mm512_set1_ps(a[r * ars]);
      for (int v = 0; v < VECS; v++) acc[r][v] = _mm512_fmadd_ps(av, bv[v], acc[r][v]);
    }
    a += aps;
    b += bps;
  }
  _Pragma("clang loop unroll(full)") for (int r = 0; r < ROWS; r++)
    for (int v = 0; v < VECS; v++) {
      if (TAIL && v == VECS - 1) _mm512_mask_storeu_ps(c + r * ldc + 16 * v, mask, acc[r][v]);
      else _mm512_storeu_ps(c + r * ldc + 16 * v, acc[r][v]);
    }
}

#define WIDE_TILE_CASE(R, V, T) \
  case (R) * 4 + ((V) - 1) * 2 + (T): \
    small_tile_wide(R, V, T, k, a, ars, aps, b, bps, vstride, mask, c, ldc, accumulate); break;
#define WIDE_TILE_ROWS(R) \
  WIDE_TILE_CASE(R, 1, 0) WIDE_TILE_CASE(R, 1, 1) WIDE_TILE_CASE(R, 2, 0) WIDE_TILE_CASE(R, 2, 1)

AVX512
static void small_tile_wide_dispatch(int rows, int vecs, int tail, long k, const float *a, long ars, long aps,
                                     const float *b, long bps, long vstride, __mmask16 mask, float *c, long ldc,
                                     int accumulate) {
  switch (rows * 4 + (vecs - 1) * 2 + tail) {
    WIDE_TILE_ROWS(1) WIDE_TILE_ROWS(2) WIDE_TILE_ROWS(3) WIDE_TILE_ROWS(4)
    WIDE_TILE_ROWS(5) WIDE_TILE_ROWS(6) WIDE_TILE_ROWS(7) WIDE_TILE_ROWS(8)
    WIDE_TILE_ROWS(9) WIDE_TILE_ROWS(10) WIDE_TILE_ROWS(11) WIDE_TILE_ROWS(12)
    default: abort();
  }
}

/// `sgemm_small` with AVX-512 tiles of up to 12 x 32. A transposed B is
/// packed two 16-column panels at a time.
AVX512
static void sgemm_small_wide(int ta, int tb, long m, long n, long k, const float *a, long lda,
                             const float *b, long ldb, int accumulate, float *c, long ldc, int transposed_c) {
  long ars = ta ? 1 : lda, aps = ta ? lda : 1;
  float *panel = tb ? tandem_workspace((size_t)k * NR_WIDE, &small_panel, &small_panel_capacity) : NULL;
  float tile[MR_WIDE * NR_WIDE] __attribute__((aligned(64)));
  for (long j = 0; j < n; j += NR_WIDE) {
    long cols = n - j < NR_WIDE ? n - j : NR_WIDE;
    int vecs = cols > 16 ? 2 : 1, tail = cols % 16 != 0;
    __mmask16 mask = (__mmask16)((1u << (cols - 16 * (vecs - 1))) - 1);
    const float *bj = b + j;
    long bps = ldb, vstride = 16;
    if (tb) {
      pack_b(1, b, ldb, 0, k, j, cols, panel);
      bj = panel;
      bps = NR;
      vstride = k * NR;
    }
    for (long i = 0; i < m; i += MR_WIDE) {
      int rows = m - i < MR_WIDE ? (int)(m - i) : MR_WIDE;
      const float *ai = a + i * ars;
      if (!transposed_c) {
        small_tile_wide_dispatch(rows, vecs, tail, k, ai, ars, aps, bj, bps, vstride, mask, c + i * ldc + j, ldc,
                                 accumulate);
        continue;
      }
      if (accumulate)
        for (long r = 0; r < rows; r++)
          for (long q = 0; q < cols; q++) tile[r * NR_WIDE + q] = c[(j + q) * ldc + i + r];
      small_tile_wide_dispatch(rows, vecs, tail, k, ai, ars, aps, bj, bps, vstride, mask, tile, NR_WIDE, accumulate);
      for (long r = 0; r < rows; r++)
        for (long q = 0; q < cols; q++) c[(j + q) * ldc + i + r] = tile[r * NR_WIDE + q];
    }
  }
}

__attribute__((target("avx2,fma")))
static void sgemm_avx2(int ta, int tb, long m, long n, long k, const float *a, long lda,
                       const float *b, long ldb, int accumulate, float *c, long ldc) {
  if (k == 0) {
    if (!accumulate) for (long i = 0; i < m; i++) memset(c + i * ldc, 0, (size_t)n * sizeof(float));
    return;
  }
  // Cᵀ = op(B)ᵀ·op(A)ᵀ computes every element by the same chain, so either
  // orientation may be taken: the cheaper one.
  if (is_small_product(m, n, k)) {
    // Writing the transposed result goes through a tile copy: an element each way.
    int wide = tandem_gemm_avx512_path();
    long width = wide ? 16 : 8;
    void (*small)(int, int, long, long, long, const float *, long, const float *, long, int, float *, long, int) =
        wide ? sgemm_small_wide : sgemm_small;
    if (small_cost(!ta, n, m, k, width) + m * n * (accumulate ? 2 : 1) < small_cost(tb, m, n, k, width))
      small(!tb, !ta, n, m, k, b, ldb, a, lda, accumulate, c, ldc, 1);
    else
      small(ta, tb, m, n, k, a, lda, b, ldb, accumulate, c, ldc, 0);
    return;
  }
  if (blocked_prefers_transposed(m, n, k))
    sgemm_blocked(!tb, !ta, n, m, k, b, ldb, a, lda, accumulate, c, ldc, 1, NULL);
  else
    sgemm_blocked(ta, tb, m, n, k, a, lda, b, ldb, accumulate, c, ldc, 0, NULL);
}
#endif

static int vector_path = -1;
static int forced_reference = 0;

int tandem_gemm_vector_path(void) {
#if defined(__x86_64__)
  if (vector_path < 0) vector_path = detect_avx2_fma();
  return vector_path && !forced_reference;
#else
  return 0;
#endif
}

void tandem_gemm_force_reference(int on) { forced_reference = on; }

static int forced_avx2 = 0;

int tandem_gemm_avx512_path(void) { return tandem_gemm_vector_path() && !forced_avx2 && tandem_cpu_avx512(); }

void tandem_gemm_force_avx2(int on) { forced_avx2 = on; }

int tandem_cpu_avx2(void) {
#if defined(__x86_64__)
  static int avx2 = -1;
  if (avx2 < 0) avx2 = __builtin_cpu_supports("avx2");
  return avx2;
#else
  return 0;
#endif
}

int tandem_cpu_avx512(void) {
#if defined(__x86_64__)
  static int avx512 = -1;
  if (avx512 < 0) avx512 = detect_avx512();
  return avx512;
#else
  return 0;
#endif
}

int tandem_sgemm_implicit_columns(int transpose_b, long m, long n, long k, const float *a, long lda,
                                  const tandem_conv_columns *b, int accumulate, float *c, long ldc) {
#if defined(__x86_64__)
  // The forward product, and the weight gradient's of a small patch, go
  // direct (conv_direct.c). Other weight gradients take the blocked product
  // with the transposed columns packed from the image, where tandem_sgemm
  // would run it blocked and unswapped too: elsewhere (small or swapped
  // products, the scalar reference) the caller builds the columns and calls
  // tandem_sgemm, which is as fast there.
  if (!tandem_gemm_vector_path() || m <= 0 || n <= 0 || k <= 0) return 0;
  long patch = b->channels * b->kernel_h * b->kernel_w, pixels = transpose_b ? k : n;
  if ((transpose_b ? n : k) != patch) return 0;
  if (pixels % b->out_w == 0 && (!transpose_b || tandem_conv_direct_fits(b))) {
    tandem_conv_direct(transpose_b, m, pixels, a, lda, b, accumulate, c, ldc);
    return 1;
  }
  if (!transpose_b || is_small_product(m, n, k) || blocked_prefers_transposed(m, n, k)) return 0;
  sgemm_blocked(0, 1, m, n, k, a, lda, NULL, 0, accumulate, c, ldc, 0, b);
  return 1;
#else
  return 0;
#endif
}

void tandem_sgemm(int ta, int tb, long m, long n, long k, const float *a, long lda,
                  const float *b, long ldb, int accumulate, float *c, long ldc) {
  if (m <= 0 || n <= 0) return;
#if defined(__x86_64__)
  if (tandem_gemm_vector_path()) { sgemm_avx2(ta, tb, m, n, k, a, lda, b, ldb, accumulate, c, ldc); return; }
#endif
  tandem_sgemm_reference(ta, tb, m, n, k, a, lda, b, ldb, accumulate, c, ldc);
}
