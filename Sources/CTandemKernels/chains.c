#include "tandem_kernels.h"

// Each stream's sum is one chain of Float64 additions in element order, the
// bits of the plain loop; nothing may be contracted into an FMA.
#pragma clang fp contract(off)

// A Float64 addition waits for the one before it (4 cycles), so one chain
// runs at a quarter of what the core can add. Summing this many streams side
// by side keeps that many independent chains in flight.
#define LANES 8

// The body for one block of `B` streams (B a constant, so the accumulators
// stay in registers); ELEMENT(j, k) is stream j's term k as a double.
#define CHAIN_BLOCK(B, ELEMENT, STORE)                                    \
  do {                                                                    \
    double acc[B];                                                        \
    for (int j = 0; j < (B); j++) acc[j] = 0;                             \
    for (long k = 0; k < n; k++)                                          \
      for (int j = 0; j < (B); j++) acc[j] += ELEMENT(j, k);              \
    for (int j = 0; j < (B); j++) STORE(j);                               \
  } while (0)

void tandem_chained_sums(const float *x, long stride, long count, long n, double *sums) {
  long g = 0;
#define X(j, k) (double)x[(g + (j)) * stride + (k)]
#define S(j) sums[g + (j)] = acc[j]
  for (; g + LANES <= count; g += LANES) CHAIN_BLOCK(LANES, X, S);
  for (; g < count; g++) CHAIN_BLOCK(1, X, S);
#undef X
#undef S
}

void tandem_chained_centered_squares(const float *x, long stride, long count, long n, const double *means,
                                     double *sums) {
  long g = 0;
#define D(j, k) ((double)x[(g + (j)) * stride + (k)] - means[g + (j)])
#define X(j, k) (D(j, k) * D(j, k))
#define S(j) sums[g + (j)] = acc[j]
  for (; g + LANES <= count; g += LANES) CHAIN_BLOCK(LANES, X, S);
  for (; g < count; g++) CHAIN_BLOCK(1, X, S);
#undef D
#undef X
#undef S
}

void tandem_chained_sums_and_products(const float *a, const float *b, long stride, long count, long n,
                                      double *sums, double *productSums) {
  long g = 0;
  // Two chains per stream: half as many streams keep as many in flight.
#define BLOCK(B)                                                                  \
  do {                                                                            \
    double s[B], p[B];                                                            \
    for (int j = 0; j < (B); j++) s[j] = p[j] = 0;                                \
    for (long k = 0; k < n; k++)                                                  \
      for (int j = 0; j < (B); j++) {                                             \
        long i = (g + j) * stride + k;                                            \
        s[j] += (double)a[i];                                                     \
        p[j] += (double)(a[i] * b[i]);                                            \
      }                                                                           \
    for (int j = 0; j < (B); j++) { sums[g + j] = s[j]; productSums[g + j] = p[j]; } \
  } while (0)
  for (; g + LANES / 2 <= count; g += LANES / 2) BLOCK(LANES / 2);
  for (; g < count; g++) BLOCK(1);
#undef BLOCK
}
