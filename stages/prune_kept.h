// The prune stage's output, artifacts/prune/kept.h5, which align reads: one row per per-user
// training sample (user, end) in natural order, with its scores and whether it was kept.
//   /user, /end       int64   the sample key (history seq[..end), target seq[end])
//   /influence        float64 DEALRec influence on the surrogate's empirical risk (NaN: not computed)
//   /effort           float64 gradient norm of the LLM's loss (NaN: not computed)
//   /score            float64 the score the selection used (NaN for method random)
//   /stratum          int64   coverage stratum, -1 = dropped as hardest or no strata
//   /kept             int64   1 = kept
// Root attributes: method, budget, num_samples, dataset (the dataset path it was scored on).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/run_dir.h"
#include "data_pipeline/dataset.h"
#include "data_pipeline/instructions.h"

namespace grec::stages {

struct PruneTable {
  std::vector<data::PrefixKey> keys;
  std::vector<double> influence, effort, score;
  std::vector<int64_t> stratum, kept;
  std::string method;
  int64_t budget = 0;
};

std::string kept_path(const RunDir& run);
// Atomic (through a temporary file and a rename).
void write_prune_table(const std::string& path, const PruneTable& t, const std::string& dataset);
PruneTable read_prune_table(const std::string& path);

// The kept flags of `dataset`'s training prefixes, indexed by dataset position
// (seq_offsets[user] + end). UserError when the file does not exist (run stage prune) or names
// a sample that is not a training prefix of this dataset.
std::vector<char> read_kept_prefixes(const RunDir& run, const data::Dataset& dataset);

}  // namespace grec::stages
