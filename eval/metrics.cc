// Ranking metrics (see metrics.h).
#include "eval/metrics.h"

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

}  // namespace grec::eval
