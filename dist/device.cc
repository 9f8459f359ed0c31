// Device selection per rank.
#include "dist/device.h"

namespace grec::dist {

torch::Device select_device(const MpiEnv& env) {
  if (torch::cuda::is_available()) {
    const int n = static_cast<int>(torch::cuda::device_count());
    // More ranks than GPUs on a node share them round-robin rather than failing.
    return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(env.local_rank() % n));
  }
  return torch::kCPU;
}

}  // namespace grec::dist
