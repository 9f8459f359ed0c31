// One ingestion, as run by `grec data ingest|synth` and the `ingest` stage: read (or
// synthesise), process, write dataset.h5 atomically, and summarise.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "data_pipeline/dataset.h"
#include "data_pipeline/ingest_options.h"

namespace grec::data {

// Reads the raw data named by `options` (or synthesises it) and processes it.
Dataset ingest(const IngestOptions& options);

// ingest(), then writes `out`. Returns dataset_stats() plus "wall_s"; logs a summary.
nlohmann::json ingest_to_file(const IngestOptions& options, const std::string& out);

}  // namespace grec::data
