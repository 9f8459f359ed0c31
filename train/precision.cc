// bf16 autocast scope (train/precision.h).
#include "train/precision.h"

#include <ATen/autocast_mode.h>

#include "core/error.h"

namespace grec::train::precision {

Precision parse(const std::string& n, const std::string& key) {
  if (n == "fp32") return Precision::kFp32;
  if (n == "bf16") return Precision::kBf16;
  user_error("config key '{}' must be fp32 or bf16, got '{}'", key, n);
}

const char* name(Precision p) { return p == Precision::kBf16 ? "bf16" : "fp32"; }

Autocast::Autocast(Precision precision, torch::Device device) {
  if (precision != Precision::kBf16) return;
  active_ = true;
  cuda_ = device.is_cuda();
  if (cuda_) {
    prev_enabled_ = at::autocast::is_enabled();
    prev_dtype_ = at::autocast::get_autocast_gpu_dtype();
    at::autocast::set_enabled(true);
    at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
  } else {
    prev_enabled_ = at::autocast::is_cpu_enabled();
    prev_dtype_ = at::autocast::get_autocast_cpu_dtype();
    at::autocast::set_cpu_enabled(true);
    at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
  }
  at::autocast::increment_nesting();
}

Autocast::~Autocast() {
  if (!active_) return;
  // The weight-cast cache lives until the outermost scope ends, as in torch.autocast.
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  if (cuda_) {
    at::autocast::set_enabled(prev_enabled_);
    at::autocast::set_autocast_gpu_dtype(prev_dtype_);
  } else {
    at::autocast::set_cpu_enabled(prev_enabled_);
    at::autocast::set_autocast_cpu_dtype(prev_dtype_);
  }
}

}  // namespace grec::train::precision
