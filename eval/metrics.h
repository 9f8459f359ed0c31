// Top-K ranking metrics from the 1-based rank of the held-out item (leave-one-out, one target per
// user): HR@K = [rank <= K]; NDCG@K = 1 / log2(rank + 1) when rank <= K, else 0 (one relevant
// item, so the ideal DCG is 1); MRR = 1 / rank (no cut-off). A K larger than the item count is
// allowed: every rank is then inside the cut-off.
#pragma once

#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

namespace grec::eval {

double hit_at(int64_t rank, int64_t k);
double ndcg_at(int64_t rank, int64_t k);
double reciprocal_rank(int64_t rank);

// Sums of the metrics over users; sums (not means) so shards can be added before dividing.
class MetricSums {
 public:
  explicit MetricSums(std::vector<int64_t> ks);
  void add(int64_t rank);
  void merge(const MetricSums& other);

  // Flat layout for collectives: [count, sum RR, sum HR@k..., sum NDCG@k...].
  std::vector<double> to_vector() const;
  static MetricSums from_vector(std::vector<int64_t> ks, const std::vector<double>& values);

  double count() const { return count_; }
  const std::vector<int64_t>& ks() const { return ks_; }
  // Means: {"HR@10": .., "NDCG@10": .., ..., "MRR": .., "users": n}; metrics are 0 when empty.
  nlohmann::json result() const;

 private:
  std::vector<int64_t> ks_;
  double count_ = 0, rr_ = 0;
  std::vector<double> hr_, ndcg_;
};

// Set metrics of a split that holds several items per user (presplit data: DEALRec, BIGRec),
// averaged over users: Recall@K = |{h in H : rank(h) <= K}| / |H| and
// NDCG@K = sum over h in H with rank(h) <= K of 1 / log2(rank(h) + 1), divided by the ideal
// sum over i = 1..min(K, |H|) of 1 / log2(i + 1). With one held-out item they equal HR@K and
// NDCG@K above.
class HeldOutSums {
 public:
  explicit HeldOutSums(std::vector<int64_t> ks);
  // The 1-based rank of every held-out item of one user; 0 = not ranked (beyond every K).
  void add(const std::vector<int64_t>& ranks);
  std::vector<double> to_vector() const;  // [users, items, sum Recall@k..., sum NDCG@k...]
  static HeldOutSums from_vector(std::vector<int64_t> ks, const std::vector<double>& values);
  const std::vector<int64_t>& ks() const { return ks_; }
  // {"Recall@10": .., "NDCG@10": .., "users": n, "items_per_user": mean |H|}.
  nlohmann::json result() const;

 private:
  std::vector<int64_t> ks_;
  double users_ = 0, items_ = 0;
  std::vector<double> recall_, ndcg_;
};

}  // namespace grec::eval
