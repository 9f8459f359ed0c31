// From raw events to a Dataset: rating threshold, stable sort by (user, time), deduplication of
// repeated (user, item) keeping the first, iterative k-core, dense re-indexing by raw id, split.
#pragma once

#include "data_pipeline/dataset.h"
#include "data_pipeline/ingest_options.h"
#include "data_pipeline/raw_data.h"

namespace grec::data {

// Consumes `raw`. A UserError when nothing is left after filtering. Records the filters and
// the counts of each step in dataset.attrs.
Dataset build_dataset(RawData&& raw, const IngestOptions& options);

// Dense ids follow the raw ids' order: numeric when every raw id is an integer, else bytewise.
// Returns, for each position of `raw_ids`, its rank.
std::vector<int64_t> rank_raw_ids(const std::vector<std::string>& raw_ids);

}  // namespace grec::data
