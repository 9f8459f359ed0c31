// Dataset statistics for `grec data stats` and the ingest stage: counts, density,
// sequence-length percentiles, split sizes, text coverage per item field.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "data_pipeline/dataset.h"

namespace grec::data {

nlohmann::json dataset_stats(const Dataset& dataset);
// Two-column table (statistic, value) of dataset_stats() output.
std::string stats_table(const nlohmann::json& stats);

}  // namespace grec::data
