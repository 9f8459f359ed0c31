// Device of a rank (DESIGN.md "Process model"): cuda:local_rank when LibTorch sees CUDA, else CPU.
// Intra-op threads per rank are set by the launcher (launch/runtime.cc, `dist.threads`).
#pragma once

#include <torch/torch.h>

#include "dist/mpi_env.h"

namespace grec::dist {

torch::Device select_device(const MpiEnv& env);

}  // namespace grec::dist
