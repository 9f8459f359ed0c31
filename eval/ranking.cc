// Full-ranking evaluation (see ranking.h).
#include "eval/ranking.h"

#include <algorithm>
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

bool has_several_held_out(const std::vector<RankingCase>& cases) {
  for (const RankingCase& c : cases) {
    if (c.held_out.size() > 1) return true;
  }
  return false;
}

std::vector<std::vector<int64_t>> held_out_ranks(const torch::Tensor& scores,
                                                 const std::vector<const RankingCase*>& cases,
                                                 bool mask_history) {
  GREC_CHECK(scores.dim() == 2 && scores.size(0) == static_cast<int64_t>(cases.size()),
             "scores must be [{} cases, items]", cases.size());
  const int64_t num_items = scores.size(1);
  torch::Tensor s = scores.detach().to(torch::kFloat).contiguous();
  if (!torch::isfinite(s).all().item<bool>()) {
    throw Error("the model scored an item NaN or +-inf in evaluation: refusing to rank it");
  }
  if (mask_history) s = s.clone();
  std::vector<std::vector<int64_t>> out(cases.size());
  for (size_t b = 0; b < cases.size(); ++b) {
    std::vector<int64_t> items = cases[b]->held_out;
    if (items.empty()) items = {cases[b]->target};
    for (int64_t item : items) {
      GREC_CHECK(item >= 0 && item < num_items, "held-out item {} outside [0, {})", item, num_items);
    }
    torch::Tensor row = s[static_cast<int64_t>(b)];
    if (mask_history) {
      float* p = row.data_ptr<float>();
      for (int64_t item : cases[b]->history) {
        GREC_CHECK(item >= 0 && item < num_items, "history item {} outside [0, {})", item, num_items);
        if (std::find(items.begin(), items.end(), item) == items.end()) {
          p[item] = -std::numeric_limits<float>::infinity();
        }
      }
    }
    torch::Tensor idx = torch::tensor(items, torch::kLong);
    torch::Tensor own = row.index_select(0, idx).unsqueeze(1);           // [H, 1]
    torch::Tensor at_least = (row.unsqueeze(0) >= own).sum(1);          // [H], counts itself
    auto acc = at_least.accessor<int64_t, 1>();
    for (int64_t h = 0; h < idx.size(0); ++h) out[b].push_back(acc[h]);  // 1 + others
  }
  return out;
}

namespace {

// Calls fn(case index, 1-based rank, held-out ranks) for this rank's shard (cases r, r + world,
// ...), scoring options.batch_size cases at a time. The held-out ranks are computed only when
// `with_held_out` (else the vector is empty).
void for_each_shard_rank(const std::vector<RankingCase>& cases, const Scorer& scorer,
                         const RankingOptions& options, int rank, int world, bool with_held_out,
                         const std::function<void(size_t, int64_t, const std::vector<int64_t>&)>& fn) {
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
    std::vector<std::vector<int64_t>> held(batch.size());
    if (with_held_out) held = held_out_ranks(scores, batch, options.mask_history);
    for (size_t j = 0; j < ranks.size(); ++j) fn(where[j], ranks[j], held[j]);
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
  for_each_shard_rank(cases, scorer, options, rank, world, false,
                      [&](size_t, int64_t r, const std::vector<int64_t>&) { sums.add(r); });
  return sums;
}

namespace {

// Sums `mine` over ranks (each position filled by one rank; small integers, exact in double).
void sum_over_ranks(std::vector<double>& mine, dist::Communicator* comm) {
  if (!comm || comm->world() == 1 || mine.empty()) return;
  torch::Tensor t = torch::tensor(mine, torch::kDouble).to(comm->device());
  comm->allreduce(t, dist::ReduceOp::kSum);
  t = t.cpu();
  mine.assign(t.data_ptr<double>(), t.data_ptr<double>() + t.numel());
}

}  // namespace

std::vector<int64_t> case_ranks(const std::vector<RankingCase>& cases, const Scorer& scorer,
                                const RankingOptions& options, dist::Communicator* comm,
                                std::vector<std::vector<int64_t>>* held_out) {
  const int rank = comm ? comm->rank() : 0;
  const int world = comm ? comm->world() : 1;
  // Each position is filled by exactly one rank; a sum over ranks assembles the vector.
  std::vector<double> mine(cases.size(), 0.0);
  std::vector<size_t> offset(cases.size() + 1, 0);
  for (size_t i = 0; i < cases.size(); ++i) {
    offset[i + 1] = offset[i] + std::max<size_t>(1, cases[i].held_out.size());
  }
  std::vector<double> held(held_out ? offset.back() : 0, 0.0);
  for_each_shard_rank(cases, scorer, options, rank, world, held_out != nullptr,
                      [&](size_t i, int64_t r, const std::vector<int64_t>& h) {
                        mine[i] = static_cast<double>(r);
                        for (size_t j = 0; j < h.size(); ++j) held[offset[i] + j] = double(h[j]);
                      });
  sum_over_ranks(mine, comm);
  if (held_out) {
    sum_over_ranks(held, comm);
    held_out->assign(cases.size(), {});
    for (size_t i = 0; i < cases.size(); ++i) {
      (*held_out)[i].assign(held.begin() + offset[i], held.begin() + offset[i + 1]);
    }
  }
  return std::vector<int64_t>(mine.begin(), mine.end());
}

nlohmann::json metrics_from_ranks(const std::vector<int64_t>& ranks, const RankingOptions& options,
                                  const std::vector<std::vector<int64_t>>* held_out) {
  MetricSums sums(options.ks);
  for (int64_t r : ranks) sums.add(r);
  nlohmann::json j = sums.result();
  j["mask_history"] = options.mask_history;
  if (held_out) {
    GREC_CHECK(held_out->size() == ranks.size(), "{} held-out rank lists for {} cases",
               held_out->size(), ranks.size());
    bool several = false;
    for (const auto& h : *held_out) several = several || h.size() > 1;
    if (several) {
      HeldOutSums held(options.ks);
      for (const auto& h : *held_out) held.add(h);
      j["held_out"] = held.result();
    }
  }
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

HeldOutSums allreduce_held_out(const HeldOutSums& local, dist::Communicator* comm) {
  if (!comm || comm->world() == 1) return local;
  std::vector<double> v = local.to_vector();
  sum_over_ranks(v, comm);
  return HeldOutSums::from_vector(local.ks(), v);
}

nlohmann::json full_ranking(const std::vector<RankingCase>& cases, const Scorer& scorer,
                            const RankingOptions& options, dist::Communicator* comm) {
  const int rank = comm ? comm->rank() : 0;
  const int world = comm ? comm->world() : 1;
  const bool several = has_several_held_out(cases);
  MetricSums sums(options.ks);
  HeldOutSums held(options.ks);
  for_each_shard_rank(cases, scorer, options, rank, world, several,
                      [&](size_t, int64_t r, const std::vector<int64_t>& h) {
                        sums.add(r);
                        if (several) held.add(h);
                      });
  nlohmann::json j = allreduce_sums(sums, comm).result();
  j["mask_history"] = options.mask_history;
  if (several) j["held_out"] = allreduce_held_out(held, comm).result();
  return j;
}

}  // namespace grec::eval
