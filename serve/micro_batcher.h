// Micro-batching in front of a Recommender: HTTP threads submit one query each and wait on a
// future; one worker thread takes up to max_batch queued queries (waiting at most max_wait_ms
// after the oldest arrived for more to come), calls Recommender::recommend once for all of them
// and fulfils every future. The recommender is therefore only ever called from one thread.
//
// A recommend() that throws fails every query of that batch (the futures rethrow a
// BatchFailed, HTTP 500) and the worker goes on with the next batch. stop() refuses new
// queries (submit throws ShuttingDown, HTTP 503), answers everything already queued, and joins.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

#include "serve/recommender.h"

namespace grec::serve {

class ShuttingDown : public std::runtime_error {
 public:
  ShuttingDown() : std::runtime_error("the server is shutting down") {}
};

// recommend() threw (or broke its contract); what() says what happened.
class BatchFailed : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct MicroBatcherOptions {
  int64_t max_batch = 16;  // queries per recommend() call
  int64_t max_wait_ms = 5; // after the oldest queued query arrived; 0 = take what is queued
};

class MicroBatcher {
 public:
  // Called on the worker thread after each batch, with its size.
  using BatchObserver = std::function<void(size_t batch_size)>;

  MicroBatcher(Recommender& recommender, MicroBatcherOptions options, BatchObserver observer = {});
  ~MicroBatcher();  // stop()
  MicroBatcher(const MicroBatcher&) = delete;
  MicroBatcher& operator=(const MicroBatcher&) = delete;

  // Queues a query; the future yields its answer (or rethrows BatchFailed). Throws ShuttingDown
  // after stop() began.
  std::future<Answer> submit(Query query);
  // Idempotent; returns once every queued query is answered and the worker has exited.
  void stop();

  size_t queue_depth() const;
  int64_t batches() const;          // recommend() calls so far
  int64_t largest_batch() const;

 private:
  struct Pending {
    Query query;
    std::promise<Answer> promise;
    std::chrono::steady_clock::time_point arrived;
  };

  void work();
  void run_batch(std::deque<Pending>& batch);

  Recommender& recommender_;
  MicroBatcherOptions options_;
  BatchObserver observer_;

  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Pending> queue_;
  bool stopping_ = false;
  int64_t batches_ = 0;
  int64_t largest_batch_ = 0;

  std::mutex join_mutex_;
  std::thread worker_;
};

}  // namespace grec::serve
