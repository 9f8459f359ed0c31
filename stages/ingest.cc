// Stage `ingest`: makes <run>/artifacts/ingest/dataset.h5 from raw files or synthesis
// (data_pipeline/ingest.h). Runs on rank 0; the other ranks wait at the pipeline's barrier.
#include <filesystem>

#include <nlohmann/json.hpp>

#include "core/fs.h"

#include "core/log.h"
#include "data_pipeline/ingest.h"
#include "data_pipeline/ingest_options.h"
#include "data_pipeline/stats.h"
#include "stages/stage_list.h"

namespace grec::stages {

Stage make_ingest_stage() {
  Stage s;
  s.name = "ingest";
  s.help = "raw interaction files (or synthesis) -> dataset.h5";
  s.config_sections = {"ingest"};
  s.declare = data::declare_ingest_config;
  s.run = [](StageContext& ctx) -> nlohmann::json {
    if (!ctx.is_root()) return nlohmann::json::object();
    const data::IngestOptions options = data::ingest_options_from_config(ctx.config);
    const std::string out = dataset_path(ctx.config);
    nlohmann::json stats = data::ingest_to_file(options, out);
    GREC_INFO("dataset {}:\n{}", out, data::stats_table(stats));
    nlohmann::json record = {{"stage", "ingest"}, {"event", "dataset"}};
    for (auto it = stats.begin(); it != stats.end(); ++it) record[it.key()] = it.value();
    ctx.metrics.write(record);
    return {{"users", stats["users"]},
            {"items", stats["items"]},
            {"interactions", stats["interactions"]},
            {"density", stats["density"]},
            {"skipped_lines", stats.value("skipped_lines", 0)}};
  };
  // Changed raw files make a new dataset even when the config did not change. A presplit
  // `*_train` input also reads its `_valid`/`_test` siblings: fingerprint its whole folder.
  s.fingerprint = [](const Config& c) {
    const data::IngestOptions o = data::ingest_options_from_config(c);
    if (o.format == "synth") return std::string();
    std::string input = o.input;
    if (input.find("_train") != std::string::npos) {
      input = std::filesystem::path(input).parent_path().string();
      if (input.empty()) input = ".";
    }
    return file_fingerprint(input) + "|" + (o.items.empty() ? "" : file_fingerprint(o.items));
  };
  s.enabled = [](const Config& c) { return c.get_string("data.dataset").empty(); };
  s.replaced_by = [](const Config& c) { return c.get_string("data.dataset"); };
  return s;
}

}  // namespace grec::stages
