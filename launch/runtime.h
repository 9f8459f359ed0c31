// Process-level set-up shared by the commands: intra-op threads per rank, version text.
#pragma once

#include <string>

namespace grec {
class Config;
namespace dist {
class MpiEnv;
}
}  // namespace grec

namespace grec::launch {

// Sets LibTorch's intra-op threads: dist.threads, or cores on the node / ranks on the node.
void configure_runtime(const Config& config, const dist::MpiEnv& env);
// grec, LibTorch, MPI, HDF5 and (when built with them) CUDA/NCCL versions, one per line.
std::string version_text();

}  // namespace grec::launch
