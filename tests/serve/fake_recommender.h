// FakeRecommender: a deterministic serve::Recommender for the server tests. Items are the raw ids
// "0".."num_items-1" (title "item N"); an answer is a function of (model, known history,
// exclude_history, k) only, so it does not depend on batching. It records the size of every
// batch it is called with, can sleep per call, and throws when a history holds "boom".
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "serve/recommender.h"

namespace grec::test {

class FakeRecommender : public serve::Recommender {
 public:
  explicit FakeRecommender(std::vector<std::string> models = {"llm", "student"},
                           int64_t num_items = 100, int64_t llm_max_k = 20)
      : models_(std::move(models)), num_items_(num_items), llm_max_k_(llm_max_k) {}

  std::vector<std::string> models() const override { return models_; }
  int64_t max_k(const std::string& model) const override {
    return model == "llm" ? llm_max_k_ : num_items_;
  }

  std::vector<serve::Answer> recommend(const std::vector<serve::Query>& queries) override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      batch_sizes_.push_back(queries.size());
    }
    calls_started_ += 1;
    if (sleep_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(sleep_ms.load()));
    std::vector<serve::Answer> answers;
    for (const auto& q : queries) {
      if (std::find(q.history.begin(), q.history.end(), "boom") != q.history.end()) {
        throw std::runtime_error("fake model exploded");
      }
      answers.push_back(answer(q));
    }
    calls_done_ += 1;
    return answers;
  }

  // What recommend() answers for `q`, independent of any batch.
  serve::Answer answer(const serve::Query& q) const {
    serve::Answer a;
    std::vector<int64_t> known;
    for (const auto& id : q.history) {
      const int64_t item = item_of(id);
      if (item < 0) {
        a.warnings.push_back("unknown item id '" + id + "' skipped");
      } else {
        known.push_back(item);
      }
    }
    if (known.empty()) {
      a.error = "none of the history's item ids is known to the model";
      return a;
    }
    uint64_t h = 1469598103934665603ull;  // FNV-1a over model and known items
    auto mix = [&](uint64_t v) {
      h ^= v;
      h *= 1099511628211ull;
    };
    for (char c : q.model) mix(static_cast<unsigned char>(c));
    for (auto item : known) mix(static_cast<uint64_t>(item) + 7);
    const std::set<int64_t> seen(known.begin(), known.end());
    const auto n = static_cast<uint64_t>(num_items_);
    for (uint64_t r = 0; r < n && static_cast<int64_t>(a.items.size()) < q.k; ++r) {
      const auto item = static_cast<int64_t>((h + r * 37) % n);  // distinct: 37 is coprime to 100
      if (q.exclude_history && seen.count(item)) continue;
      serve::RecommendedItem it;
      it.item = item;
      it.id = std::to_string(item);
      it.title = "item " + it.id;
      it.score = -static_cast<double>(r) - 0.25;
      a.items.push_back(it);
    }
    return a;
  }

  std::vector<size_t> batch_sizes() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return batch_sizes_;
  }
  size_t largest_batch() const {
    const auto b = batch_sizes();
    return b.empty() ? 0 : *std::max_element(b.begin(), b.end());
  }
  int calls_started() const { return calls_started_.load(); }

  std::atomic<int> sleep_ms{0};

 private:
  int64_t item_of(const std::string& id) const {
    if (id.empty() || id.size() > 9 || id.find_first_not_of("0123456789") != std::string::npos) {
      return -1;
    }
    const int64_t v = std::stoll(id);
    return v < num_items_ ? v : -1;
  }

  std::vector<std::string> models_;
  int64_t num_items_;
  int64_t llm_max_k_;
  mutable std::mutex mutex_;
  std::vector<size_t> batch_sizes_;
  std::atomic<int> calls_started_{0};
  std::atomic<int> calls_done_{0};
};

}  // namespace grec::test
