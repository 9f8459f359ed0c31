// Gathering a run into a serving bundle; see export_run.h.
#include "stages/export_run.h"

#include <filesystem>

#include "core/error.h"
#include "core/fs.h"
#include "data_pipeline/dataset.h"
#include "data_pipeline/instructions.h"
#include "export/sha256.h"
#include "stages/align_setup.h"
#include "stages/stages.h"
#include "tokenizer/semantic_ids.h"

#ifndef GREC_VERSION
#define GREC_VERSION "unknown"
#endif
#ifndef GREC_GIT_COMMIT
#define GREC_GIT_COMMIT "unknown"
#endif

namespace grec::stages {
namespace fs = std::filesystem;
namespace {

nlohmann::json json_or_null(const std::string& path) {
  if (!fs::exists(path)) return nullptr;
  try {
    return nlohmann::json::parse(read_file(path));
  } catch (const nlohmann::json::exception& e) {
    user_error("{} is not valid JSON ({})", path, e.what());
  }
}

// The dataset the run read: data.dataset, or the run's own ingest output.
std::string run_dataset(const Config& config, const RunDir& run) {
  const std::string given = config.get_string("data.dataset");
  return given.empty() ? run.artifacts("ingest") + "/dataset.h5" : given;
}

std::vector<bundle::BundleItem> bundle_items(const data::Dataset& d, const tok::SemanticIds& ids,
                                             const std::string& text_field) {
  const auto text = d.item_text.count(text_field) ? &d.item_text.at(text_field)
                    : d.item_text.count("title")  ? &d.item_text.at("title")
                                                  : nullptr;
  std::vector<bundle::BundleItem> items(d.num_items());
  for (int64_t i = 0; i < d.num_items(); ++i) {
    auto& it = items[i];
    it.raw_id = d.item_raw_ids[i];
    it.title = text ? (*text)[i] : "";
    it.codes.assign(ids.codes.begin() + i * ids.levels, ids.codes.begin() + (i + 1) * ids.levels);
    it.tokens = tok::token_string(ids, i);
  }
  return items;
}

// Stage keys and wall times of every stage that has run (artifacts/<stage>/stage.json).
nlohmann::json stage_keys(const RunDir& run) {
  nlohmann::json keys = nlohmann::json::object();
  for (const auto& st : all_stages()) {
    const nlohmann::json m = json_or_null(run.artifacts(st.name) + "/stage.json");
    if (m.is_object()) keys[st.name] = {{"key", m.value("key", "")}, {"wall_s", m.value("wall_s", 0.0)}};
  }
  return keys;
}

}  // namespace

nlohmann::json export_run(const Config& config, const RunDir& run, const std::string& out,
                          const bundle::ExportOptions& options, const std::string& command_line) {
  const std::string dataset_file = run_dataset(config, run);
  if (!fs::exists(dataset_file)) {
    user_error("export: the run's dataset {} does not exist (run the ingest stage first)", dataset_file);
  }
  const data::Dataset d = data::read_dataset(dataset_file);
  const std::string ids_path = run.artifacts("rqvae") + "/semantic_ids.h5";
  if (!fs::exists(ids_path)) user_error("export: {} does not exist: run the rqvae stage first", ids_path);
  const tok::SemanticIds ids = tok::read_semantic_ids(ids_path);
  if (ids.items != d.num_items()) {
    user_error("export: {} has {} items but the dataset {} has {}", ids_path, ids.items, dataset_file,
               d.num_items());
  }
  bundle::BundleContents c;
  c.items = bundle_items(d, ids, config.get_string("align.text_field"));
  c.level_sizes = ids.level_sizes;
  const data::PromptAroundHistory around = data::seqrec_prompt_around_history(instruction_options(config));
  c.prompt.prefix = around.prefix;
  c.prompt.suffix = around.suffix;
  c.prompt.max_history = config.get_int("align.max_history");
  // As stage evaluate: room for the generated ID tokens after the prompt.
  c.prompt.max_prompt_tokens = config.get_int("align.max_len") - ids.levels;
  c.num_beams = config.get_int("evaluate.num_beams");
  if (fs::exists(aligned_model_dir(run) + "/config.json")) c.llm_dir = aligned_model_dir(run);
  // The student: stage distill's (a SASRec distilled from the LLM) when it wrote one, else the
  // plain SASRec of stage sasrec.
  const bool distilled = config.get_bool("distill.enabled") &&
                         fs::exists(run.artifacts("distill") + "/model.safetensors");
  if (distilled) {
    c.student_dir = run.artifacts("distill");
  } else if (fs::exists(run.artifacts("sasrec") + "/model.safetensors")) {
    c.student_dir = run.artifacts("sasrec");
  }

  const nlohmann::json evaluate = json_or_null(run.artifacts("evaluate") + "/results.json");
  const auto eval_row = [&](const char* model) {
    nlohmann::json m = nlohmann::json::object();
    if (!evaluate.is_object()) return m;
    for (const char* split : {"valid", "test"}) {
      if (evaluate.contains(split) && evaluate[split].contains(model)) m[split] = evaluate[split][model];
    }
    return m;
  };
  nlohmann::json sources = nlohmann::json::object();
  if (!c.llm_dir.empty()) {
    sources["llm"] = {{"path", fs::absolute(c.llm_dir).string()},
                      {"evaluate", eval_row("llm")},
                      {"align", json_or_null(run.artifacts("align") + "/results.json")}};
  }
  if (!c.student_dir.empty()) {
    nlohmann::json sasrec = json_or_null(run.artifacts("sasrec") + "/results.json");
    sources["student"] = {{"path", fs::absolute(c.student_dir).string()},
                          {"architecture", "SASRec"},
                          {"distilled", distilled},
                          {"evaluate", eval_row("sasrec")},
                          {"sasrec", sasrec}};
    if (distilled) sources["student"]["distill"] = json_or_null(run.artifacts("distill") + "/results.json");
  }
  int64_t dataset_bytes = 0;
  c.provenance = {
      {"grec_version", GREC_VERSION},
      {"grec_commit", GREC_GIT_COMMIT},
      {"run_dir", fs::absolute(run.root()).string()},
      {"config_hash", config.hash()},
      {"stage_keys", stage_keys(run)},
      {"dataset", {{"path", fs::absolute(dataset_file).string()},
                   {"sha256", bundle::sha256_file(dataset_file, &dataset_bytes)},
                   {"bytes", dataset_bytes},
                   {"users", d.num_users()},
                   {"items", d.num_items()},
                   {"interactions", d.num_interactions()}}},
      {"sources", sources},
      {"command_line", command_line}};
  return bundle::write_bundle(c, out, options);
}

nlohmann::json export_run_dir(const std::string& run_dir, const std::string& out,
                              const bundle::ExportOptions& options, const std::string& command_line) {
  const std::string resolved = run_dir + "/config.resolved.yaml";
  if (!fs::exists(resolved)) {
    user_error("{} is not a grec run folder (no config.resolved.yaml; e.g. runs/demo)", run_dir);
  }
  const Config config = Config::load(full_schema(), resolved);
  return export_run(config, RunDir(run_dir), out, options, command_line);
}

}  // namespace grec::stages
