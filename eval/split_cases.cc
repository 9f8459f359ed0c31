// Evaluation cases of a split and the popularity baseline; see split_cases.h.
#include "eval/split_cases.h"

#include "core/error.h"

namespace grec::eval {

std::vector<RankingCase> split_cases(const data::Dataset& d, const std::string& split) {
  GREC_CHECK(split == "valid" || split == "test", "unknown split '{}'", split);
  std::vector<RankingCase> out;
  for (int64_t u = 0; u < d.num_users(); ++u) {
    const int64_t end = split == "valid" ? d.train_end[u] : d.valid_end[u];
    const int64_t split_end = split == "valid" ? d.valid_end[u] : d.length(u);
    if (end < 1 || end >= split_end) continue;
    RankingCase c;
    c.user = u;
    c.history.assign(d.sequence(u), d.sequence(u) + end);
    c.target = d.sequence(u)[end];
    c.held_out.assign(d.sequence(u) + end, d.sequence(u) + split_end);
    out.push_back(std::move(c));
  }
  return out;
}

nlohmann::json popularity_ranking(const data::Dataset& d, const std::vector<RankingCase>& cases,
                                  const RankingOptions& options, dist::Communicator* comm) {
  std::vector<float> counts(static_cast<size_t>(d.num_items()), 0.0f);
  for (int64_t u = 0; u < d.num_users(); ++u) {
    for (int64_t p = 0; p < d.train_end[u]; ++p) counts[d.sequence(u)[p]] += 1.0f;
  }
  const torch::Tensor pop = torch::tensor(counts);
  auto scorer = [&](const std::vector<const RankingCase*>& batch) {
    return pop.unsqueeze(0).expand({static_cast<int64_t>(batch.size()), pop.size(0)});
  };
  return full_ranking(cases, scorer, options, comm);
}

}  // namespace grec::eval
