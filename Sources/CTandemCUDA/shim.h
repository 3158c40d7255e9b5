// The CUDA backend's C interface, for its types and constants only: nothing
// links libtandem_cuda.so; TandemCUDA opens it with dlopen and looks up each
// function by name, so the binary runs where the backend is absent.
#include "../../CUDA/tandem_cuda.h"
#include <dlfcn.h>
