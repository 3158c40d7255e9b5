#include "tandem_kernels.h"
#include <string.h>

// Rows this far ahead are prefetched: a shuffled batch from a table larger
// than the caches is one DRAM miss per line, and the copy alone would wait
// for each in turn.
#define AHEAD 8

void tandem_gather_rows(const float *table, long width, const long *rows, long count, float *out) {
  size_t bytes = (size_t)width * sizeof(float);
  for (long b = 0; b < count && b < AHEAD; b++)
    for (size_t line = 0; line < bytes; line += 64) __builtin_prefetch((const char *)(table + rows[b] * width) + line);
  for (long b = 0; b < count; b++) {
    if (b + AHEAD < count) {
      const char *next = (const char *)(table + rows[b + AHEAD] * width);
      for (size_t line = 0; line < bytes; line += 64) __builtin_prefetch(next + line);
    }
    memcpy(out + b * width, table + rows[b] * width, bytes);
  }
}
