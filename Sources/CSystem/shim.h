#ifndef CSYSTEM_SHIM_H
#define CSYSTEM_SHIM_H
// glibc headers that Swift's Glibc module does not cover.
#include <malloc.h>
#include <signal.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

// Asks the kernel to kill this process when its parent dies (prctl is
// variadic, which Swift cannot call). Returns -1 where unsupported.
static inline int csystem_die_with_parent(void) {
#ifdef __linux__
  return prctl(PR_SET_PDEATHSIG, SIGKILL);
#else
  return -1;
#endif
}
#endif
