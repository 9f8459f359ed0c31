// Ranking metrics (see metrics.h).
#include "eval/metrics.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.h"

namespace grec::eval {

double hit_at(int64_t rank, int64_t k) {
  GREC_CHECK(rank >= 1 && k >= 1, "rank {} and k {} must be >= 1", rank, k);
  return rank <= k ? 1.0 : 0.0;
}

double ndcg_at(int64_t rank, int64_t k) {
  GREC_CHECK(rank >= 1 && k >= 1, "rank {} and k {} must be >= 1", rank, k);
  return rank <= k ? 1.0 / std::log2(double(rank) + 1.0) : 0.0;
}

double reciprocal_rank(int64_t rank) {
  GREC_CHECK(rank >= 1, "rank {} must be >= 1", rank);
  return 1.0 / double(rank);
}

MetricSums::MetricSums(std::vector<int64_t> ks)
    : ks_(std::move(ks)), hr_(ks_.size(), 0.0), ndcg_(ks_.size(), 0.0) {
  for (int64_t k : ks_) GREC_CHECK(k >= 1, "metric cut-off K must be >= 1, got {}", k);
}

void MetricSums::add(int64_t rank) {
  count_ += 1;
  rr_ += reciprocal_rank(rank);
  for (size_t i = 0; i < ks_.size(); ++i) {
    hr_[i] += hit_at(rank, ks_[i]);
    ndcg_[i] += ndcg_at(rank, ks_[i]);
  }
}

void MetricSums::merge(const MetricSums& other) {
  GREC_CHECK(other.ks_ == ks_, "merging metric sums with different cut-offs");
  count_ += other.count_;
  rr_ += other.rr_;
  for (size_t i = 0; i < ks_.size(); ++i) {
    hr_[i] += other.hr_[i];
    ndcg_[i] += other.ndcg_[i];
  }
}

std::vector<double> MetricSums::to_vector() const {
  std::vector<double> v = {count_, rr_};
  v.insert(v.end(), hr_.begin(), hr_.end());
  v.insert(v.end(), ndcg_.begin(), ndcg_.end());
  return v;
}

MetricSums MetricSums::from_vector(std::vector<int64_t> ks, const std::vector<double>& values) {
  MetricSums m(std::move(ks));
  const size_t n = m.ks_.size();
  GREC_CHECK(values.size() == 2 + 2 * n, "metric vector has {} values, expected {}", values.size(),
             2 + 2 * n);
  m.count_ = values[0];
  m.rr_ = values[1];
  for (size_t i = 0; i < n; ++i) {
    m.hr_[i] = values[2 + i];
    m.ndcg_[i] = values[2 + n + i];
  }
  return m;
}

nlohmann::json MetricSums::result() const {
  nlohmann::json j = nlohmann::json::object();
  const double denom = count_ > 0 ? count_ : 1.0;
  for (size_t i = 0; i < ks_.size(); ++i) {
    j["HR@" + std::to_string(ks_[i])] = hr_[i] / denom;
    j["NDCG@" + std::to_string(ks_[i])] = ndcg_[i] / denom;
  }
  j["MRR"] = rr_ / denom;
  j["users"] = static_cast<int64_t>(count_);
  return j;
}

HeldOutSums::HeldOutSums(std::vector<int64_t> ks)
    : ks_(std::move(ks)), recall_(ks_.size(), 0.0), ndcg_(ks_.size(), 0.0) {
  for (int64_t k : ks_) GREC_CHECK(k >= 1, "metric cut-off K must be >= 1, got {}", k);
}

void HeldOutSums::add(const std::vector<int64_t>& ranks) {
  GREC_CHECK(!ranks.empty(), "a user without held-out items");
  const double n = double(ranks.size());
  users_ += 1;
  items_ += n;
  for (size_t i = 0; i < ks_.size(); ++i) {
    const int64_t k = ks_[i];
    double hits = 0, dcg = 0, ideal = 0;
    for (int64_t r : ranks) {
      GREC_CHECK(r >= 0, "held-out rank {} must be >= 1 (or 0 for a miss)", r);
      if (r >= 1 && r <= k) {
        hits += 1;
        dcg += 1.0 / std::log2(double(r) + 1.0);
      }
    }
    for (int64_t j = 1; j <= std::min<int64_t>(k, static_cast<int64_t>(ranks.size())); ++j) {
      ideal += 1.0 / std::log2(double(j) + 1.0);
    }
    recall_[i] += hits / n;
    ndcg_[i] += dcg / ideal;
  }
}

std::vector<double> HeldOutSums::to_vector() const {
  std::vector<double> v = {users_, items_};
  v.insert(v.end(), recall_.begin(), recall_.end());
  v.insert(v.end(), ndcg_.begin(), ndcg_.end());
  return v;
}

HeldOutSums HeldOutSums::from_vector(std::vector<int64_t> ks, const std::vector<double>& values) {
  HeldOutSums m(std::move(ks));
  const size_t n = m.ks_.size();
  GREC_CHECK(values.size() == 2 + 2 * n, "held-out metric vector has {} values, expected {}",
             values.size(), 2 + 2 * n);
  m.users_ = values[0];
  m.items_ = values[1];
  for (size_t i = 0; i < n; ++i) {
    m.recall_[i] = values[2 + i];
    m.ndcg_[i] = values[2 + n + i];
  }
  return m;
}

nlohmann::json HeldOutSums::result() const {
  nlohmann::json j = nlohmann::json::object();
  const double denom = users_ > 0 ? users_ : 1.0;
  for (size_t i = 0; i < ks_.size(); ++i) {
    j["Recall@" + std::to_string(ks_[i])] = recall_[i] / denom;
    j["NDCG@" + std::to_string(ks_[i])] = ndcg_[i] / denom;
  }
  j["users"] = static_cast<int64_t>(users_);
  j["items_per_user"] = items_ / denom;
  return j;
}

}  // namespace grec::eval
