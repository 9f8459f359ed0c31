// The micro-batching queue and its worker thread (serve/micro_batcher.h).
#include "serve/micro_batcher.h"

#include <algorithm>
#include <exception>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "core/log.h"

namespace grec::serve {

using Clock = std::chrono::steady_clock;

MicroBatcher::MicroBatcher(Recommender& recommender, MicroBatcherOptions options,
                           BatchObserver observer)
    : recommender_(recommender), options_(options), observer_(std::move(observer)) {
  options_.max_batch = std::max<int64_t>(1, options_.max_batch);
  options_.max_wait_ms = std::max<int64_t>(0, options_.max_wait_ms);
  worker_ = std::thread([this] { work(); });
}

MicroBatcher::~MicroBatcher() { stop(); }

std::future<Answer> MicroBatcher::submit(Query query) {
  Pending p{std::move(query), std::promise<Answer>(), Clock::now()};
  auto future = p.promise.get_future();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) throw ShuttingDown();
    queue_.push_back(std::move(p));
  }
  cv_.notify_one();
  return future;
}

void MicroBatcher::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  std::lock_guard<std::mutex> join_lock(join_mutex_);
  if (worker_.joinable()) worker_.join();
}

size_t MicroBatcher::queue_depth() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return queue_.size();
}

int64_t MicroBatcher::batches() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return batches_;
}

int64_t MicroBatcher::largest_batch() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return largest_batch_;
}

void MicroBatcher::work() {
  const auto max_batch = static_cast<size_t>(options_.max_batch);
  const auto max_wait = std::chrono::milliseconds(options_.max_wait_ms);
  for (;;) {
    std::deque<Pending> batch;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, nothing left
      // Give later queries until the oldest one's deadline to join; when stopping, every query
      // is already queued and waiting gains nothing.
      const auto deadline = queue_.front().arrived + max_wait;
      cv_.wait_until(lock, deadline, [&] { return stopping_ || queue_.size() >= max_batch; });
      const size_t n = std::min(max_batch, queue_.size());
      for (size_t i = 0; i < n; ++i) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    run_batch(batch);
  }
}

void MicroBatcher::run_batch(std::deque<Pending>& batch) {
  std::vector<Query> queries;
  queries.reserve(batch.size());
  for (auto& p : batch) queries.push_back(p.query);

  std::vector<Answer> answers;
  std::string failure;
  try {
    answers = recommender_.recommend(queries);
    if (answers.size() != queries.size()) {
      failure = fmt::format("the recommender returned {} answers for {} queries", answers.size(),
                            queries.size());
    }
  } catch (const std::exception& e) {
    failure = e.what();
  } catch (...) {
    failure = "unknown exception";
  }
  if (!failure.empty()) {
    GREC_ERROR("recommend() failed for a batch of {} quer{}: {}", batch.size(),
               batch.size() == 1 ? "y" : "ies", failure);
  }

  // Statistics before the answers, so a client that sees its answer also sees its batch counted.
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ++batches_;
    largest_batch_ = std::max<int64_t>(largest_batch_, static_cast<int64_t>(batch.size()));
  }
  if (observer_) {
    try {
      observer_(batch.size());
    } catch (const std::exception& e) {
      GREC_WARN("batch observer failed: {}", e.what());
    }
  }

  for (size_t i = 0; i < batch.size(); ++i) {
    if (failure.empty()) {
      batch[i].promise.set_value(std::move(answers[i]));
    } else {
      batch[i].promise.set_exception(
          std::make_exception_ptr(BatchFailed("the recommender failed: " + failure)));
    }
  }
}

}  // namespace grec::serve
