// The stage registry: every stage of `grec run`, in pipeline order (DESIGN.md), the full config
// schema, and the conventions the stages share. stages/ sits on top of the house: a stage wires
// data_pipeline/, model/, tokenizer/, eval/ and train/'s Trainer together; nothing below it
// includes a file from here.
#pragma once

#include <string>
#include <vector>

#include "core/config.h"
#include "train/stage.h"

namespace grec::stages {

using train::Stage;
using train::StageContext;

// Every stage, in pipeline order.
const std::vector<Stage>& all_stages();
// The stage called `name`; null when there is none.
const Stage* find_stage(const std::string& name);
// The full schema: run.*, data.*, dist.*, log.*, and every stage's keys.
ConfigSchema full_schema();
// The dataset path the stages read: data.dataset, or the ingest stage's output.
std::string dataset_path(const Config& config);

}  // namespace grec::stages
