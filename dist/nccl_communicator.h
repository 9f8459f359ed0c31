// NCCL backend of the Communicator for CUDA tensors (compiled only when grec is built with CUDA).
// Rank 0 makes the unique id, MPI_Bcast carries it, every rank joins with ncclCommInitRank and
// works on its own CUDA stream. Byte gathers and barriers go over MPI (they are host data).
#pragma once

#include <cuda_runtime_api.h>
#include <nccl.h>

#include <memory>

#include "dist/communicator.h"
#include "dist/mpi_communicator.h"

#define CUDA_CHECK(call)                                                                       \
  do {                                                                                         \
    const cudaError_t grec_cuda_rc_ = (call);                                                  \
    if (grec_cuda_rc_ != cudaSuccess) {                                                        \
      throw ::grec::Error(::fmt::format("{}:{}: {} failed: {}", __FILE__, __LINE__, #call,     \
                                        cudaGetErrorString(grec_cuda_rc_)));                   \
    }                                                                                          \
  } while (0)

#define NCCL_CHECK(call)                                                                       \
  do {                                                                                         \
    const ncclResult_t grec_nccl_rc_ = (call);                                                 \
    if (grec_nccl_rc_ != ncclSuccess) {                                                        \
      throw ::grec::Error(::fmt::format("{}:{}: {} failed: {}", __FILE__, __LINE__, #call,     \
                                        ncclGetErrorString(grec_nccl_rc_)));                   \
    }                                                                                          \
  } while (0)

namespace grec::dist {

class NcclCommunicator : public Communicator {
 public:
  explicit NcclCommunicator(int device_index);
  ~NcclCommunicator() override;

  int rank() const override { return host_.rank(); }
  int world() const override { return host_.world(); }
  std::string backend() const override { return "nccl"; }
  torch::Device device() const override { return torch::Device(torch::kCUDA, device_); }
  void allreduce(torch::Tensor& t, ReduceOp op) override;
  void broadcast(torch::Tensor& t, int root) override;
  torch::Tensor allgather(const torch::Tensor& t) override;
  std::vector<std::string> allgather_bytes(const std::string& bytes) override;
  void barrier() override;

 private:
  void check_tensor(const torch::Tensor& t, const char* op) const;
  // The collective is enqueued on stream_ and waited for, so calls are synchronous for callers.
  void finish();

  MpiCommunicator host_;  // control plane: unique id, byte gathers, barriers
  int device_;
  ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;
};

ncclDataType_t nccl_datatype(torch::ScalarType type);

}  // namespace grec::dist
