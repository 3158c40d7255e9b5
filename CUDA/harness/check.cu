// Checks libtandem_cuda.so against reference outputs the CPU path wrote
// (`tandem diagnose cuda-reference --out DIR`), without Swift:
//
//   check DIR...            every layer's output and input gradient, the loss and
//                           every parameter gradient, within the tolerances below;
//                           then a second run of the same step must give the same bits
//   check --bench N DIR     also N timed gradient steps on a batch of 64 (--bench-batch)
//                           of the reference's samples repeated: samples per second, as JSON
//   check --files-only DIR  only read the references (every file there, of the
//                           size the model's shapes give): needs no GPU
//
// DIR/reference.txt describes the model and batch (format in CUDA/README.md);
// the tensors are raw little-endian files beside it. Exit 0 when every check
// passes, 1 when one fails, 2 when the reference cannot be read or the device
// cannot be used.
#include "tandem_cuda.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

// Float32 forward passes differ from the CPU's only in summation order.
constexpr double kForwardTolerance = 1e-4;   // max |Δ| / max |reference|
// Gradients pass through ReLU kinks and max-pool winners, where an ulp can
// move a whole term: relative L2 per tensor (each layer's input gradient,
// each parameter tensor).
constexpr double kGradientTolerance = 1e-3;
constexpr double kLossTolerance = 1e-5;      // |Δ| / max(1, |loss|)

struct Reference {
  std::string directory;
  std::vector<tandem_cuda_layer> layers;
  std::vector<int> sample;
  int loss = 0, classes = 0, batch = 0, normalizer = 0;
  std::vector<float> weights;
};

[[noreturn]] void fail(const std::string &what) {
  fprintf(stderr, "check: %s\n", what.c_str());
  exit(2);
}

template <typename T>
std::vector<T> readRaw(const std::string &path, size_t count) {
  std::ifstream file(path, std::ios::binary);
  if (!file) fail(path + ": cannot open");
  std::vector<T> values(count);
  file.read(reinterpret_cast<char *>(values.data()), (std::streamsize)(count * sizeof(T)));
  if ((size_t)file.gcount() != count * sizeof(T)) fail(path + ": expected " + std::to_string(count * sizeof(T)) + " bytes");
  char extra;
  if (file.read(&extra, 1)) fail(path + ": longer than " + std::to_string(count * sizeof(T)) + " bytes");
  return values;
}

Reference parse(const std::string &directory) {
  Reference r;
  r.directory = directory;
  std::string path = directory + "/reference.txt";
  std::ifstream file(path);
  if (!file) fail(path + ": cannot open");
  std::string line;
  int number = 0;
  while (std::getline(file, line)) {
    ++number;
    if (line.empty() || line[0] == '#') continue;
    std::istringstream in(line);
    std::string key;
    in >> key;
    auto bad = [&] { fail(path + ":" + std::to_string(number) + ": cannot read '" + line + "'"); };
    if (key == "sample") {
      int v;
      while (in >> v) r.sample.push_back(v);
      if (r.sample.size() != 1 && r.sample.size() != 3) bad();
    } else if (key == "loss") {
      std::string kind;
      if (!(in >> kind >> r.classes)) bad();
      if (kind == "softmax") r.loss = TANDEM_CUDA_SOFTMAX_CROSS_ENTROPY;
      else if (kind == "sigmoid") r.loss = TANDEM_CUDA_SIGMOID_BINARY_CROSS_ENTROPY;
      else bad();
      float w;
      while (in >> w) r.weights.push_back(w);
      if (!r.weights.empty() && (int)r.weights.size() != r.classes) bad();
    } else if (key == "batch") {
      if (!(in >> r.batch) || r.batch <= 0) bad();
    } else if (key == "normalizer") {
      if (!(in >> r.normalizer) || r.normalizer <= 0) bad();
    } else if (key == "layer") {
      std::string kind;
      in >> kind;
      tandem_cuda_layer l;
      memset(&l, 0, sizeof l);
      if (kind == "conv2d") {
        l.kind = TANDEM_CUDA_CONV2D;
        if (!(in >> l.in_channels >> l.out_channels >> l.kernel >> l.stride >> l.padding >> l.relu >> l.input_gradient)) bad();
      } else if (kind == "dense") {
        l.kind = TANDEM_CUDA_DENSE;
        if (!(in >> l.inputs >> l.outputs)) bad();
      } else if (kind == "groupnorm") {
        l.kind = TANDEM_CUDA_GROUP_NORM;
        if (!(in >> l.in_channels >> l.groups >> l.epsilon)) bad();
      } else if (kind == "maxpool2") l.kind = TANDEM_CUDA_MAXPOOL2;
      else if (kind == "gap") l.kind = TANDEM_CUDA_GLOBAL_AVERAGE_POOL;
      else if (kind == "relu") l.kind = TANDEM_CUDA_RELU;
      else bad();
      r.layers.push_back(l);
    } else {
      bad();
    }
  }
  if (r.sample.empty() || r.loss == 0 || r.batch == 0 || r.layers.empty())
    fail(path + ": needs sample, loss, batch and at least one layer");
  if (r.normalizer == 0) r.normalizer = r.batch;
  return r;
}

struct Comparison {
  double error = 0;
  bool ok = true;
};

Comparison maxRelative(const std::vector<float> &a, const std::vector<float> &b, double tolerance) {
  double scale = 0, worst = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    scale = fmax(scale, fabs((double)b[i]));
    double d = fabs((double)a[i] - (double)b[i]);
    worst = std::isnan(d) ? INFINITY : fmax(worst, d);
  }
  Comparison c;
  c.error = worst / (scale > 0 ? scale : 1);
  c.ok = c.error <= tolerance;
  return c;
}

Comparison relativeL2(const float *a, const float *b, size_t n, double tolerance) {
  double diff = 0, norm = 0;
  for (size_t i = 0; i < n; ++i) {
    double d = (double)a[i] - (double)b[i];
    diff += d * d;
    norm += (double)b[i] * b[i];
  }
  Comparison c;
  c.error = sqrt(diff) / (norm > 0 ? sqrt(norm) : 1);
  c.ok = std::isfinite(c.error) && c.error <= tolerance;
  return c;
}

const char *kindName(int kind) {
  switch (kind) {
    case TANDEM_CUDA_CONV2D: return "conv2d";
    case TANDEM_CUDA_MAXPOOL2: return "maxpool2";
    case TANDEM_CUDA_GLOBAL_AVERAGE_POOL: return "gap";
    case TANDEM_CUDA_DENSE: return "dense";
    case TANDEM_CUDA_GROUP_NORM: return "groupnorm";
    default: return "relu";
  }
}

struct Run {
  double loss = 0;
  std::vector<float> gradients;
  std::vector<std::vector<float>> forward, backward;
};

Run step(tandem_cuda_model *model, const Reference &r, const std::vector<float> &input,
         const std::vector<int32_t> &labels) {
  char error[512] = "";
  Run run;
  run.gradients.resize(tandem_cuda_model_parameter_count(model));
  if (tandem_cuda_model_gradients(model, input.data(), labels.data(), r.batch, r.normalizer, &run.loss,
                                  run.gradients.data(), error, sizeof error))
    fail(r.directory + ": gradients: " + error);
  for (size_t k = 0; k < r.layers.size(); ++k) {
    for (int backward = 0; backward < 2; ++backward) {
      std::vector<float> values;
      bool skip = backward && r.layers[k].kind == TANDEM_CUDA_CONV2D && !r.layers[k].input_gradient;
      if (!skip) {
        values.resize(tandem_cuda_model_activation_count(model, (int)k, backward, r.batch));
        if (tandem_cuda_model_activation(model, (int)k, backward, values.data(), values.size(), error, sizeof error))
          fail(r.directory + ": activation: " + error);
      }
      (backward ? run.backward : run.forward).push_back(values);
    }
  }
  return run;
}

bool sameBits(const std::vector<float> &a, const std::vector<float> &b) {
  return a.size() == b.size() && memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

}  // namespace

// The parameter tensors in model order: each layer's weight (scale), then bias (shift).
std::vector<std::pair<std::string, size_t>> parameterTensors(const Reference &r) {
  std::vector<std::pair<std::string, size_t>> tensors;
  for (size_t k = 0; k < r.layers.size(); ++k) {
    const tandem_cuda_layer &l = r.layers[k];
    std::string name = "layer " + std::to_string(k);
    if (l.kind == TANDEM_CUDA_CONV2D) {
      tensors.push_back({name + " conv2d weight", (size_t)l.out_channels * l.in_channels * l.kernel * l.kernel});
      tensors.push_back({name + " conv2d bias", (size_t)l.out_channels});
    } else if (l.kind == TANDEM_CUDA_DENSE) {
      tensors.push_back({name + " dense weight", (size_t)l.outputs * l.inputs});
      tensors.push_back({name + " dense bias", (size_t)l.outputs});
    } else if (l.kind == TANDEM_CUDA_GROUP_NORM) {
      tensors.push_back({name + " groupnorm scale", (size_t)l.in_channels});
      tensors.push_back({name + " groupnorm shift", (size_t)l.in_channels});
    }
  }
  return tensors;
}

// Every file a reference must hold, with its size from the model's shapes alone.
void checkFiles(const Reference &r) {
  size_t sample = 1, parameters = 0;
  for (int s : r.sample) sample *= (size_t)s;
  size_t shape[3] = {(size_t)r.sample[0], r.sample.size() == 3 ? (size_t)r.sample[1] : 1,
                     r.sample.size() == 3 ? (size_t)r.sample[2] : 1};
  readRaw<float>(r.directory + "/input.f32", sample * r.batch);
  readRaw<int32_t>(r.directory + "/labels.i32", r.batch);
  for (size_t k = 0; k < r.layers.size(); ++k) {
    const tandem_cuda_layer &l = r.layers[k];
    size_t in = shape[0] * shape[1] * shape[2];
    switch (l.kind) {
      case TANDEM_CUDA_CONV2D:
        shape[0] = l.out_channels;
        shape[1] = (shape[1] + 2 * l.padding - l.kernel) / l.stride + 1;
        shape[2] = (shape[2] + 2 * l.padding - l.kernel) / l.stride + 1;
        break;
      case TANDEM_CUDA_MAXPOOL2: shape[1] /= 2; shape[2] /= 2; break;
      case TANDEM_CUDA_GLOBAL_AVERAGE_POOL: shape[1] = shape[2] = 1; break;
      case TANDEM_CUDA_DENSE:
        shape[0] = l.outputs; shape[1] = shape[2] = 1;
        break;
      default: break;
    }
    readRaw<float>(r.directory + "/forward-" + std::to_string(k) + ".f32", shape[0] * shape[1] * shape[2] * r.batch);
    if (!(l.kind == TANDEM_CUDA_CONV2D && !l.input_gradient))
      readRaw<float>(r.directory + "/backward-" + std::to_string(k) + ".f32", in * r.batch);
  }
  for (const auto &tensor : parameterTensors(r)) parameters += tensor.second;
  readRaw<float>(r.directory + "/parameters.f32", parameters);
  readRaw<float>(r.directory + "/gradients.f32", parameters);
  readRaw<double>(r.directory + "/loss.f64", 1);
  printf("{\"reference\": \"%s\", \"layers\": %zu, \"parameters\": %zu, \"batch\": %d, \"files\": \"complete\"}\n",
         r.directory.c_str(), r.layers.size(), parameters, r.batch);
}

int main(int argc, char **argv) {
  int benchSteps = 0, benchBatch = 64;
  bool filesOnly = false;
  std::vector<std::string> directories;
  for (int i = 1; i < argc; ++i) {
    if (!strcmp(argv[i], "--bench") && i + 1 < argc) benchSteps = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--bench-batch") && i + 1 < argc) benchBatch = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--files-only")) filesOnly = true;
    else directories.push_back(argv[i]);
  }
  if (directories.empty()) {
    fprintf(stderr, "usage: check [--files-only] [--bench STEPS [--bench-batch N]] REFERENCE-DIR...\n");
    return 2;
  }
  // Every reference is read and checked for completeness before the device
  // is touched: a bad reference is a reference problem, not a GPU one.
  for (const std::string &directory : directories) checkFiles(parse(directory));
  if (filesOnly) return 0;
  char error[512] = "";
  tandem_cuda_context *context = nullptr;
  tandem_cuda_device_info info;
  if (tandem_cuda_open(0, &context, &info, error, sizeof error)) fail(std::string("device 0: ") + error);
  printf("{\"device\": \"%s\", \"compute_capability\": \"%d.%d\", \"driver\": %d, \"runtime\": %d, \"cublas\": %d}\n",
         info.name, info.compute_major, info.compute_minor, info.driver_version, info.runtime_version,
         info.cublas_version);
  bool passed = true;
  for (const std::string &directory : directories) {
    Reference r = parse(directory);
    tandem_cuda_model *model = nullptr;
    if (tandem_cuda_model_create(context, r.layers.data(), (int)r.layers.size(), r.sample.data(), (int)r.sample.size(),
                                 r.loss, r.classes, r.weights.empty() ? nullptr : r.weights.data(), &model, error,
                                 sizeof error))
      fail(directory + ": model: " + error);
    size_t sampleCount = 1;
    for (int s : r.sample) sampleCount *= (size_t)s;
    size_t parameters = tandem_cuda_model_parameter_count(model);
    auto input = readRaw<float>(directory + "/input.f32", sampleCount * r.batch);
    auto labels = readRaw<int32_t>(directory + "/labels.i32", r.batch);
    auto values = readRaw<float>(directory + "/parameters.f32", parameters);
    if (tandem_cuda_model_set_parameters(model, values.data(), error, sizeof error))
      fail(directory + ": parameters: " + error);

    Run first = step(model, r, input, labels), second = step(model, r, input, labels);
    auto report = [&](const std::string &what, Comparison c, double tolerance) {
      printf("{\"reference\": \"%s\", \"check\": \"%s\", \"error\": %.3g, \"tolerance\": %.0e, \"ok\": %s}\n",
             directory.c_str(), what.c_str(), c.error, tolerance, c.ok ? "true" : "false");
      passed = passed && c.ok;
    };
    for (size_t k = 0; k < r.layers.size(); ++k) {
      std::string name = std::to_string(k) + " " + kindName(r.layers[k].kind);
      auto expected = readRaw<float>(directory + "/forward-" + std::to_string(k) + ".f32", first.forward[k].size());
      report("forward " + name, maxRelative(first.forward[k], expected, kForwardTolerance), kForwardTolerance);
      if (first.backward[k].empty()) continue;
      auto dx = readRaw<float>(directory + "/backward-" + std::to_string(k) + ".f32", first.backward[k].size());
      report("input gradient " + name, relativeL2(first.backward[k].data(), dx.data(), dx.size(), kGradientTolerance),
             kGradientTolerance);
    }
    auto loss = readRaw<double>(directory + "/loss.f64", 1);
    Comparison lc;
    lc.error = fabs(first.loss - loss[0]) / fmax(1.0, fabs(loss[0]));
    lc.ok = lc.error <= kLossTolerance;
    report("loss", lc, kLossTolerance);
    // Tensor by tensor: a small tensor (a bias, fc2) wholly wrong must not hide in the total.
    auto gradients = readRaw<float>(directory + "/gradients.f32", parameters);
    size_t offset = 0;
    for (const auto &[name, count] : parameterTensors(r)) {
      report("gradient " + name, relativeL2(first.gradients.data() + offset, gradients.data() + offset, count,
                                            kGradientTolerance), kGradientTolerance);
      offset += count;
    }
    // Scoring's path: forward alone, its logits against the last layer's output.
    std::vector<float> logits(first.forward.back().size());
    if (tandem_cuda_model_forward(model, input.data(), r.batch, logits.data(), error, sizeof error))
      fail(directory + ": forward: " + error);
    auto expectedLogits = readRaw<float>(directory + "/forward-" + std::to_string(r.layers.size() - 1) + ".f32",
                                         logits.size());
    report("logits of forward alone", maxRelative(logits, expectedLogits, kForwardTolerance), kForwardTolerance);

    bool identical = first.loss == second.loss && sameBits(first.gradients, second.gradients);
    for (size_t k = 0; k < r.layers.size(); ++k)
      identical = identical && sameBits(first.forward[k], second.forward[k]) && sameBits(first.backward[k], second.backward[k]);
    printf("{\"reference\": \"%s\", \"check\": \"second run identical bits\", \"ok\": %s}\n", directory.c_str(),
           identical ? "true" : "false");
    passed = passed && identical;

    if (benchSteps > 0) {
      // The reference's samples repeated up to the benchmark's batch.
      std::vector<float> x(sampleCount * benchBatch);
      std::vector<int32_t> y(benchBatch);
      for (int i = 0; i < benchBatch; ++i) {
        memcpy(x.data() + i * sampleCount, input.data() + (i % r.batch) * sampleCount, sampleCount * sizeof(float));
        y[i] = labels[i % r.batch];
      }
      std::vector<float> scratch(parameters);
      double l = 0;
      auto one = [&] {
        if (tandem_cuda_model_set_parameters(model, values.data(), error, sizeof error) ||
            tandem_cuda_model_gradients(model, x.data(), y.data(), benchBatch, benchBatch, &l, scratch.data(), error, sizeof error))
          fail(directory + ": bench: " + error);
      };
      for (int i = 0; i < 5; ++i) one();
      auto start = std::chrono::steady_clock::now();
      for (int i = 0; i < benchSteps; ++i) one();
      double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      printf("{\"reference\": \"%s\", \"bench\": \"tandem gradient step (parameters up, gradient down; SGD on the host)\", "
             "\"batch\": %d, \"steps\": %d, \"samples_per_second\": %.1f}\n",
             directory.c_str(), benchBatch, benchSteps, benchSteps * benchBatch / seconds);
    }
    tandem_cuda_model_destroy(model);
  }
  tandem_cuda_close(context);
  printf("{\"passed\": %s}\n", passed ? "true" : "false");
  return passed ? 0 : 1;
}
