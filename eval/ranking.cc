// Full-ranking evaluation (see ranking.h).
#include "eval/ranking.h"

#include <functional>

#include <limits>

#include "core/error.h"
#include "dist/communicator.h"

namespace grec::eval {

std::vector<int64_t> target_ranks(const torch::Tensor& scores,
                                  const std::vector<const RankingCase*>& cases, bool mask_history) {
  GREC_CHECK(scores.dim() == 2 && scores.size(0) == static_cast<int64_t>(cases.size()),
             "scores must be [{} cases, items]", cases.size());
  const int64_t num_items = scores.size(1);
  torch::Tensor s = scores.detach().to(torch::kFloat).contiguous();
  // NaN compares false with everything and +-inf ties with itself: a broken model would rank its
  // targets anywhere but where it deserves. Such a score is a bug, reported with its case.
  const torch::Tensor finite = torch::isfinite(s).all(1);
  if (!finite.all().item<bool>()) {
    const int64_t b = torch::logical_not(finite).nonzero()[0][0].item<int64_t>();
    throw Error(fmt::format("the model scored an item NaN or +-inf for evaluation case {} (user {}, "
                            "target item {}): refusing to rank it", b, cases[b]->user,
                            cases[b]->target));
  }
  if (mask_history) s = s.clone();
  std::vector<int64_t> targets(cases.size());
  for (size_t b = 0; b < cases.size(); ++b) {
    targets[b] = cases[b]->target;
    GREC_CHECK(targets[b] >= 0 && targets[b] < num_items, "target item {} outside [0, {})",
               targets[b], num_items);
    if (!mask_history) continue;
    float* row = s.data_ptr<float>() + b * num_items;
    for (int64_t item : cases[b]->history) {
      GREC_CHECK(item >= 0 && item < num_items, "history item {} outside [0, {})", item, num_items);
      if (item != targets[b]) row[item] = -std::numeric_limits<float>::infinity();
    }
  }
  torch::Tensor t = torch::tensor(targets, torch::kLong);
  torch::Tensor target_score = s.gather(1, t.unsqueeze(1));          // [B, 1]
  // Every other item scoring at least as high as the target ranks above it: ties count against
  // the target (minus 1: the target ties with itself).
  torch::Tensor higher = (s >= target_score).sum(1) - 1;
  std::vector<int64_t> ranks(cases.size());
  auto acc = higher.accessor<int64_t, 1>();
  for (size_t b = 0; b < cases.size(); ++b) ranks[b] = 1 + acc[b];
  return ranks;
}

namespace {

// Calls fn(case index, 1-based rank) for this rank's shard (cases r, r + world, ...), scoring
// options.batch_size cases at a time.
void for_each_shard_rank(const std::vector<RankingCase>& cases, const Scorer& scorer,
                         const RankingOptions& options, int rank, int world,
                         const std::function<void(size_t, int64_t)>& fn) {
  GREC_CHECK(world >= 1 && rank >= 0 && rank < world, "bad rank {} of world {}", rank, world);
  GREC_CHECK(options.batch_size >= 1, "ranking batch size must be >= 1");
  std::vector<const RankingCase*> batch;
  std::vector<size_t> where;
  auto flush = [&] {
    if (batch.empty()) return;
    torch::Tensor scores;
    {
      torch::NoGradGuard no_grad;
      scores = scorer(batch);
    }
    const std::vector<int64_t> ranks = target_ranks(scores, batch, options.mask_history);
    for (size_t j = 0; j < ranks.size(); ++j) fn(where[j], ranks[j]);
    batch.clear();
    where.clear();
  };
  for (size_t i = rank; i < cases.size(); i += world) {
    batch.push_back(&cases[i]);
    where.push_back(i);
    if (static_cast<int64_t>(batch.size()) == options.batch_size) flush();
  }
  flush();
}

}  // namespace

MetricSums rank_shard(const std::vector<RankingCase>& cases, const Scorer& scorer,
                      const RankingOptions& options, int rank, int world) {
  MetricSums sums(options.ks);
  for_each_shard_rank(cases, scorer, options, rank, world, [&](size_t, int64_t r) { sums.add(r); });
  return sums;
}

std::vector<int64_t> case_ranks(const std::vector<RankingCase>& cases, const Scorer& scorer,
                                const RankingOptions& options, dist::Communicator* comm) {
  const int rank = comm ? comm->rank() : 0;
  const int world = comm ? comm->world() : 1;
  // Each position is filled by exactly one rank; a sum over ranks assembles the vector (ranks
  // are small integers, exact in double).
  std::vector<double> mine(cases.size(), 0.0);
  for_each_shard_rank(cases, scorer, options, rank, world,
                      [&](size_t i, int64_t r) { mine[i] = static_cast<double>(r); });
  if (comm && world > 1 && !mine.empty()) {
    torch::Tensor t = torch::tensor(mine, torch::kDouble).to(comm->device());
    comm->allreduce(t, dist::ReduceOp::kSum);
    t = t.cpu();
    mine.assign(t.data_ptr<double>(), t.data_ptr<double>() + t.numel());
  }
  return std::vector<int64_t>(mine.begin(), mine.end());
}

nlohmann::json metrics_from_ranks(const std::vector<int64_t>& ranks, const RankingOptions& options) {
  MetricSums sums(options.ks);
  for (int64_t r : ranks) sums.add(r);
  nlohmann::json j = sums.result();
  j["mask_history"] = options.mask_history;
  return j;
}

MetricSums allreduce_sums(const MetricSums& local, dist::Communicator* comm) {
  if (!comm || comm->world() == 1) return local;
  std::vector<double> v = local.to_vector();
  torch::Tensor t = torch::tensor(v, torch::kDouble).to(comm->device());
  comm->allreduce(t, dist::ReduceOp::kSum);
  t = t.cpu();
  std::vector<double> summed(t.data_ptr<double>(), t.data_ptr<double>() + t.numel());
  return MetricSums::from_vector(local.ks(), summed);
}

nlohmann::json full_ranking(const std::vector<RankingCase>& cases, const Scorer& scorer,
                            const RankingOptions& options, dist::Communicator* comm) {
  const int rank = comm ? comm->rank() : 0;
  const int world = comm ? comm->world() : 1;
  const MetricSums total = allreduce_sums(rank_shard(cases, scorer, options, rank, world), comm);
  nlohmann::json j = total.result();
  j["mask_history"] = options.mask_history;
  return j;
}

}  // namespace grec::eval
