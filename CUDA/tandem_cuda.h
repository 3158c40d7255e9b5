/* The C interface of Tandem's CUDA backend, libtandem_cuda.so.
 *
 * The `tandem` binary never links this library: it opens it with dlopen when
 * a run asks for `device = "cuda"`, so one binary runs on machines with and
 * without a GPU. The harness in CUDA/harness links it directly.
 *
 * A model is a program of layers (the CPU path's layers, same shapes, same
 * parameter order: each layer's weight, then its bias). The backend computes a
 * micro-batch's loss and parameter gradient on the device; the caller reduces
 * gradients across ranks (exactly, in fixed point) and applies SGD on the
 * host, as the CPU path does. Every call returns 0 on success, otherwise a
 * non-zero code with one line of text in `error`.
 *
 * Determinism: one stream, cuBLAS in pedantic math mode (no TF32, no tensor
 * op reductions of lower precision), atomics disallowed, and every reduction
 * in the kernels below in a fixed order. The same device architecture, SM
 * count and cuBLAS version give the same bits for the same inputs.
 */
#ifndef TANDEM_CUDA_H
#define TANDEM_CUDA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TANDEM_CUDA_ABI_VERSION 1

typedef struct tandem_cuda_context tandem_cuda_context;
typedef struct tandem_cuda_model tandem_cuda_model;

typedef struct {
  char name[256];
  int ordinal;
  int device_count;
  int compute_major, compute_minor;
  int driver_version;   /* e.g. 13000 for 13.0 */
  int runtime_version;
  int cublas_version;   /* e.g. 130002 */
  size_t memory_bytes;
  int multiprocessors;  /* cuBLAS's bits depend on the SM count too (a MIG slice differs) */
} tandem_cuda_device_info;

enum {
  TANDEM_CUDA_CONV2D = 1,
  TANDEM_CUDA_MAXPOOL2 = 2,
  TANDEM_CUDA_GLOBAL_AVERAGE_POOL = 3,
  TANDEM_CUDA_DENSE = 4,
  TANDEM_CUDA_RELU = 5,
  TANDEM_CUDA_GROUP_NORM = 6,
};

enum {
  TANDEM_CUDA_SOFTMAX_CROSS_ENTROPY = 1,
  TANDEM_CUDA_SIGMOID_BINARY_CROSS_ENTROPY = 2,
};

typedef struct {
  int kind;
  /* conv2d */
  int in_channels, out_channels, kernel, stride, padding;
  int relu;            /* conv2d: ReLU fused after the bias */
  int input_gradient;  /* conv2d: compute dL/dx (0 for a first layer) */
  /* dense */
  int inputs, outputs;
  /* group norm: in_channels channels in `groups` groups; parameters scale, then shift */
  int groups;
  float epsilon;
} tandem_cuda_layer;

int tandem_cuda_abi_version(void);

/* How many devices the driver shows (after CUDA_VISIBLE_DEVICES). */
int tandem_cuda_device_count(int *count, char *error, size_t error_size);

/* Opens device `ordinal`: a cuBLAS handle and a stream, set up deterministically. */
int tandem_cuda_open(int ordinal, tandem_cuda_context **context, tandem_cuda_device_info *info,
                     char *error, size_t error_size);
void tandem_cuda_close(tandem_cuda_context *context);

/* `sample_shape` is one sample's shape: [channels, height, width] or [features].
 * `class_weights` holds `classes` weights, or is NULL. */
int tandem_cuda_model_create(tandem_cuda_context *context, const tandem_cuda_layer *layers, int layer_count,
                             const int *sample_shape, int sample_rank, int loss, int classes,
                             const float *class_weights, tandem_cuda_model **model,
                             char *error, size_t error_size);
void tandem_cuda_model_destroy(tandem_cuda_model *model);

/* Every parameter, in model order, concatenated. */
size_t tandem_cuda_model_parameter_count(const tandem_cuda_model *model);
int tandem_cuda_model_set_parameters(tandem_cuda_model *model, const float *values, char *error, size_t error_size);

/* Logits [batch, logits] for inputs [batch] + sample shape. */
int tandem_cuda_model_forward(tandem_cuda_model *model, const float *input, int batch, float *logits,
                              char *error, size_t error_size);

/* One micro-batch: loss (sum of weighted per-sample losses / normalizer, summed
 * on the host in sample order, in double) and the parameter gradient of that
 * loss, written (not added) to `gradients`. */
int tandem_cuda_model_gradients(tandem_cuda_model *model, const float *input, const int32_t *labels, int batch,
                                int normalizer, double *loss, float *gradients, char *error, size_t error_size);

/* After a forward or gradients call: layer `layer`'s output (`backward` 0) or
 * the gradient with respect to its input (`backward` 1), for the harness.
 * `count` must be the element count (tandem_cuda_model_activation_count). */
size_t tandem_cuda_model_activation_count(const tandem_cuda_model *model, int layer, int backward, int batch);
int tandem_cuda_model_activation(const tandem_cuda_model *model, int layer, int backward, float *values,
                                 size_t count, char *error, size_t error_size);

#ifdef __cplusplus
}
#endif

#endif
