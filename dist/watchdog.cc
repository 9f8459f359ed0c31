// Watchdog thread: sleeps until the earliest guard deadline (or a change), then fires stale guards.
#include "dist/watchdog.h"

#include <fmt/format.h>

#include <vector>

#include "core/log.h"
#include "dist/mpi_env.h"

namespace grec::dist {

Watchdog::Guard& Watchdog::Guard::operator=(Guard&& o) noexcept {
  if (this != &o) {
    release();
    owner_ = o.owner_;
    id_ = o.id_;
    o.owner_ = nullptr;
  }
  return *this;
}

void Watchdog::Guard::release() {
  if (owner_ != nullptr) owner_->leave(id_);
  owner_ = nullptr;
}

Watchdog::Watchdog(double timeout_s, OnTimeout on_timeout)
    : timeout_s_(timeout_s), on_timeout_(std::move(on_timeout)) {
  if (!on_timeout_) {
    on_timeout_ = [](const std::string& message) {
      GREC_ERROR("{}", message);
      spdlog::default_logger()->flush();
      MpiEnv::abort(kExitCode);
    };
  }
  thread_ = std::thread([this] { run(); });
}

Watchdog::~Watchdog() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

Watchdog::Guard Watchdog::enter(std::string collective, int64_t step) {
  uint64_t id = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    id = next_id_++;
    active_[id] = Entry{std::move(collective), step, Clock::now(), false};
  }
  cv_.notify_all();
  return Guard(this, id);
}

void Watchdog::leave(uint64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  active_.erase(id);
}

int64_t Watchdog::fired() const {
  std::lock_guard<std::mutex> lock(mu_);
  return fired_;
}

void Watchdog::run() {
  const auto timeout = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(timeout_s_));
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    const auto now = Clock::now();
    std::vector<std::string> messages;
    auto next_deadline = Clock::time_point::max();
    for (auto& [id, e] : active_) {
      if (e.fired) continue;
      const auto deadline = e.start + timeout;
      if (deadline <= now) {
        e.fired = true;
        ++fired_;
        const double waited = std::chrono::duration<double>(now - e.start).count();
        messages.push_back(fmt::format(
            "collective '{}' at step {} waited {:.1f} s > dist.timeout_s ({:.1f} s); aborting",
            e.name, e.step, waited, timeout_s_));
      } else if (deadline < next_deadline) {
        next_deadline = deadline;
      }
    }
    if (!messages.empty()) {
      // The callback may abort the process; call it without holding the lock.
      lock.unlock();
      for (const auto& m : messages) on_timeout_(m);
      lock.lock();
      continue;
    }
    if (next_deadline == Clock::time_point::max()) {
      cv_.wait(lock);
    } else {
      cv_.wait_until(lock, next_deadline);
    }
  }
}

}  // namespace grec::dist
