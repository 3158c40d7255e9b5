#ifndef CSYSTEM_SHIM_H
#define CSYSTEM_SHIM_H
// glibc headers that Swift's Glibc module does not cover.
#include <malloc.h>
#endif
