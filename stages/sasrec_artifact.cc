// The SASRec artifact; see sasrec_artifact.h.
#include "stages/sasrec_artifact.h"

#include <filesystem>

#include "core/error.h"
#include "core/fs.h"
#include "export/student.h"
#include "model/teacher_item_term.h"
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
  write_sasrec_files(run.artifacts("sasrec"), model);
}

void write_sasrec_files(const std::string& dir, model::SASRec& model) {
  const nlohmann::json config = sasrec_config_json(model->options());
  make_dirs(dir);
  model::SASRec plain = model;
  if (model->has_teacher_term()) {
    // A plain SASRec with the same weights and the folded item table.
    plain = model::SASRec(model->options());
    torch::NoGradGuard no_grad;
    const auto source = model->named_parameters();
    for (auto& p : plain->named_parameters()) p.value().copy_(source[p.key()]);
    plain->item_emb->weight.copy_(model->teacher_term()->fold_into(model->item_emb->weight));
  }
  train::save_module(dir + "/model.safetensors", *plain,
                     {{"format", "grec-sasrec"}, {"config", config.dump()}});
  write_file_atomic(dir + "/config.json", config.dump(2) + "\n");
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

model::SASRec read_sasrec_model(const RunDir& run, int64_t num_items, const std::string& purpose) {
  const std::string path = sasrec_model_path(run), config_path = sasrec_config_path(run);
  if (!std::filesystem::exists(path) || !std::filesystem::exists(config_path)) {
    user_error("{}: {} or its config.json does not exist: run stage sasrec first (a run dir from "
               "before these files existed needs `grec stage sasrec CONFIG --force`)", purpose, path);
  }
  nlohmann::json c;
  try {
    c = nlohmann::json::parse(read_file(config_path));
  } catch (const nlohmann::json::exception& e) {
    user_error("{}: {} is not valid JSON ({})", purpose, config_path, e.what());
  }
  const model::SASRecOptions o = bundle::sasrec_options_from_json(c, purpose + ": " + config_path);
  if (o.num_items() != num_items) {
    user_error("{}: the SASRec in {} was trained on {} items but the dataset has {}: rerun stage "
               "sasrec on this dataset", purpose, path, o.num_items(), num_items);
  }
  model::SASRec m(o);
  train::load_module(path, *m);
  m->to(torch::kFloat);
  m->eval();
  return m;
}

}  // namespace grec::stages
