// MPI backend of the Communicator for CPU tensors, on its own duplicate of MPI_COMM_WORLD.
// Messages longer than INT_MAX elements are sent in chunks; bf16/fp16 reductions go through fp32.
#pragma once

#include <mpi.h>

#include <climits>

#include "dist/communicator.h"

namespace grec::dist {

class MpiCommunicator : public Communicator {
 public:
  // `max_chunk` caps the element count of one MPI call (INT_MAX, MPI's limit; tests pass a small
  // value to exercise the chunking). Without MPI initialised this is a world of one.
  explicit MpiCommunicator(int64_t max_chunk = INT_MAX);
  ~MpiCommunicator() override;

  int rank() const override { return rank_; }
  int world() const override { return world_; }
  std::string backend() const override { return "mpi"; }
  torch::Device device() const override { return torch::kCPU; }
  void allreduce(torch::Tensor& t, ReduceOp op) override;
  void broadcast(torch::Tensor& t, int root) override;
  torch::Tensor allgather(const torch::Tensor& t) override;
  std::vector<std::string> allgather_bytes(const std::string& bytes) override;
  void barrier() override;

 private:
  void check_tensor(const torch::Tensor& t, const char* op) const;
  // Chunked in-place MPI_Allreduce of a tensor whose dtype MPI can reduce.
  void reduce_raw(torch::Tensor& t, ReduceOp op);

  MPI_Comm comm_ = MPI_COMM_NULL;  // MPI_COMM_NULL: world of one without MPI
  int rank_ = 0, world_ = 1;
  int64_t max_chunk_;
};

// MPI datatype of a torch dtype for data movement (bf16/fp16 as 16-bit words, bool as bytes).
MPI_Datatype mpi_datatype(torch::ScalarType type);

}  // namespace grec::dist
