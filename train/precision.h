// Mixed precision: "fp32", or "bf16" = autocast to bfloat16 with fp32 master weights.
//
// Parameters, gradients and optimizer state stay fp32. Inside a precision::Autocast scope the
// ATen autocast dispatch key is switched on for the device (at::autocast::set_cpu_enabled +
// set_autocast_cpu_dtype(kBFloat16) on CPU, set_enabled + set_autocast_gpu_dtype on CUDA — all
// present in LibTorch 1.13 and 2.x), so ops on autocast's lower-precision list (matmul, linear,
// conv, bmm, ...) cast their fp32 inputs to bf16 and return bf16, while the fp32 list (softmax,
// losses, norms, ...) runs in fp32; casts of the weights are cached for the scope. Backward
// flows through those casts into the fp32 parameters. The trainer opens one scope around each
// micro-step's forward (loss_sum); tasks need nothing more unless they want to force an op to
// fp32 (cast its inputs with .to(kFloat) inside the scope).
#pragma once

#include <string>

#include <torch/torch.h>

namespace grec::train::precision {

enum class Precision { kFp32, kBf16 };

// "fp32" | "bf16"; a UserError naming `key` otherwise.
Precision parse(const std::string& name, const std::string& key = "precision");
const char* name(Precision p);

// RAII scope; nests, and restores the previous autocast state on exit. A no-op for fp32.
class Autocast {
 public:
  explicit Autocast(Precision precision, torch::Device device = torch::kCPU);
  ~Autocast();
  Autocast(const Autocast&) = delete;
  Autocast& operator=(const Autocast&) = delete;

 private:
  bool active_ = false;
  bool cuda_ = false;
  bool prev_enabled_ = false;
  at::ScalarType prev_dtype_ = at::kBFloat16;
};

}  // namespace grec::train::precision
