// The bundle's student: a SASRec saved as model.safetensors (trainer-native names; row 0 of
// item_emb.weight is padding, row i + 1 dense item i) beside a config.json naming the architecture
// and its sizes (stages/sasrec_artifact.h writes both).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "model/sasrec.h"

namespace grec::bundle {

// SASRecOptions of a config.json; UserError naming `what` when it is not a SASRec config or a
// size is missing.
model::SASRecOptions sasrec_options_from_json(const nlohmann::json& config, const std::string& what);

// dir/config.json + dir/model.safetensors as a float32 model in eval mode. UserError naming the
// file for a missing file, a missing/extra tensor or a shape mismatch.
model::SASRec load_student(const std::string& dir);

}  // namespace grec::bundle
