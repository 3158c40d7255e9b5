// Tandem's CUDA backend: the CPU path's layers on one GPU (see tandem_cuda.h).
//
// Layouts are the CPU path's: activations [batch, channels, height, width]
// row-major, weights [out, in, k, k] and [out, in]. cuBLAS is column-major, so
// a row-major product C = A·B is issued as Cᵀ = Bᵀ·Aᵀ.
#include "tandem_cuda.h"

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <dlfcn.h>

#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

constexpr int kThreads = 256;

void say(char *error, size_t size, const char *format, ...) {
  if (!error || size == 0) return;
  va_list args;
  va_start(args, format);
  vsnprintf(error, size, format, args);
  va_end(args);
}

const char *cublasText(cublasStatus_t status) {
  switch (status) {
    case CUBLAS_STATUS_SUCCESS: return "success";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "cuBLAS not initialised (no usable device or driver)";
    case CUBLAS_STATUS_ALLOC_FAILED: return "cuBLAS could not allocate device memory";
    case CUBLAS_STATUS_INVALID_VALUE: return "invalid value passed to cuBLAS";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "the device's architecture lacks a needed feature";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "a cuBLAS kernel failed to run";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "operation not supported by cuBLAS";
    default: return "cuBLAS error";
  }
}

#define CUDA_TRY(call)                                                                   \
  do {                                                                                   \
    cudaError_t status_ = (call);                                                        \
    if (status_ != cudaSuccess) {                                                        \
      say(error, error_size, "%s: %s", #call, cudaGetErrorString(status_));              \
      return 1;                                                                          \
    }                                                                                    \
  } while (0)

#define CUBLAS_TRY(call)                                                                 \
  do {                                                                                   \
    cublasStatus_t status_ = (call);                                                     \
    if (status_ != CUBLAS_STATUS_SUCCESS) {                                              \
      say(error, error_size, "%s: %s", #call, cublasText(status_));                      \
      return 2;                                                                          \
    }                                                                                    \
  } while (0)

// cudaGetDeviceCount, with the usual cause of its failure said plainly: the
// runtime reports a missing driver as one too old for it.
int countDevices(int *count, char *error, size_t error_size) {
  *count = 0;
  cudaError_t status = cudaGetDeviceCount(count);
  if (status == cudaSuccess) return 0;
  if (status == cudaErrorInsufficientDriver || status == cudaErrorNoDevice) {
    void *driver = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL);
    if (!driver) {
      say(error, error_size, "no NVIDIA driver (libcuda.so.1 cannot be loaded: %s)", dlerror());
      return 1;
    }
    dlclose(driver);
  }
  say(error, error_size, "cudaGetDeviceCount: %s", cudaGetErrorString(status));
  return 1;
}

unsigned blocks(size_t n) { return (unsigned)((n + kThreads - 1) / kThreads); }

// ---- kernels ---------------------------------------------------------------

// columns[n][(c·k + ky)·k + kx][oy·ow + ox] = x[n][c][oy·s − p + ky][ox·s − p + kx] (0 outside)
__global__ void im2col(const float *x, int batch, int channels, int height, int width, int kernel, int stride,
                       int padding, int oh, int ow, float *columns) {
  size_t total = (size_t)batch * channels * kernel * kernel * oh * ow;
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x) {
    int ox = i % ow;
    size_t r = i / ow;
    int oy = r % oh; r /= oh;
    int kx = r % kernel; r /= kernel;
    int ky = r % kernel; r /= kernel;
    int c = r % channels;
    int n = (int)(r / channels);
    int iy = oy * stride - padding + ky, ix = ox * stride - padding + kx;
    columns[i] = (iy >= 0 && iy < height && ix >= 0 && ix < width)
                     ? x[(((size_t)n * channels + c) * height + iy) * width + ix] : 0.f;
  }
}

// The adjoint of im2col, as a gather: each input element sums the column
// entries that read it, in (ky, kx) order, so no two threads write one place.
__global__ void col2im(const float *columns, int batch, int channels, int height, int width, int kernel, int stride,
                       int padding, int oh, int ow, float *dx) {
  size_t total = (size_t)batch * channels * height * width;
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x) {
    int ix = i % width;
    size_t r = i / width;
    int iy = r % height; r /= height;
    int c = r % channels;
    int n = (int)(r / channels);
    float sum = 0.f;
    for (int ky = 0; ky < kernel; ++ky) {
      int ty = iy + padding - ky;
      if (ty < 0 || ty % stride) continue;
      int oy = ty / stride;
      if (oy >= oh) continue;
      for (int kx = 0; kx < kernel; ++kx) {
        int tx = ix + padding - kx;
        if (tx < 0 || tx % stride) continue;
        int ox = tx / stride;
        if (ox >= ow) continue;
        size_t row = ((size_t)c * kernel + ky) * kernel + kx;
        sum += columns[(((size_t)n * channels * kernel * kernel) + row) * oh * ow + (size_t)oy * ow + ox];
      }
    }
    dx[i] = sum;
  }
}

// y[n][o][p] += b[o], then ReLU when asked.
__global__ void addChannelBias(float *y, const float *bias, int batch, int channels, int pixels, int relu) {
  size_t total = (size_t)batch * channels * pixels;
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x) {
    int o = (i / pixels) % channels;
    float v = y[i] + bias[o];
    y[i] = relu && v < 0.f ? 0.f : v;  // NaN stays NaN, as on the CPU
  }
}

// y[r][j] += b[j]
__global__ void addColumnBias(float *y, const float *bias, int rows, int columns) {
  size_t total = (size_t)rows * columns;
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x)
    y[i] += bias[i % columns];
}

__global__ void relu(const float *x, float *y, size_t count) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < count; i += (size_t)gridDim.x * blockDim.x)
    y[i] = x[i] < 0.f ? 0.f : x[i];
}

// dx = dy where the ReLU's output is positive.
__global__ void reluBackward(const float *output, const float *dy, float *dx, size_t count) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < count; i += (size_t)gridDim.x * blockDim.x)
    dx[i] = output[i] > 0.f ? dy[i] : 0.f;
}

// One block per channel: each thread sums a fixed stride of the channel's
// values over the batch, then a fixed tree adds the threads' sums.
__global__ void channelSums(const float *dy, int batch, int channels, int pixels, float *db) {
  __shared__ float partial[kThreads];
  int o = blockIdx.x;
  float sum = 0.f;
  for (int n = 0; n < batch; ++n) {
    const float *plane = dy + ((size_t)n * channels + o) * pixels;
    for (int p = threadIdx.x; p < pixels; p += blockDim.x) sum += plane[p];
  }
  partial[threadIdx.x] = sum;
  __syncthreads();
  for (int half = blockDim.x / 2; half > 0; half /= 2) {
    if (threadIdx.x < half) partial[threadIdx.x] += partial[threadIdx.x + half];
    __syncthreads();
  }
  if (threadIdx.x == 0) db[o] = partial[0];
}

// db[j] = Σ_r dy[r][j], rows in order.
__global__ void columnSums(const float *dy, int rows, int columns, float *db) {
  int j = blockIdx.x * blockDim.x + threadIdx.x;
  if (j >= columns) return;
  float sum = 0.f;
  for (int r = 0; r < rows; ++r) sum += dy[(size_t)r * columns + j];
  db[j] = sum;
}

// 2x2 max pooling, stride 2; the first maximum wins ties, as on the CPU.
__global__ void maxPool(const float *x, int planes, int height, int width, float *y, unsigned char *argmax) {
  int oh = height / 2, ow = width / 2;
  size_t total = (size_t)planes * oh * ow;
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x) {
    int ox = i % ow;
    int oy = (i / ow) % oh;
    size_t p = i / ((size_t)oh * ow);
    const float *r0 = x + (p * height + 2 * oy) * width, *r1 = r0 + width;
    float best = r0[2 * ox];
    unsigned char at = 0;
    if (r0[2 * ox + 1] > best) { best = r0[2 * ox + 1]; at = 1; }
    if (r1[2 * ox] > best) { best = r1[2 * ox]; at = 2; }
    if (r1[2 * ox + 1] > best) { best = r1[2 * ox + 1]; at = 3; }
    y[i] = best;
    argmax[i] = at;
  }
}

// Each input element takes its window's gradient if it was the winner (odd
// rows and columns outside every window get 0).
__global__ void maxPoolBackward(const float *dy, const unsigned char *argmax, int planes, int height, int width,
                                float *dx) {
  int oh = height / 2, ow = width / 2;
  size_t total = (size_t)planes * height * width;
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x) {
    int ix = i % width;
    int iy = (i / width) % height;
    size_t p = i / ((size_t)height * width);
    int ox = ix / 2, oy = iy / 2;
    float v = 0.f;
    if (ox < ow && oy < oh) {
      size_t o = (p * oh + oy) * ow + ox;
      if (argmax[o] == (unsigned char)((iy & 1) * 2 + (ix & 1))) v = dy[o];
    }
    dx[i] = v;
  }
}

// One block per plane, a fixed tree as in channelSums.
__global__ void averagePlanes(const float *x, int area, float scale, float *y) {
  __shared__ float partial[kThreads];
  const float *plane = x + (size_t)blockIdx.x * area;
  float sum = 0.f;
  for (int i = threadIdx.x; i < area; i += blockDim.x) sum += plane[i];
  partial[threadIdx.x] = sum;
  __syncthreads();
  for (int half = blockDim.x / 2; half > 0; half /= 2) {
    if (threadIdx.x < half) partial[threadIdx.x] += partial[threadIdx.x + half];
    __syncthreads();
  }
  if (threadIdx.x == 0) y[blockIdx.x] = partial[0] * scale;
}

__global__ void spreadPlanes(const float *dy, int planes, int area, float scale, float *dx) {
  size_t total = (size_t)planes * area;
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x)
    dx[i] = dy[i / area] * scale;
}

// Group normalisation, one block per (sample, group): the group's channels
// are contiguous, so its values are x[ng·size ..< (ng+1)·size]. Mean and
// variance in double through a fixed tree, as the CPU sums in double.
__global__ void groupNormForward(const float *x, int channels, int groups, int area, float epsilon, const float *gamma,
                                 const float *beta, float *xhat, float *inverseStd, float *y) {
  __shared__ double partial[kThreads];
  int perGroup = channels / groups, size = perGroup * area;
  size_t base = (size_t)blockIdx.x * size;
  auto tree = [&](double value) {
    partial[threadIdx.x] = value;
    __syncthreads();
    for (int half = blockDim.x / 2; half > 0; half /= 2) {
      if (threadIdx.x < half) partial[threadIdx.x] += partial[threadIdx.x + half];
      __syncthreads();
    }
    double total = partial[0];
    __syncthreads();
    return total;
  };
  double sum = 0;
  for (int k = threadIdx.x; k < size; k += blockDim.x) sum += (double)x[base + k];
  double mean = tree(sum) / size;
  double squares = 0;
  for (int k = threadIdx.x; k < size; k += blockDim.x) { double d = (double)x[base + k] - mean; squares += d * d; }
  float r = (float)(1.0 / sqrt(tree(squares) / size + (double)epsilon));
  if (threadIdx.x == 0) inverseStd[blockIdx.x] = r;
  float m = (float)mean;
  int firstChannel = (blockIdx.x % groups) * perGroup;
  for (int k = threadIdx.x; k < size; k += blockDim.x) {
    float h = (x[base + k] - m) * r;
    int c = firstChannel + k / area;
    xhat[base + k] = h;
    y[base + k] = h * gamma[c] + beta[c];
  }
}

// Per (sample, channel): Σ dy and Σ dy·x̂ in double, a fixed tree.
__global__ void groupNormChannelSums(const float *dy, const float *xhat, int area, double *sums) {
  __shared__ double a[kThreads], b[kThreads];
  size_t base = (size_t)blockIdx.x * area;
  double sg = 0, sgx = 0;
  for (int k = threadIdx.x; k < area; k += blockDim.x) {
    sg += (double)dy[base + k];
    sgx += (double)(dy[base + k] * xhat[base + k]);
  }
  a[threadIdx.x] = sg;
  b[threadIdx.x] = sgx;
  __syncthreads();
  for (int half = blockDim.x / 2; half > 0; half /= 2) {
    if (threadIdx.x < half) { a[threadIdx.x] += a[threadIdx.x + half]; b[threadIdx.x] += b[threadIdx.x + half]; }
    __syncthreads();
  }
  if (threadIdx.x == 0) { sums[2 * blockIdx.x] = a[0]; sums[2 * blockIdx.x + 1] = b[0]; }
}

// dγ[c] = Σ_n float(Σ dy·x̂), dβ[c] = Σ_n float(Σ dy), samples in order, as the CPU adds them.
__global__ void groupNormParameterGradients(const double *sums, int batch, int channels, float *dGamma, float *dBeta) {
  int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= channels) return;
  float g = 0.f, b = 0.f;
  for (int n = 0; n < batch; ++n) {
    b += (float)sums[2 * ((size_t)n * channels + c)];
    g += (float)sums[2 * ((size_t)n * channels + c) + 1];
  }
  dGamma[c] = g;
  dBeta[c] = b;
}

// dx = σ⁻¹ (dy·γ − mean(d) − x̂ · mean(d·x̂)) per group, with d = dy·γ.
__global__ void groupNormBackward(const float *dy, const float *xhat, const float *gamma, const float *inverseStd,
                                  const double *sums, int batch, int channels, int groups, int area, float *dx) {
  int perGroup = channels / groups;
  size_t total = (size_t)batch * channels * area, size = (size_t)perGroup * area;
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x) {
    int c = (i / area) % channels;
    int n = (int)(i / ((size_t)channels * area));
    int group = c / perGroup;
    double sd = 0, sdx = 0;
    for (int j = group * perGroup; j < (group + 1) * perGroup; ++j) {
      sd += (double)gamma[j] * sums[2 * ((size_t)n * channels + j)];
      sdx += (double)gamma[j] * sums[2 * ((size_t)n * channels + j) + 1];
    }
    float meanD = (float)(sd / (double)size), meanDX = (float)(sdx / (double)size);
    float r = inverseStd[n * groups + group];
    dx[i] = r * (dy[i] * gamma[c] - meanD - xhat[i] * meanDX);
  }
}

// One thread per sample: the loss in double (summed on the host, in order)
// and dL/dz, as the CPU's SoftmaxCrossEntropy.
__global__ void softmaxCrossEntropy(const float *z, const int *labels, int batch, int classes, const float *weights,
                                    double scale, double *losses, float *dz) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= batch) return;
  const float *row = z + (size_t)i * classes;
  float *g = dz + (size_t)i * classes;
  int y = labels[i];
  float m = row[0];
  for (int c = 1; c < classes; ++c) m = fmaxf(m, row[c]);
  double s = 0;
  float fs = 0.f;
  for (int c = 0; c < classes; ++c) {
    float e = (float)exp((double)(row[c] - m));
    g[c] = e;
    fs += e;
    s += (double)e;
  }
  double w = weights ? (double)weights[y] : 1.0;
  losses[i] = w * (log(s) - (double)(row[y] - m));
  float gs = (float)(w * scale);
  for (int c = 0; c < classes; ++c) g[c] = (g[c] / fs - (c == y ? 1.f : 0.f)) * gs;
}

__device__ float sigmoid(float x) {
  if (x >= 0.f) return 1.f / (1.f + (float)exp(-(double)x));
  float e = (float)exp((double)x);
  return e / (1.f + e);
}

__global__ void sigmoidBinaryCrossEntropy(const float *z, const int *labels, int batch, const float *weights,
                                          double scale, double *losses, float *dz) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= batch) return;
  double v = z[i];
  int y = labels[i];
  double w = weights ? (double)weights[y] : 1.0;
  losses[i] = w * (fmax(v, 0.0) + log(1 + exp(-fabs(v))) - (double)y * v);
  dz[i] = (float)(w * scale) * (sigmoid(z[i]) - (float)y);
}

// ---- model -----------------------------------------------------------------

struct Shape {
  int c = 0, h = 1, w = 1;  // a table sample is [c]
  size_t count() const { return (size_t)c * h * w; }
};

struct Layer {
  tandem_cuda_layer spec;
  Shape in, out;
  size_t weight = 0, bias = 0;  // offsets into the parameter buffers
  size_t weightCount = 0, biasCount = 0;
};

template <typename T>
struct DeviceBuffer {
  T *data = nullptr;
  size_t capacity = 0;
  DeviceBuffer() = default;
  DeviceBuffer(const DeviceBuffer &) = delete;
  DeviceBuffer &operator=(const DeviceBuffer &) = delete;
  DeviceBuffer(DeviceBuffer &&other) noexcept : data(other.data), capacity(other.capacity) {
    other.data = nullptr;
    other.capacity = 0;
  }
  ~DeviceBuffer() { if (data) cudaFree(data); }
  // New memory is filled with NaN bytes: a kernel that reads what nothing
  // wrote gives NaN, which every check catches, never plausible leftovers.
  cudaError_t reserve(size_t count) {
    if (count <= capacity) return cudaSuccess;
    if (data) cudaFree(data);
    data = nullptr;
    capacity = 0;
    cudaError_t status = cudaMalloc(&data, count * sizeof(T) + 1);
    if (status == cudaSuccess) status = cudaMemset(data, 0xFF, count * sizeof(T) + 1);
    if (status == cudaSuccess) capacity = count;
    return status;
  }
};

}  // namespace

struct tandem_cuda_context {
  int ordinal = 0;
  cudaStream_t stream = nullptr;
  cublasHandle_t blas = nullptr;
};

struct tandem_cuda_model {
  tandem_cuda_context *context = nullptr;
  std::vector<Layer> layers;
  Shape sample;
  int loss = 0, classes = 0, logits = 0;
  bool weighted = false;
  size_t parameterCount = 0;
  int batch = 0;  // of the last forward
  bool backwardDone = false;
  DeviceBuffer<float> parameters, gradients, weights, columns, input;
  DeviceBuffer<int> labels;
  DeviceBuffer<double> losses;
  DeviceBuffer<float> logitGradient;
  DeviceBuffer<float> masked;  // a fused ReLU's gradient mask, per conv layer in turn
  std::vector<DeviceBuffer<float>> outputs;      // per layer
  std::vector<DeviceBuffer<float>> inputGrads;   // per layer: dL/d(input)
  std::vector<DeviceBuffer<unsigned char>> argmax;
  std::vector<DeviceBuffer<float>> normalised, inverseStd;  // group norm: x̂ and σ⁻¹ per (sample, group)
  DeviceBuffer<double> groupSums;                           // group norm backward: Σdy, Σdy·x̂ per (sample, channel)
};

namespace {

Shape outputShape(const tandem_cuda_layer &l, Shape in) {
  switch (l.kind) {
    case TANDEM_CUDA_CONV2D: {
      Shape s;
      s.c = l.out_channels;
      s.h = (in.h + 2 * l.padding - l.kernel) / l.stride + 1;
      s.w = (in.w + 2 * l.padding - l.kernel) / l.stride + 1;
      return s;
    }
    case TANDEM_CUDA_MAXPOOL2: return Shape{in.c, in.h / 2, in.w / 2};
    case TANDEM_CUDA_GLOBAL_AVERAGE_POOL: return Shape{in.c, 1, 1};
    case TANDEM_CUDA_DENSE: return Shape{l.outputs, 1, 1};
    default: return in;
  }
}

// The current device belongs to the calling thread: every entry point sets it.
#define USE_DEVICE(context) CUDA_TRY(cudaSetDevice((context)->ordinal))

int reserveBatch(tandem_cuda_model *m, int batch, char *error, size_t error_size) {
  for (size_t i = 0; i < m->layers.size(); ++i) {
    const Layer &l = m->layers[i];
    CUDA_TRY(m->outputs[i].reserve(l.out.count() * batch));
    CUDA_TRY(m->inputGrads[i].reserve(l.in.count() * batch));
    if (l.spec.kind == TANDEM_CUDA_MAXPOOL2) CUDA_TRY(m->argmax[i].reserve(l.out.count() * batch));
    if (l.spec.kind == TANDEM_CUDA_GROUP_NORM) {
      CUDA_TRY(m->normalised[i].reserve(l.out.count() * batch));
      CUDA_TRY(m->inverseStd[i].reserve((size_t)l.spec.groups * batch));
      CUDA_TRY(m->groupSums.reserve((size_t)2 * l.spec.in_channels * batch));
    }
    if (l.spec.kind == TANDEM_CUDA_CONV2D) {
      size_t patch = (size_t)l.spec.in_channels * l.spec.kernel * l.spec.kernel;
      CUDA_TRY(m->columns.reserve(patch * l.out.h * l.out.w * batch));
      CUDA_TRY(m->masked.reserve(l.out.count() * batch));
    }
  }
  CUDA_TRY(m->input.reserve(m->sample.count() * batch));
  CUDA_TRY(m->labels.reserve(batch));
  CUDA_TRY(m->losses.reserve(batch));
  CUDA_TRY(m->logitGradient.reserve((size_t)m->logits * batch));
  return 0;
}

int forward(tandem_cuda_model *m, const float *hostInput, int batch, char *error, size_t error_size) {
  if (batch <= 0) { say(error, error_size, "a batch needs at least one sample, got %d", batch); return 3; }
  if (int status = reserveBatch(m, batch, error, error_size)) return status;
  cudaStream_t stream = m->context->stream;
  cublasHandle_t blas = m->context->blas;
  CUDA_TRY(cudaMemcpyAsync(m->input.data, hostInput, m->sample.count() * batch * sizeof(float),
                           cudaMemcpyHostToDevice, stream));
  const float one = 1.f, zero = 0.f;
  const float *x = m->input.data;
  for (size_t i = 0; i < m->layers.size(); ++i) {
    const Layer &l = m->layers[i];
    float *y = m->outputs[i].data;
    const float *w = m->parameters.data + l.weight, *b = m->parameters.data + l.bias;
    switch (l.spec.kind) {
      case TANDEM_CUDA_CONV2D: {
        int k = l.spec.in_channels * l.spec.kernel * l.spec.kernel, p = l.out.h * l.out.w;
        size_t cols = (size_t)k * p * batch;
        im2col<<<blocks(cols), kThreads, 0, stream>>>(x, batch, l.in.c, l.in.h, l.in.w, l.spec.kernel, l.spec.stride,
                                                      l.spec.padding, l.out.h, l.out.w, m->columns.data);
        // y_n[o, p] = W[o, k] · cols_n[k, p]
        CUBLAS_TRY(cublasSgemmStridedBatched(blas, CUBLAS_OP_N, CUBLAS_OP_N, p, l.out.c, k, &one,
                                             m->columns.data, p, (long long)k * p, w, k, 0, &zero,
                                             y, p, (long long)l.out.c * p, batch));
        addChannelBias<<<blocks(l.out.count() * batch), kThreads, 0, stream>>>(y, b, batch, l.out.c, p, l.spec.relu);
        break;
      }
      case TANDEM_CUDA_MAXPOOL2:
        maxPool<<<blocks(l.out.count() * batch), kThreads, 0, stream>>>(x, batch * l.in.c, l.in.h, l.in.w, y,
                                                                        m->argmax[i].data);
        break;
      case TANDEM_CUDA_GLOBAL_AVERAGE_POOL:
        averagePlanes<<<batch * l.in.c, kThreads, 0, stream>>>(x, l.in.h * l.in.w, 1.f / (float)(l.in.h * l.in.w), y);
        break;
      case TANDEM_CUDA_DENSE:
        // y[b, o] = x[b, i] · W[o, i]ᵀ
        CUBLAS_TRY(cublasSgemm(blas, CUBLAS_OP_T, CUBLAS_OP_N, l.spec.outputs, batch, l.spec.inputs, &one,
                               w, l.spec.inputs, x, l.spec.inputs, &zero, y, l.spec.outputs));
        addColumnBias<<<blocks((size_t)batch * l.spec.outputs), kThreads, 0, stream>>>(y, b, batch, l.spec.outputs);
        break;
      case TANDEM_CUDA_RELU:
        relu<<<blocks(l.out.count() * batch), kThreads, 0, stream>>>(x, y, l.out.count() * batch);
        break;
      case TANDEM_CUDA_GROUP_NORM:
        groupNormForward<<<batch * l.spec.groups, kThreads, 0, stream>>>(
            x, l.in.c, l.spec.groups, l.in.h * l.in.w, l.spec.epsilon, w, b, m->normalised[i].data, m->inverseStd[i].data, y);
        break;
    }
    CUDA_TRY(cudaGetLastError());
    x = y;
  }
  m->batch = batch;
  m->backwardDone = false;
  return 0;
}

int backward(tandem_cuda_model *m, char *error, size_t error_size) {
  cudaStream_t stream = m->context->stream;
  cublasHandle_t blas = m->context->blas;
  const float one = 1.f, zero = 0.f;
  int batch = m->batch;
  const float *dy = m->logitGradient.data;
  for (size_t j = m->layers.size(); j-- > 0;) {
    const Layer &l = m->layers[j];
    const float *x = j == 0 ? m->input.data : m->outputs[j - 1].data;
    const float *y = m->outputs[j].data;
    float *dx = m->inputGrads[j].data;
    const float *w = m->parameters.data + l.weight;
    float *dw = m->gradients.data + l.weight, *db = m->gradients.data + l.bias;
    switch (l.spec.kind) {
      case TANDEM_CUDA_CONV2D: {
        int k = l.spec.in_channels * l.spec.kernel * l.spec.kernel, p = l.out.h * l.out.w;
        size_t outCount = l.out.count() * batch;
        if (l.spec.relu) {
          reluBackward<<<blocks(outCount), kThreads, 0, stream>>>(y, dy, m->masked.data, outCount);
          dy = m->masked.data;
        }
        size_t cols = (size_t)k * p * batch;
        im2col<<<blocks(cols), kThreads, 0, stream>>>(x, batch, l.in.c, l.in.h, l.in.w, l.spec.kernel, l.spec.stride,
                                                      l.spec.padding, l.out.h, l.out.w, m->columns.data);
        // dW[o, k] = Σ_n dy_n[o, p] · cols_n[k, p]ᵀ, images in order.
        for (int n = 0; n < batch; ++n) {
          const float beta = n == 0 ? 0.f : 1.f;
          CUBLAS_TRY(cublasSgemm(blas, CUBLAS_OP_T, CUBLAS_OP_N, k, l.out.c, p, &one,
                                 m->columns.data + (size_t)n * k * p, p, dy + (size_t)n * l.out.c * p, p, &beta, dw, k));
        }
        channelSums<<<l.out.c, kThreads, 0, stream>>>(dy, batch, l.out.c, p, db);
        if (l.spec.input_gradient) {
          // cols_n[k, p] = W[o, k]ᵀ · dy_n[o, p], then the gather back to the image.
          CUBLAS_TRY(cublasSgemmStridedBatched(blas, CUBLAS_OP_N, CUBLAS_OP_T, p, k, l.out.c, &one,
                                               dy, p, (long long)l.out.c * p, w, k, 0, &zero,
                                               m->columns.data, p, (long long)k * p, batch));
          col2im<<<blocks(l.in.count() * batch), kThreads, 0, stream>>>(
              m->columns.data, batch, l.in.c, l.in.h, l.in.w, l.spec.kernel, l.spec.stride, l.spec.padding,
              l.out.h, l.out.w, dx);
        }
        break;
      }
      case TANDEM_CUDA_MAXPOOL2:
        maxPoolBackward<<<blocks(l.in.count() * batch), kThreads, 0, stream>>>(dy, m->argmax[j].data, batch * l.in.c,
                                                                               l.in.h, l.in.w, dx);
        break;
      case TANDEM_CUDA_GLOBAL_AVERAGE_POOL:
        spreadPlanes<<<blocks(l.in.count() * batch), kThreads, 0, stream>>>(dy, batch * l.in.c, l.in.h * l.in.w,
                                                                            1.f / (float)(l.in.h * l.in.w), dx);
        break;
      case TANDEM_CUDA_DENSE:
        // dW[o, i] = dy[b, o]ᵀ · x[b, i]; db[o] = Σ_b dy[b, o]; dx[b, i] = dy[b, o] · W[o, i]
        CUBLAS_TRY(cublasSgemm(blas, CUBLAS_OP_N, CUBLAS_OP_T, l.spec.inputs, l.spec.outputs, batch, &one,
                               x, l.spec.inputs, dy, l.spec.outputs, &zero, dw, l.spec.inputs));
        columnSums<<<blocks(l.spec.outputs), kThreads, 0, stream>>>(dy, batch, l.spec.outputs, db);
        CUBLAS_TRY(cublasSgemm(blas, CUBLAS_OP_N, CUBLAS_OP_N, l.spec.inputs, batch, l.spec.outputs, &one,
                               w, l.spec.inputs, dy, l.spec.outputs, &zero, dx, l.spec.inputs));
        break;
      case TANDEM_CUDA_RELU:
        reluBackward<<<blocks(l.in.count() * batch), kThreads, 0, stream>>>(y, dy, dx, l.in.count() * batch);
        break;
      case TANDEM_CUDA_GROUP_NORM: {
        int channels = l.in.c, area = l.in.h * l.in.w;
        groupNormChannelSums<<<batch * channels, kThreads, 0, stream>>>(dy, m->normalised[j].data, area, m->groupSums.data);
        groupNormParameterGradients<<<blocks(channels), kThreads, 0, stream>>>(m->groupSums.data, batch, channels, dw, db);
        groupNormBackward<<<blocks(l.in.count() * batch), kThreads, 0, stream>>>(
            dy, m->normalised[j].data, w, m->inverseStd[j].data, m->groupSums.data, batch, channels, l.spec.groups, area, dx);
        break;
      }
    }
    CUDA_TRY(cudaGetLastError());
    dy = dx;
  }
  m->backwardDone = true;
  return 0;
}

}  // namespace

extern "C" {

int tandem_cuda_abi_version(void) { return TANDEM_CUDA_ABI_VERSION; }

int tandem_cuda_device_count(int *count, char *error, size_t error_size) {
  return countDevices(count, error, error_size);
}

int tandem_cuda_open(int ordinal, tandem_cuda_context **context, tandem_cuda_device_info *info,
                     char *error, size_t error_size) {
  *context = nullptr;
  // cuBLAS's documented condition for reproducible results across streams.
  setenv("CUBLAS_WORKSPACE_CONFIG", ":4096:8", 0);
  int count = 0;
  if (countDevices(&count, error, error_size)) return 1;
  if (ordinal < 0 || ordinal >= count) {
    say(error, error_size, "device %d requested, %d visible", ordinal, count);
    return 3;
  }
  CUDA_TRY(cudaSetDevice(ordinal));
  cudaDeviceProp properties;
  CUDA_TRY(cudaGetDeviceProperties(&properties, ordinal));
  tandem_cuda_context *c = new tandem_cuda_context;
  c->ordinal = ordinal;
  cudaError_t status = cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking);
  if (status != cudaSuccess) {
    say(error, error_size, "cudaStreamCreate: %s", cudaGetErrorString(status));
    delete c;
    return 1;
  }
  cublasStatus_t blas = cublasCreate(&c->blas);
  if (blas == CUBLAS_STATUS_SUCCESS) blas = cublasSetStream(c->blas, c->stream);
  // No TF32 or other reduced-precision paths; no atomics, whose order varies.
  if (blas == CUBLAS_STATUS_SUCCESS) blas = cublasSetMathMode(c->blas, CUBLAS_PEDANTIC_MATH);
  if (blas == CUBLAS_STATUS_SUCCESS) blas = cublasSetAtomicsMode(c->blas, CUBLAS_ATOMICS_NOT_ALLOWED);
  if (blas != CUBLAS_STATUS_SUCCESS) {
    say(error, error_size, "cuBLAS set-up: %s", cublasText(blas));
    tandem_cuda_close(c);
    return 2;
  }
  if (info) {
    memset(info, 0, sizeof *info);
    snprintf(info->name, sizeof info->name, "%s", properties.name);
    info->ordinal = ordinal;
    info->device_count = count;
    info->compute_major = properties.major;
    info->compute_minor = properties.minor;
    info->memory_bytes = properties.totalGlobalMem;
    info->multiprocessors = properties.multiProcessorCount;
    cudaDriverGetVersion(&info->driver_version);
    cudaRuntimeGetVersion(&info->runtime_version);
    cublasGetVersion(c->blas, &info->cublas_version);
  }
  *context = c;
  return 0;
}

void tandem_cuda_close(tandem_cuda_context *context) {
  if (!context) return;
  if (context->blas) cublasDestroy(context->blas);
  if (context->stream) cudaStreamDestroy(context->stream);
  delete context;
}

int tandem_cuda_model_create(tandem_cuda_context *context, const tandem_cuda_layer *specs, int layer_count,
                             const int *sample_shape, int sample_rank, int loss, int classes,
                             const float *class_weights, tandem_cuda_model **out, char *error, size_t error_size) {
  *out = nullptr;
  USE_DEVICE(context);
  if (sample_rank != 1 && sample_rank != 3) {
    say(error, error_size, "a sample is [features] or [channels, height, width], got rank %d", sample_rank);
    return 3;
  }
  auto *m = new tandem_cuda_model;
  m->context = context;
  m->sample = sample_rank == 3 ? Shape{sample_shape[0], sample_shape[1], sample_shape[2]} : Shape{sample_shape[0], 1, 1};
  m->loss = loss;
  m->classes = classes;
  Shape shape = m->sample;
  size_t offset = 0;
  for (int i = 0; i < layer_count; ++i) {
    Layer l;
    l.spec = specs[i];
    l.in = shape;
    switch (l.spec.kind) {
      case TANDEM_CUDA_CONV2D:
        if (shape.c != l.spec.in_channels || sample_rank != 3 || l.spec.kernel <= 0 || l.spec.stride <= 0 ||
            l.spec.padding < 0 || l.spec.out_channels <= 0 ||
            shape.h + 2 * l.spec.padding < l.spec.kernel || shape.w + 2 * l.spec.padding < l.spec.kernel) {
          say(error, error_size, "layer %d: conv2d %d->%d, kernel %d, stride %d, padding %d on input [%d, %d, %d]", i,
              l.spec.in_channels, l.spec.out_channels, l.spec.kernel, l.spec.stride, l.spec.padding, shape.c, shape.h,
              shape.w);
          delete m;
          return 3;
        }
        // The layer before would read an input gradient nothing wrote.
        if (!l.spec.input_gradient && i > 0) {
          say(error, error_size, "layer %d: only a first conv2d may skip its input gradient", i);
          delete m;
          return 3;
        }
        l.weightCount = (size_t)l.spec.out_channels * l.spec.in_channels * l.spec.kernel * l.spec.kernel;
        l.biasCount = l.spec.out_channels;
        break;
      case TANDEM_CUDA_DENSE:
        if ((size_t)l.spec.inputs != shape.count() || l.spec.outputs <= 0) {
          say(error, error_size, "layer %d: dense of %d inputs on %zu values per sample", i, l.spec.inputs, shape.count());
          delete m;
          return 3;
        }
        l.weightCount = (size_t)l.spec.outputs * l.spec.inputs;
        l.biasCount = l.spec.outputs;
        break;
      case TANDEM_CUDA_GROUP_NORM:
        if (shape.c != l.spec.in_channels || sample_rank != 3 || l.spec.groups <= 0 || shape.c % l.spec.groups) {
          say(error, error_size, "layer %d: group norm of %d channels in %d groups on input [%d, %d, %d]", i,
              l.spec.in_channels, l.spec.groups, shape.c, shape.h, shape.w);
          delete m;
          return 3;
        }
        l.weightCount = l.biasCount = l.spec.in_channels;
        break;
      case TANDEM_CUDA_MAXPOOL2:
        if (sample_rank != 3 || shape.h < 2 || shape.w < 2) {
          say(error, error_size, "layer %d: 2x2 max pooling on input [%d, %d, %d]", i, shape.c, shape.h, shape.w);
          delete m;
          return 3;
        }
        break;
      case TANDEM_CUDA_GLOBAL_AVERAGE_POOL:
        if (sample_rank != 3) {
          say(error, error_size, "layer %d: global average pooling needs [channels, height, width]", i);
          delete m;
          return 3;
        }
        break;
      case TANDEM_CUDA_RELU: break;
      default:
        say(error, error_size, "layer %d: unknown kind %d", i, l.spec.kind);
        delete m;
        return 3;
    }
    l.out = outputShape(l.spec, shape);
    // A dense layer after pooling sees [c, 1, 1] as [c].
    if (l.spec.kind == TANDEM_CUDA_GLOBAL_AVERAGE_POOL || l.spec.kind == TANDEM_CUDA_DENSE) l.out = Shape{l.out.c, 1, 1};
    l.weight = offset;
    l.bias = offset + l.weightCount;
    offset += l.weightCount + l.biasCount;
    shape = l.out;
    m->layers.push_back(l);
  }
  m->logits = (int)shape.count();
  int expected = loss == TANDEM_CUDA_SOFTMAX_CROSS_ENTROPY ? classes : 1;
  // Class weights are indexed by label: one per class, two for the sigmoid.
  if (class_weights && (loss == TANDEM_CUDA_SIGMOID_BINARY_CROSS_ENTROPY ? classes != 2 : classes < 2)) {
    say(error, error_size, "class weights need %s classes, got %d", loss == TANDEM_CUDA_SIGMOID_BINARY_CROSS_ENTROPY ? "2" : ">= 2", classes);
    delete m;
    return 3;
  }
  if ((loss != TANDEM_CUDA_SOFTMAX_CROSS_ENTROPY && loss != TANDEM_CUDA_SIGMOID_BINARY_CROSS_ENTROPY) ||
      m->logits != expected) {
    say(error, error_size, "the layers end in %d logits; loss %d needs %d", m->logits, loss, expected);
    delete m;
    return 3;
  }
  m->parameterCount = offset;
  m->outputs.resize(m->layers.size());
  m->inputGrads.resize(m->layers.size());
  m->argmax.resize(m->layers.size());
  m->normalised.resize(m->layers.size());
  m->inverseStd.resize(m->layers.size());
  cudaError_t status = m->parameters.reserve(offset);
  if (status == cudaSuccess) status = m->gradients.reserve(offset);
  if (status == cudaSuccess && class_weights) {
    status = m->weights.reserve(classes);
    if (status == cudaSuccess)
      status = cudaMemcpy(m->weights.data, class_weights, classes * sizeof(float), cudaMemcpyHostToDevice);
    m->weighted = true;
  }
  if (status != cudaSuccess) {
    say(error, error_size, "allocating %zu parameters: %s", offset, cudaGetErrorString(status));
    delete m;
    return 1;
  }
  *out = m;
  return 0;
}

void tandem_cuda_model_destroy(tandem_cuda_model *model) { delete model; }

size_t tandem_cuda_model_parameter_count(const tandem_cuda_model *model) { return model->parameterCount; }

int tandem_cuda_model_set_parameters(tandem_cuda_model *m, const float *values, char *error, size_t error_size) {
  USE_DEVICE(m->context);
  CUDA_TRY(cudaMemcpyAsync(m->parameters.data, values, m->parameterCount * sizeof(float), cudaMemcpyHostToDevice,
                           m->context->stream));
  CUDA_TRY(cudaStreamSynchronize(m->context->stream));
  return 0;
}

int tandem_cuda_model_forward(tandem_cuda_model *m, const float *input, int batch, float *logits,
                              char *error, size_t error_size) {
  USE_DEVICE(m->context);
  if (int status = forward(m, input, batch, error, error_size)) return status;
  CUDA_TRY(cudaMemcpyAsync(logits, m->outputs.back().data, (size_t)m->logits * batch * sizeof(float),
                           cudaMemcpyDeviceToHost, m->context->stream));
  CUDA_TRY(cudaStreamSynchronize(m->context->stream));
  return 0;
}

int tandem_cuda_model_gradients(tandem_cuda_model *m, const float *input, const int32_t *labels, int batch,
                                int normalizer, double *loss, float *gradients, char *error, size_t error_size) {
  USE_DEVICE(m->context);
  for (int i = 0; i < batch; ++i) {
    int limit = m->loss == TANDEM_CUDA_SOFTMAX_CROSS_ENTROPY ? m->classes : 2;
    if (labels[i] < 0 || labels[i] >= limit) {
      say(error, error_size, "label %d at row %d is outside 0..<%d", labels[i], i, limit);
      return 3;
    }
  }
  if (int status = forward(m, input, batch, error, error_size)) return status;
  cudaStream_t stream = m->context->stream;
  CUDA_TRY(cudaMemcpyAsync(m->labels.data, labels, batch * sizeof(int), cudaMemcpyHostToDevice, stream));
  double scale = 1.0 / (double)(normalizer > 0 ? normalizer : batch);
  const float *weights = m->weighted ? m->weights.data : nullptr;
  if (m->loss == TANDEM_CUDA_SOFTMAX_CROSS_ENTROPY)
    softmaxCrossEntropy<<<blocks(batch), kThreads, 0, stream>>>(m->outputs.back().data, m->labels.data, batch,
                                                                m->classes, weights, scale, m->losses.data,
                                                                m->logitGradient.data);
  else
    sigmoidBinaryCrossEntropy<<<blocks(batch), kThreads, 0, stream>>>(m->outputs.back().data, m->labels.data, batch,
                                                                      weights, scale, m->losses.data,
                                                                      m->logitGradient.data);
  CUDA_TRY(cudaGetLastError());
  if (int status = backward(m, error, error_size)) return status;
  std::vector<double> losses(batch);
  CUDA_TRY(cudaMemcpyAsync(losses.data(), m->losses.data, batch * sizeof(double), cudaMemcpyDeviceToHost, stream));
  CUDA_TRY(cudaMemcpyAsync(gradients, m->gradients.data, m->parameterCount * sizeof(float), cudaMemcpyDeviceToHost,
                           stream));
  CUDA_TRY(cudaStreamSynchronize(stream));
  double total = 0;
  for (double l : losses) total += l;
  *loss = total * scale;
  return 0;
}

size_t tandem_cuda_model_activation_count(const tandem_cuda_model *m, int layer, int backward, int batch) {
  if (layer < 0 || layer >= (int)m->layers.size()) return 0;
  const Layer &l = m->layers[layer];
  return (backward ? l.in.count() : l.out.count()) * batch;
}

int tandem_cuda_model_activation(const tandem_cuda_model *m, int layer, int backward, float *values, size_t count,
                                 char *error, size_t error_size) {
  size_t expected = tandem_cuda_model_activation_count(m, layer, backward, m->batch);
  if (expected == 0 || count != expected || (backward && !m->backwardDone)) {
    say(error, error_size, "layer %d %s: %zu values asked, %zu there", layer, backward ? "input gradient" : "output",
        count, backward && !m->backwardDone ? (size_t)0 : expected);
    return 3;
  }
  USE_DEVICE(m->context);
  const float *source = backward ? m->inputGrads[layer].data : m->outputs[layer].data;
  CUDA_TRY(cudaMemcpyAsync(values, source, count * sizeof(float), cudaMemcpyDeviceToHost, m->context->stream));
  CUDA_TRY(cudaStreamSynchronize(m->context->stream));
  return 0;
}

}  // extern "C"
