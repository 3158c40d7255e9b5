// Direct products of a stride-1 convolution: the column matrix is never
// written nor packed. Each output row's input rows are copied once, padded
// with zeros, into a scratch that stays in cache (17 KB for conv2 of
// xray-cnn), and every tap of the patch is read from there where it lies.
//
// - The forward product, any patch: 6 output channels x 16 pixels a tile, the
//   packed kernel's shape, with B's rows read in place. Measured on one core
//   of an AMD EPYC (bench kernels, batch 16): xray-cnn's conv2 to conv4 6.7,
//   6.2 and 5.9 ms against 8.6, 7.3 and 7.6 packed from the image, and conv1
//   (9 deep, too thin to repay packing) 1.8 against 2.8 with explicit columns.
// - The weight gradient of a patch of at most 12 taps (conv1: one channel,
//   3 x 3, 9 wide): 8 output channels a vector, the gradient transposed in
//   8 x 8 blocks; larger patches stay blocked (gemm.c), where this shape
//   would spill its accumulators.
//
// Each output element is the reference's chain: the forward product over the
// patch in ascending order from +0 (or C's value), the weight gradient over
// the band's pixels in ascending order from C's value. So the bits are those
// of tandem_sgemm on im2col.
#include "kernels_internal.h"
#include <stdlib.h>
#include <string.h>

#pragma clang fp contract(off)

/// The weight gradient's patch limit: its accumulators (one vector per tap),
/// a vector of the gradient and a broadcast must fit the 16 ymm registers.
#define DIRECT_MAX_PATCH 12
#define W 8 /* floats in a vector */

int tandem_conv_direct_fits(const tandem_conv_columns *cc) {
  return cc->channels * cc->kernel_h * cc->kernel_w <= DIRECT_MAX_PATCH;
}

#if defined(__x86_64__)

static _Thread_local float *padded;
static _Thread_local size_t padded_capacity;

/// Floats per padded row: the input row with `padding` zeros either side,
/// then two vectors' worth of zeros so a tail block may load past the last tap.
static long padded_stride(const tandem_conv_columns *cc) {
  long span = cc->out_w + cc->kernel_w - 1 + 2 * W;
  return (span + W - 1) / W * W;
}

/// Row (channel, ki) of `rows` holds input row oy + ki - padding, placed so
/// that tap (channel, ki, kj) of output column ox is at index ox + kj: all
/// zeros where that input row lies outside the image.
static void pad_rows(const tandem_conv_columns *cc, long oy, float *rows, long stride) {
  for (long ch = 0; ch < cc->channels; ch++) {
    for (long ki = 0; ki < cc->kernel_h; ki++) {
      float *d = rows + (ch * cc->kernel_h + ki) * stride;
      long iy = oy + ki - cc->padding;
      memset(d, 0, (size_t)stride * sizeof(float));
      if (iy < 0 || iy >= cc->height) continue;
      // Input column ix at index ix + padding; stride > width + 2 * padding.
      memcpy(d + cc->padding, cc->image + (ch * cc->height + iy) * cc->width, (size_t)cc->width * sizeof(float));
    }
  }
}

static _Thread_local long *offsets;
static _Thread_local size_t offsets_capacity;

static long *offset_scratch(size_t count) {
  if (offsets_capacity < count) {
    free(offsets);
    offsets = malloc(count * sizeof(long));
    if (!offsets) abort();
    offsets_capacity = count;
  }
  return offsets;
}

/// Offsets of the patch's taps in the padded rows, in the column matrix's row order.
static void tap_offsets(const tandem_conv_columns *cc, long stride, long *offset) {
  long j = 0;
  for (long ch = 0; ch < cc->channels; ch++)
    for (long ki = 0; ki < cc->kernel_h; ki++)
      for (long kj = 0; kj < cc->kernel_w; kj++) offset[j++] = (ch * cc->kernel_h + ki) * stride + kj;
}

#define FORWARD_ROWS 6
#define FORWARD_PIXELS (2 * W)

/// `ROWS` output channels x 16 output pixels (the first `count` read and
/// stored): each element one chain over the patch, from C's value with
/// `load`, else from +0. A 6 x 16 tile, the shape of the packed kernel's, with
/// B's rows read where they lie in the padded rows instead of packed.
__attribute__((target("avx2,fma"), always_inline))
static inline void forward_block(const int ROWS, long patch, const long *offset, const float *a, long lda,
                                 const float *taps, float *c, long ldc, long count, int load) {
  const __m256i valid0 = first_lanes(count), valid1 = first_lanes(count - W);
  __m256 acc[FORWARD_ROWS][2];
  _Pragma("clang loop unroll(full)")
  for (int r = 0; r < ROWS; r++) {
    acc[r][0] = load ? _mm256_maskload_ps(c + r * ldc, valid0) : _mm256_setzero_ps();
    acc[r][1] = load ? _mm256_maskload_ps(c + r * ldc + W, valid1) : _mm256_setzero_ps();
  }
  for (long j = 0; j < patch; j++) {
    const float *t = taps + offset[j];
    __m256 v0 = _mm256_loadu_ps(t), v1 = _mm256_loadu_ps(t + W);
    _Pragma("clang loop unroll(full)")
    for (int r = 0; r < ROWS; r++) {
      __m256 w = _mm256_broadcast_ss(a + r * lda + j);
      acc[r][0] = _mm256_fmadd_ps(w, v0, acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(w, v1, acc[r][1]);
    }
  }
  if (count == FORWARD_PIXELS) {
    _Pragma("clang loop unroll(full)")
    for (int r = 0; r < ROWS; r++) {
      _mm256_storeu_ps(c + r * ldc, acc[r][0]);
      _mm256_storeu_ps(c + r * ldc + W, acc[r][1]);
    }
  } else {
    _Pragma("clang loop unroll(full)")
    for (int r = 0; r < ROWS; r++) {
      _mm256_maskstore_ps(c + r * ldc, valid0, acc[r][0]);
      _mm256_maskstore_ps(c + r * ldc + W, valid1, acc[r][1]);
    }
  }
}

__attribute__((target("avx2,fma")))
static void forward_row(long m, long patch, const long *offset, const float *a, long lda, const float *rows,
                        long out_w, float *c, long ldc, int load) {
  for (long i = 0; i < m; i += FORWARD_ROWS) {
    long block = m - i < FORWARD_ROWS ? m - i : FORWARD_ROWS;
    for (long ox = 0; ox < out_w; ox += FORWARD_PIXELS) {
      long count = out_w - ox < FORWARD_PIXELS ? out_w - ox : FORWARD_PIXELS;
      const float *ai = a + i * lda, *taps = rows + ox;
      float *ci = c + i * ldc + ox;
      switch (block) {
#define FORWARD_CASE(R) case R: forward_block(R, patch, offset, ai, lda, taps, ci, ldc, count, load); break;
        FORWARD_CASE(1) FORWARD_CASE(2) FORWARD_CASE(3) FORWARD_CASE(4) FORWARD_CASE(5) FORWARD_CASE(6)
#undef FORWARD_CASE
      }
    }
  }
}

/// One output row's pixels added to the chains of `PATCH` weight-gradient
/// columns of eight output channels (`acc`: PATCH vectors, lane r channel r):
/// eight pixels at a time, the gradient's 8 x 8 block transposed so that each
/// pixel's eight channels form one vector. Lanes of channels past `rows` read
/// zeros and are never stored; pixels past the row are skipped, not added as
/// zeros, which could turn a -0 chain into +0.
__attribute__((target("avx2,fma"), always_inline))
static inline void gradient_row(const int PATCH, const long *offset, const float *a, long lda, long rows,
                                const float *taps, long out_w, float *acc_store) {
  __m256 acc[DIRECT_MAX_PATCH];
  _Pragma("clang loop unroll(full)")
  for (int j = 0; j < PATCH; j++) acc[j] = _mm256_load_ps(acc_store + j * W);
  for (long ox = 0; ox < out_w; ox += W) {
    long count = out_w - ox < W ? out_w - ox : W;
    __m256 d[W];
    if (count == W) {
      for (int r = 0; r < W; r++) d[r] = r < rows ? _mm256_loadu_ps(a + r * lda + ox) : _mm256_setzero_ps();
    } else {
      const __m256i valid = first_lanes(count);
      for (int r = 0; r < W; r++) d[r] = r < rows ? _mm256_maskload_ps(a + r * lda + ox, valid) : _mm256_setzero_ps();
    }
    transpose8(d);
    for (long q = 0; q < count; q++) {
      const float *t = taps + ox + q;
      _Pragma("clang loop unroll(full)")
      for (int j = 0; j < PATCH; j++) acc[j] = _mm256_fmadd_ps(d[q], _mm256_broadcast_ss(t + offset[j]), acc[j]);
    }
  }
  _Pragma("clang loop unroll(full)")
  for (int j = 0; j < PATCH; j++) _mm256_store_ps(acc_store + j * W, acc[j]);
}

__attribute__((target("avx2,fma")))
static void gradient_row_dispatch(long patch, const long *offset, const float *a, long lda, long rows,
                                  const float *taps, long out_w, float *acc_store) {
  switch (patch) {
#define GRADIENT_CASE(P) case P: gradient_row(P, offset, a, lda, rows, taps, out_w, acc_store); break;
    GRADIENT_CASE(1) GRADIENT_CASE(2) GRADIENT_CASE(3) GRADIENT_CASE(4) GRADIENT_CASE(5) GRADIENT_CASE(6)
    GRADIENT_CASE(7) GRADIENT_CASE(8) GRADIENT_CASE(9) GRADIENT_CASE(10) GRADIENT_CASE(11) GRADIENT_CASE(12)
#undef GRADIENT_CASE
  }
}

static _Thread_local float *accumulators;
static _Thread_local size_t accumulators_capacity;

void tandem_conv_direct(int transpose_b, long m, long pixels, const float *a, long lda,
                        const tandem_conv_columns *cc, int accumulate, float *c, long ldc) {
  const long patch = cc->channels * cc->kernel_h * cc->kernel_w, ow = cc->out_w;
  const long stride = padded_stride(cc), out_rows = pixels / ow;
  long *offset = offset_scratch((size_t)patch);
  tap_offsets(cc, stride, offset);
  float *rows = tandem_workspace((size_t)(cc->channels * cc->kernel_h * stride), &padded, &padded_capacity);
  if (!transpose_b) {
    // C[m x pixels] = A[m x patch] · columns, one output row at a time.
    for (long y = 0; y < out_rows; y++) {
      pad_rows(cc, cc->first_row + y, rows, stride);
      forward_row(m, patch, offset, a, lda, rows, ow, c + y * ow, ldc, accumulate);
    }
    return;
  }
  // C[m x patch] += A[m x pixels] · columnsᵀ: the chains run across the
  // band's rows in a scratch of eight channels' accumulators per block.
  const long blocks = (m + W - 1) / W;
  float *acc = tandem_workspace((size_t)(blocks * patch * W), &accumulators, &accumulators_capacity);
  for (long b = 0; b < blocks; b++)
    for (long j = 0; j < patch; j++)
      for (long r = 0; r < W; r++) acc[(b * patch + j) * W + r] = accumulate && b * W + r < m ? c[(b * W + r) * ldc + j] : 0.0f;
  for (long y = 0; y < out_rows; y++) {
    pad_rows(cc, cc->first_row + y, rows, stride);
    for (long b = 0; b < blocks; b++) {
      long block = m - b * W < W ? m - b * W : W;
      gradient_row_dispatch(patch, offset, a + b * W * lda + y * ow, lda, block, rows, ow, acc + b * patch * W);
    }
  }
  for (long b = 0; b < blocks; b++)
    for (long j = 0; j < patch; j++)
      for (long r = 0; r < W && b * W + r < m; r++) c[(b * W + r) * ldc + j] = acc[(b * patch + j) * W + r];
}

#else

void tandem_conv_direct(int transpose_b, long m, long pixels, const float *a, long lda,
                        const tandem_conv_columns *cc, int accumulate, float *c, long ldc) {
  (void)transpose_b; (void)m; (void)pixels; (void)a; (void)lda; (void)cc; (void)accumulate; (void)c; (void)ldc;
}

#endif
