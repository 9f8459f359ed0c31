// SASRec's full-ranking rank of every held-out case, written by stage sasrec next to its metrics
// (artifacts/sasrec/case_ranks.json: {"valid": {"users": [...], "ranks": [...]}, "test": ...,
// "mask_history": bool}; presplit data with several held-out items per user adds
// "held_out_ranks": [[...], ...] per split), so that stage evaluate reports SASRec on exactly the users it samples
// for the LLM without loading the model again.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/run_dir.h"

namespace grec::stages {

std::string sasrec_case_ranks_path(const RunDir& run);

// The ranks file of `run` as JSON; null when it cannot be used, with the reason in *why (stage
// sasrec did not run, or ran before this file existed; not valid JSON).
nlohmann::json read_sasrec_case_ranks(const RunDir& run, std::string* why);

// SASRec's metrics (HR@K, NDCG@K for `ks`, MRR, users, mask_history, and "held_out" set metrics
// when the file has held-out ranks) over `users` of `split`,
// from what read_sasrec_case_ranks returned. Null when there is nothing to report, with the reason
// in *why: no ranks, no such split, or a user without a rank.
nlohmann::json sasrec_metrics_for_users(const nlohmann::json& case_ranks, const std::string& split,
                                        const std::vector<int64_t>& users,
                                        const std::vector<int64_t>& ks, std::string* why);

}  // namespace grec::stages
