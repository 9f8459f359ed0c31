// The Communicator interface for tensor collectives (MPI for CPU tensors, NCCL for CUDA tensors),
// plus what every backend shares: the optional watchdog that times each collective with the current
// step, and the test-only stall hook (GREC_TEST_STALL_RANK / GREC_TEST_STALL_SECONDS).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dist/watchdog.h"

namespace grec::dist {

enum class ReduceOp { kSum, kAvg, kMax, kMin };
const char* reduce_op_name(ReduceOp op);

class Communicator {
 public:
  Communicator();
  virtual ~Communicator() = default;
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  virtual int rank() const = 0;
  virtual int world() const = 0;
  virtual std::string backend() const = 0;                      // "mpi" | "nccl"
  // Device of the tensors this communicator takes (CPU for MPI, cuda:i for NCCL).
  virtual torch::Device device() const = 0;
  virtual void allreduce(torch::Tensor& t, ReduceOp op) = 0;    // in place, contiguous
  virtual void broadcast(torch::Tensor& t, int root) = 0;       // in place, contiguous
  virtual torch::Tensor allgather(const torch::Tensor& t) = 0;  // same shape everywhere -> [world, ...]
  virtual std::vector<std::string> allgather_bytes(const std::string& bytes) = 0;  // variable sizes
  virtual void barrier() = 0;

  // Every later collective is timed by `w` (nullptr: none) and named with the current step.
  void set_watchdog(Watchdog* w) { watchdog_ = w; }
  Watchdog* watchdog() const { return watchdog_; }
  void set_step(int64_t step) { step_ = step; }
  int64_t step() const { return step_; }
  // Names the next collective for the watchdog (e.g. "allreduce bucket 3"); used once.
  void name_next(std::string name) { next_name_ = std::move(name); }

 protected:
  // Backends call this at the start of each collective: applies the test stall hook, then
  // returns the watchdog guard (empty without a watchdog) named `op` or the name_next() label.
  Watchdog::Guard begin(const char* op);

 private:
  Watchdog* watchdog_ = nullptr;
  int64_t step_ = 0;
  std::string next_name_;
  // Test-only hook (documented in docs and tests): the rank given by GREC_TEST_STALL_RANK sleeps
  // GREC_TEST_STALL_SECONDS before its first collective, to prove the watchdog aborts the job.
  int stall_rank_ = -1;
  double stall_seconds_ = 0.0;
};

// MPI for a CPU device, NCCL for a CUDA device (when built with CUDA). Without MPI initialised
// (no MpiEnv in this process) the MPI backend is a world of one.
std::unique_ptr<Communicator> make_communicator(torch::Device device);

}  // namespace grec::dist
