// Full-ranking evaluation (no sampled negatives): every item is scored for every user and the
// target's rank is 1 + the number of OTHER items scoring at least as high as it. Ties count against
// the target (the pessimistic rank): an all-equal score vector ranks the target last, and a model
// of integer scores (popularity counts) gets no credit from its ties. A non-finite score is an
// error (grec::Error naming the case), never a rank.
//
// With mask_history, the items of the user's own history are excluded (their scores set to -inf)
// before ranking — except the target itself, which is never masked (a repeat purchase stays
// rankable). Users are sharded over ranks (rank r takes cases r, r + W, ...) and the metric sums
// are added with one allreduce, so the result equals a single-process run.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "eval/metrics.h"

namespace grec::dist {
class Communicator;
}

namespace grec::eval {

struct RankingCase {
  std::vector<int64_t> history;  // item ids (0-based), chronological; the model's input
  int64_t target = 0;            // item id (0-based) to rank
  int64_t user = -1;             // the user the case belongs to (-1 when not from a dataset)
  // Every held-out item of the split (presplit data holds several), target first; empty = the
  // target alone. Ranked for the set metrics (eval::HeldOutSums) when some case has several.
  std::vector<int64_t> held_out;
};

// Whether some case holds more than one held-out item (then the set metrics are reported).
bool has_several_held_out(const std::vector<RankingCase>& cases);

struct RankingOptions {
  std::vector<int64_t> ks = {1, 5, 10, 20};
  bool mask_history = false;
  int64_t batch_size = 256;  // users scored at once
};

// Scores of every item for each case: [cases.size(), num_items], column j = item j.
using Scorer = std::function<torch::Tensor(const std::vector<const RankingCase*>& cases)>;

// 1-based ranks of the targets given the scores [B, I] of the B cases.
std::vector<int64_t> target_ranks(const torch::Tensor& scores,
                                  const std::vector<const RankingCase*>& cases, bool mask_history);

// The 1-based pessimistic rank of every held-out item of each case (the target alone when
// held_out is empty): 1 + the number of other items scoring at least as high. With mask_history
// the history items are excluded unless they are held out.
std::vector<std::vector<int64_t>> held_out_ranks(const torch::Tensor& scores,
                                                 const std::vector<const RankingCase*>& cases,
                                                 bool mask_history);

// The metric sums of this rank's shard (cases r, r + world, ...).
MetricSums rank_shard(const std::vector<RankingCase>& cases, const Scorer& scorer,
                      const RankingOptions& options, int rank, int world);

// Collective: the sums of every rank added (identical on every rank); `local` when comm is null.
MetricSums allreduce_sums(const MetricSums& local, dist::Communicator* comm);

// Collective: the set sums of every rank added.
HeldOutSums allreduce_held_out(const HeldOutSums& local, dist::Communicator* comm);

// Collective over `comm` (nullptr = single process): metric means over all cases, identical on
// every rank, plus "mask_history", plus "held_out" (HeldOutSums' result) when some case holds
// several held-out items.
nlohmann::json full_ranking(const std::vector<RankingCase>& cases, const Scorer& scorer,
                            const RankingOptions& options, dist::Communicator* comm);

// Collective: the 1-based target rank of every case, in case order, identical on every rank
// (sharded as full_ranking, assembled with one allreduce). With `held_out` given, also the ranks
// of every case's held-out items (held_out_ranks), assembled the same way.
std::vector<int64_t> case_ranks(const std::vector<RankingCase>& cases, const Scorer& scorer,
                                const RankingOptions& options, dist::Communicator* comm,
                                std::vector<std::vector<int64_t>>* held_out = nullptr);
// What full_ranking returns, from ranks already computed (e.g. for a subset of the cases); with
// `held_out` (one rank list per case) the set metrics too, when some case has several.
nlohmann::json metrics_from_ranks(const std::vector<int64_t>& ranks, const RankingOptions& options,
                                  const std::vector<std::vector<int64_t>>* held_out = nullptr);

}  // namespace grec::eval
