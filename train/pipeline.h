// The pipeline runner behind `grec run` and `grec stage`: runs stages in order on every rank,
// skips a stage whose outputs exist for the same cache key, ends with a summary table.
#pragma once

#include <string>
#include <vector>

#include "core/config.h"
#include "train/stage.h"

namespace grec::dist {
class MpiEnv;
}

namespace grec::train {

struct PipelineOptions {
  std::vector<std::string> only;  // run just these stages (grec stage); empty = all enabled
  bool force = false;             // ignore cached results
  std::string command_line;
};

// Runs `stages` (in pipeline order) under `config`. Returns the process exit code.
int run_pipeline(const std::vector<Stage>& stages, const Config& config, const dist::MpiEnv& env,
                 const PipelineOptions& options);

// The cache key of `stage` under `config`: hash of its config sections and its inputs' keys.
std::string stage_key(const std::vector<Stage>& stages, const Config& config,
                      const std::string& stage);

}  // namespace grec::train
