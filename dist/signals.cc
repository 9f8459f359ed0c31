// Signal handlers. A signal handler can only reach process-wide state, so the flag is the one
// global here; the handler does nothing but store into a lock-free atomic (async-signal-safe).
#include "dist/signals.h"

#include <atomic>

#include "core/error.h"
#include "dist/communicator.h"

namespace grec::dist {
namespace {

std::atomic<int> g_stop_signal{0};  // the signal number, 0 when none
static_assert(std::atomic<int>::is_always_lock_free, "signal flag must be lock-free");

extern "C" void grec_stop_handler(int sig) { g_stop_signal.store(sig, std::memory_order_relaxed); }

}  // namespace

StopSignal::StopSignal() {
  struct sigaction sa {};
  sa.sa_handler = grec_stop_handler;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  GREC_CHECK(sigaction(SIGTERM, &sa, &old_term_) == 0, "sigaction(SIGTERM) failed");
  GREC_CHECK(sigaction(SIGINT, &sa, &old_int_) == 0, "sigaction(SIGINT) failed");
}

StopSignal::~StopSignal() {
  sigaction(SIGTERM, &old_term_, nullptr);
  sigaction(SIGINT, &old_int_, nullptr);
}

bool StopSignal::local() const { return g_stop_signal.load(std::memory_order_relaxed) != 0; }

int StopSignal::signal_number() const { return g_stop_signal.load(std::memory_order_relaxed); }

void StopSignal::reset() { g_stop_signal.store(0, std::memory_order_relaxed); }

bool StopSignal::agreed(Communicator& comm) const {
  torch::Tensor flag = torch::full({1}, local() ? 1 : 0, torch::TensorOptions()
                                                              .dtype(torch::kInt)
                                                              .device(comm.device()));
  comm.name_next("allreduce stop flag");
  comm.allreduce(flag, ReduceOp::kMax);
  return flag.cpu().item<int>() != 0;
}

}  // namespace grec::dist
