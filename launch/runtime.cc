// Runtime set-up and versions.
#include "launch/runtime.h"

#include <ATen/Parallel.h>
#include <H5public.h>
#include <mpi.h>
#include <torch/csrc/api/include/torch/version.h>

#include <algorithm>
#include <thread>

#include <fmt/format.h>

#ifdef GREC_WITH_CUDA
#include <cuda_runtime_api.h>
#include <nccl.h>
#endif

#include "core/config.h"
#include "core/log.h"
#include "dist/mpi_env.h"

#ifndef GREC_VERSION
#define GREC_VERSION "0.0.0"
#endif

namespace grec::launch {

void configure_runtime(const Config& config, const dist::MpiEnv& env) {
  int64_t threads = config.get_int("dist.threads");
  if (threads <= 0) {
    const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    threads = std::max(1, cores / std::max(1, env.local_world()));
  }
  at::set_num_threads(static_cast<int>(threads));
  GREC_INFO("{} rank{} x {} intra-op thread{} per rank", env.world(), env.world() > 1 ? "s" : "",
            threads, threads > 1 ? "s" : "");
}

std::string version_text() {
  char mpi[MPI_MAX_LIBRARY_VERSION_STRING] = {0};
  int len = 0;
  MPI_Get_library_version(mpi, &len);
  std::string mpi_s(mpi, static_cast<size_t>(len));
  mpi_s = mpi_s.substr(0, mpi_s.find_first_of(",\n"));
  std::string s = fmt::format("grec {}\nLibTorch {}.{}.{}\nMPI {} (standard {}.{})\nHDF5 {}.{}.{}\n",
                              GREC_VERSION, TORCH_VERSION_MAJOR, TORCH_VERSION_MINOR,
                              TORCH_VERSION_PATCH, mpi_s, MPI_VERSION, MPI_SUBVERSION,
                              H5_VERS_MAJOR, H5_VERS_MINOR, H5_VERS_RELEASE);
#ifdef GREC_WITH_CUDA
  int nccl = 0;
  ncclGetVersion(&nccl);
  s += fmt::format("CUDA runtime {} (built with {})\nNCCL {}\n", CUDART_VERSION, CUDART_VERSION,
                   nccl);
#else
  s += "CUDA/NCCL: not built (configure with -DGREC_WITH_CUDA=ON)\n";
#endif
  return s;
}

}  // namespace grec::launch
