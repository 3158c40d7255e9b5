#ifndef CPNG_SHIM_H
#define CPNG_SHIM_H
#include <png.h>

// libpng's simplified API (png_image_*) reports errors in png_image.message
// and a zero return, without the longjmp the classic API needs. Its version
// tag and format constants are macros; its message is a char array that
// Swift imports as a 64-element tuple, so it gets a pointer accessor.
static inline png_uint_32 CPNG_image_version(void) { return PNG_IMAGE_VERSION; }
static inline png_uint_32 CPNG_format_gray(void) { return PNG_FORMAT_GRAY; }
static inline png_uint_32 CPNG_format_rgb(void) { return PNG_FORMAT_RGB; }
static inline const char *CPNG_image_message(const png_image *image) { return image->message; }
#endif
