// The SASRec artifact; see sasrec_artifact.h.
#include "stages/sasrec_artifact.h"

#include <filesystem>

#include "core/error.h"
#include "core/fs.h"
#include "train/tensor_io.h"

namespace grec::stages {

std::string sasrec_model_path(const RunDir& run) {
  return run.artifacts("sasrec") + "/model.safetensors";
}
std::string sasrec_config_path(const RunDir& run) { return run.artifacts("sasrec") + "/config.json"; }

nlohmann::json sasrec_config_json(const model::SASRecOptions& o) {
  return {{"architecture", "SASRec"},  {"format_version", 1},
          {"num_items", o.num_items()}, {"max_len", o.max_len()},
          {"hidden", o.hidden()},       {"blocks", o.blocks()},
          {"heads", o.heads()},         {"dropout", o.dropout()},
          {"ffn", o.ffn() > 0 ? o.ffn() : o.hidden()},
          {"layernorm_eps", o.layernorm_eps()},
          {"init", o.init()},
          // Row 0 of item_emb.weight is padding; item i (dataset.h5's dense id) is row i + 1.
          {"item_row_offset", 1}};
}

void write_sasrec_artifact(const RunDir& run, model::SASRec& model) {
  const nlohmann::json config = sasrec_config_json(model->options());
  make_dirs(run.artifacts("sasrec"));
  train::save_module(sasrec_model_path(run), *model, {{"format", "grec-sasrec"},
                                                       {"config", config.dump()}});
  write_file_atomic(sasrec_config_path(run), config.dump(2) + "\n");
}

torch::Tensor read_sasrec_item_table(const RunDir& run, int64_t num_items) {
  const std::string path = sasrec_model_path(run);
  if (!std::filesystem::exists(path)) {
    user_error("{} does not exist: run stage sasrec first (it writes the item table there; a run dir "
               "from before this file existed needs `grec stage sasrec CONFIG --force`)", path);
  }
  const safetensors::File file = safetensors::File::read(path);
  torch::Tensor table = train::tensor_from(file, "item_emb.weight");
  if (table.dim() != 2 || table.size(0) != num_items + 1) {
    user_error("{}: item_emb.weight has {} rows but the dataset has {} items (+1 padding row): "
               "rerun stage sasrec on this dataset", path, table.dim() == 2 ? table.size(0) : -1,
               num_items);
  }
  return table.slice(0, 1).to(torch::kFloat).contiguous();
}

}  // namespace grec::stages
