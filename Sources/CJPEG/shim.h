#ifndef CJPEG_SHIM_H
#define CJPEG_SHIM_H
// libjpeg-turbo's TurboJPEG API, not the classic libjpeg one: libjpeg reports
// a corrupt file by calling error_exit, which must longjmp out (or it calls
// exit()), and Swift cannot longjmp. TurboJPEG catches that inside the library
// and returns -1 with a message, so a truncated JPEG becomes a Swift error.
// Package: libturbojpeg0-dev (pkg-config name libturbojpeg).
#include <stddef.h>
#include <turbojpeg.h>

// Flag macros, spelled as functions so the Swift side reads like the C docs.
static inline int CJPEG_flag_accurate_dct(void) { return TJFLAG_ACCURATEDCT; }
static inline int CJPEG_flag_stop_on_warning(void) { return TJFLAG_STOPONWARNING; }
// TJSCALED is a function-like macro: the scaled size of one dimension.
static inline int CJPEG_scaled(int dimension, tjscalingfactor factor) {
  return TJSCALED(dimension, factor);
}
#endif
