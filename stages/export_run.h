// A run directory -> a serving bundle (export/bundle.h): reads the run's resolved config, dataset,
// semantic IDs, models and results, and hands them to bundle::write_bundle. Used by
// `grec export RUN_DIR --out DIR` and by the optional last pipeline stage `export`.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "core/config.h"
#include "core/run_dir.h"
#include "export/bundle.h"

namespace grec::stages {

// Collects the bundle of `run` (whose config is `config`) into `out`; returns the manifest.
nlohmann::json export_run(const Config& config, const RunDir& run, const std::string& out,
                          const bundle::ExportOptions& options, const std::string& command_line);

// The same for a finished run folder: its config.resolved.yaml is read with the full schema
// (UserError when the folder is not a run).
nlohmann::json export_run_dir(const std::string& run_dir, const std::string& out,
                              const bundle::ExportOptions& options, const std::string& command_line);

}  // namespace grec::stages
