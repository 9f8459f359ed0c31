// Watchdog for collectives: one background thread watches scoped guards ("allreduce bucket 3" at
// step 120) and, when one lives longer than the timeout, logs which collective stalled and aborts
// the whole job, so a stalled or dead peer never leaves a cluster job hanging until its wall limit.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>

namespace grec::dist {

class Watchdog {
 public:
  // Exit code of a job aborted by the watchdog.
  static constexpr int kExitCode = 4;
  // Called with the log line when a guard times out. The default logs and calls MPI_Abort; unit
  // tests pass their own to observe the firing in-process.
  using OnTimeout = std::function<void(const std::string& message)>;

  explicit Watchdog(double timeout_s, OnTimeout on_timeout = {});
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  // RAII registration of one collective; movable, empty when default-constructed.
  class Guard {
   public:
    Guard() = default;
    Guard(Guard&& o) noexcept : owner_(o.owner_), id_(o.id_) { o.owner_ = nullptr; }
    Guard& operator=(Guard&& o) noexcept;
    Guard(const Guard&) = delete;
    Guard& operator=(const Guard&) = delete;
    ~Guard() { release(); }
    void release();

   private:
    friend class Watchdog;
    Guard(Watchdog* owner, uint64_t id) : owner_(owner), id_(id) {}
    Watchdog* owner_ = nullptr;
    uint64_t id_ = 0;
  };

  Guard enter(std::string collective, int64_t step);
  double timeout_s() const { return timeout_s_; }
  // Number of guards that timed out so far (each fires once).
  int64_t fired() const;

 private:
  using Clock = std::chrono::steady_clock;
  struct Entry {
    std::string name;
    int64_t step = 0;
    Clock::time_point start;
    bool fired = false;
  };
  void leave(uint64_t id);
  void run();

  double timeout_s_;
  OnTimeout on_timeout_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<uint64_t, Entry> active_;
  uint64_t next_id_ = 1;
  int64_t fired_ = 0;
  bool stop_ = false;
  std::thread thread_;  // last: starts after every other member is ready
};

}  // namespace grec::dist
