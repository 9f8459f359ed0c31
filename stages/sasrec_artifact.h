// The trained SASRec as an artifact other stages read (DESIGN.md: SASRec is the baseline, the
// DEALRec surrogate and a source of collaborative item vectors): stage sasrec writes its best
// weights to artifacts/sasrec/model.safetensors (trainer-native names, e.g. item_emb.weight, whose
// row 0 is padding and row i + 1 item i) and the model's sizes to artifacts/sasrec/config.json.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "core/config.h"
#include "core/run_dir.h"
#include "model/sasrec.h"

namespace grec::stages {

std::string sasrec_model_path(const RunDir& run);
std::string sasrec_config_path(const RunDir& run);

// config.json's content for a SASRec built from `options`.
nlohmann::json sasrec_config_json(const model::SASRecOptions& options);

// Writes both files atomically (rank 0 only).
void write_sasrec_artifact(const RunDir& run, model::SASRec& model);
// The same two files in `dir` (stage distill's student). A teacher term on the model is folded
// into item_emb.weight, so the files always describe a plain SASRec.
void write_sasrec_files(const std::string& dir, model::SASRec& model);

// The item table of the saved model: [num_items, hidden] float32, row i = item i. UserError when
// stage sasrec has not written it, or when it was trained on a dataset with another item count.
torch::Tensor read_sasrec_item_table(const RunDir& run, int64_t num_items);

// The saved model itself (float32, eval mode), rebuilt from config.json and the weights; the
// same UserErrors as above, naming `purpose` (e.g. "prune: the DEALRec surrogate").
model::SASRec read_sasrec_model(const RunDir& run, int64_t num_items, const std::string& purpose);

}  // namespace grec::stages
