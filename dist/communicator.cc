// Shared Communicator parts and the backend factory.
#include "dist/communicator.h"

#include <chrono>
#include <cstdlib>
#include <thread>

#include "core/error.h"
#include "core/log.h"
#include "dist/mpi_communicator.h"
#ifdef GREC_WITH_CUDA
#include "dist/nccl_communicator.h"
#endif

namespace grec::dist {

const char* reduce_op_name(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum: return "sum";
    case ReduceOp::kAvg: return "avg";
    case ReduceOp::kMax: return "max";
    case ReduceOp::kMin: return "min";
  }
  return "?";
}

Communicator::Communicator() {
  // Read once: the hook is for tests only and must not change during a run.
  if (const char* r = std::getenv("GREC_TEST_STALL_RANK")) {
    stall_rank_ = std::atoi(r);
    const char* s = std::getenv("GREC_TEST_STALL_SECONDS");
    stall_seconds_ = s ? std::atof(s) : 0.0;
  }
}

Watchdog::Guard Communicator::begin(const char* op) {
  if (stall_rank_ >= 0 && stall_rank_ == rank() && stall_seconds_ > 0) {
    GREC_WARN("test hook GREC_TEST_STALL_RANK: rank {} sleeps {:.1f} s before '{}'", rank(),
              stall_seconds_, op);
    std::this_thread::sleep_for(std::chrono::duration<double>(stall_seconds_));
    stall_rank_ = -1;  // stall once
  }
  std::string name = next_name_.empty() ? std::string(op) : std::move(next_name_);
  next_name_.clear();
  if (watchdog_ == nullptr) return {};
  return watchdog_->enter(std::move(name), step_);
}

std::unique_ptr<Communicator> make_communicator(torch::Device device) {
  if (device.is_cpu()) return std::make_unique<MpiCommunicator>();
  if (device.is_cuda()) {
#ifdef GREC_WITH_CUDA
    return std::make_unique<NcclCommunicator>(device.has_index() ? device.index() : 0);
#else
    user_error("device '{}' needs the NCCL backend, but grec was built without CUDA "
               "(configure with -DGREC_WITH_CUDA=ON)", device.str());
#endif
  }
  user_error("no communicator backend for device '{}' (use cpu or cuda)", device.str());
}

}  // namespace grec::dist
