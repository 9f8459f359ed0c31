// The leave-one-out evaluation cases of a dataset split and the popularity baseline on them,
// shared by every stage that reports metrics (sasrec, align validation, evaluate), so all of them
// rank the same users against the same baseline.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data_pipeline/dataset.h"
#include "eval/ranking.h"

namespace grec::eval {

// Users with a history and a held-out item of `split` ("valid": history = training part,
// target = the item at train_end; "test": history = training + validation, target = the item at
// valid_end), in user order. GREC_CHECK on another split name.
std::vector<RankingCase> split_cases(const data::Dataset& dataset, const std::string& split);

// Popularity: every item scored by its count in the training parts of all sequences (no held-out
// item is counted), ranked on `cases` with full_ranking (collective over comm).
nlohmann::json popularity_ranking(const data::Dataset& dataset,
                                  const std::vector<RankingCase>& cases,
                                  const RankingOptions& options, dist::Communicator* comm);

}  // namespace grec::eval
