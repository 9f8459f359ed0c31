// What a stage is: every arrow of the pipeline (DESIGN.md). A stage declares its config keys, names
// the config sections and upstream stages its result depends on (the cache key), and runs.
// Dependencies point one way: the stages themselves live in stages/ (which uses train/); train/
// knows only this interface, and the pipeline runner is handed the list of stages.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/config.h"
#include "core/metrics.h"
#include "core/run_dir.h"

namespace grec::dist {
class MpiEnv;
class Communicator;
}

namespace grec::train {

struct StageContext {
  const Config& config;
  RunDir run;
  const dist::MpiEnv& env;
  MetricsWriter& metrics;  // enabled on rank 0 only
  dist::Communicator& comm;  // tensor collectives on this rank's device, timed by the watchdog
  bool is_root() const;
};

struct Stage {
  std::string name;
  std::string help;
  // Config sections whose values decide the stage's output (hashed into its cache key).
  std::vector<std::string> config_sections;
  // Stages whose outputs this one reads (their keys enter this key).
  std::vector<std::string> inputs;
  // Inputs that only some configs read (embed reads sasrec's item table only for encoder
  // sasrec/concat), so that a config that does not read them keeps its key.
  std::function<std::vector<std::string>(const Config&)> config_inputs;
  std::function<void(ConfigSchema&)> declare;
  // Runs on every rank; returns the key figures for the run summary (collected on rank 0).
  std::function<nlohmann::json(StageContext&)> run;
  // Extra cache-key material beyond the config (e.g. fingerprints of raw input files).
  std::function<std::string(const Config&)> fingerprint;
  // When set and false for this config, `grec run` skips the stage (e.g. ingest when
  // data.dataset names an existing file).
  std::function<bool(const Config&)> enabled;
  // When the stage is off for a config: the file the config gives in place of its output; its
  // fingerprint enters the keys of the stages that read this one.
  std::function<std::string(const Config&)> replaced_by;
  // Checkpoint folders of further trainers the stage runs besides checkpoints/<name> (distill's
  // plain student): set aside with it when the key changes, never resumed under another key.
  std::vector<std::string> extra_checkpoints;
};

// The stage called `name` in `stages`; null when there is none.
const Stage* find_stage(const std::vector<Stage>& stages, const std::string& name);

}  // namespace grec::train
