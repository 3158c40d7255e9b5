#ifndef COPENBLAS_SHIM_H
#define COPENBLAS_SHIM_H
#include <cblas.h>
// cblas.h imports cleanly; the thread and config queries below are OpenBLAS
// extensions declared there too. Nothing needs a shim yet.
#endif
