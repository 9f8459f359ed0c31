// Stage `embed`: one float32 vector per item (ALGORITHMS.md §1 input), written to
// <run>/artifacts/embed/embeddings.h5 (/embeddings [items, d], attributes encoder and settings).
// Encoders: `tfidf` (item text, built in, deterministic), `file` (user-supplied HDF5/.npy), `lm`
// (the causal LM's masked mean hidden state, items sharded over ranks), `sasrec` (collaborative:
// the sasrec stage's trained item table, which is why sasrec runs before embed), and `concat`
// (a text encoder's vector and the SASRec vector, each scaled to unit norm, side by side).
// Rank 0 computes everything but lm and writes; the pipeline's barriers around stages keep the
// other ranks waiting.
#include <chrono>
#include <cmath>
#include <cstdio>

#include "core/config.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/h5.h"
#include "core/log.h"
#include "data_pipeline/dataset.h"
#include "data_pipeline/embedding_file.h"
#include "data_pipeline/item_text.h"
#include "data_pipeline/tfidf.h"
#include "model/causal_lm.h"
#include "model/hf_io.h"
#include "tokenizer/text_tokenizer.h"
#include "stages/augment_artifact.h"
#include "stages/lm_item_encoder.h"
#include "stages/sasrec_artifact.h"
#include "stages/stage_list.h"

namespace grec::stages {
namespace {

void declare_embed(ConfigSchema& s) {
  s.add_choice("embed.encoder", "tfidf", {"tfidf", "file", "lm", "sasrec", "concat"},
               "item encoder: tfidf (built in), file (user HDF5/.npy), lm (causal LM hidden "
               "states), sasrec (the sasrec stage's item table: collaborative vectors), concat "
               "(embed.concat.text's vector and the sasrec vector, each unit-norm, side by side)");
  s.add_choice("embed.concat.text", "tfidf", {"tfidf", "file", "lm"},
               "concat: the text encoder whose vectors are joined with the sasrec item table");
  s.add_float("embed.concat.sasrec_weight", 1.0,
              "concat: scale of the unit-norm sasrec part (the text part has scale 1)");
  s.add_int("embed.dim", 128, "embedding dimension d of the tfidf encoder");
  s.add_string_list("embed.fields", data::default_item_text_fields(),
                    "item text fields joined into the text that is embedded (missing ones "
                    "skipped); aug_<prompt> fields come from stage augment");
  s.add_choice("embed.method", "projection", {"projection", "svd"},
               "tfidf reduction: seeded Gaussian random projection or randomized truncated SVD");
  s.add_int("embed.seed", 0, "seed of the projection / SVD sketch");
  s.add_string("embed.file.path", "", "file encoder: HDF5 file or .npy matrix of item embeddings");
  s.add_string("embed.file.dataset", "embeddings", "file encoder: HDF5 dataset name of the matrix");
  s.add_bool("embed.file.keyed_by_raw_id", false,
             "file encoder: rows are matched to items by raw id instead of item order");
  s.add_string("embed.file.ids", "ids",
               "file encoder, keyed: HDF5 dataset of raw ids, or for .npy a text file with one raw "
               "id per line (default <file>.ids.txt)");
  s.add_string("embed.lm.path", "", "lm encoder: HF checkpoint folder (config.json, safetensors, tokenizer)");
  s.add_int("embed.lm.max_len", 128, "lm encoder: tokens per item text");
  s.add_int("embed.lm.batch_size", 16, "lm encoder: texts per forward");
}

struct ItemVectors {
  std::vector<float> values;  // [items, dim]
  int64_t dim = 0;
  nlohmann::json settings = nlohmann::json::object();
};

// The vectors of a text (or file) encoder. Collective for lm (items sharded over ranks; every rank
// gets the whole matrix only on rank 0), rank-0 work for the others.
ItemVectors text_vectors(StageContext& ctx, const data::Dataset& dataset, const std::string& encoder) {
  const Config& config = ctx.config;
  const int64_t n = dataset.num_items();
  ItemVectors out;
  if (encoder == "tfidf") {
    data::TfidfOptions o;
    o.dim = config.get_int("embed.dim");
    o.method = config.get_string("embed.method");
    o.seed = static_cast<uint64_t>(config.get_int("embed.seed"));
    const auto fields = config.get_string_list("embed.fields");
    const auto texts = data::build_item_texts(dataset, fields);
    int64_t empty = 0;
    out.values = data::tfidf_embed(texts, o, &empty);
    out.dim = o.dim;
    if (empty > 0) {
      GREC_WARN("embed: {} of {} items have no text in fields [{}]; their embeddings are zero",
                empty, n, config.dump({"embed.fields"}));
    }
    out.settings = {{"dim", o.dim}, {"method", o.method}, {"seed", o.seed},
                    {"buckets", o.buckets}, {"bigrams", o.bigrams}, {"fields", fields},
                    {"empty_items", empty}};
  } else if (encoder == "file") {
    data::EmbeddingFileOptions o;
    o.path = config.get_string("embed.file.path");
    o.dataset = config.get_string("embed.file.dataset");
    o.keyed_by_raw_id = config.get_bool("embed.file.keyed_by_raw_id");
    o.ids = config.get_string("embed.file.ids");
    int64_t unused = 0;
    out.values = data::read_embedding_file(o, dataset.item_raw_ids, &out.dim, &unused);
    if (unused > 0) GREC_INFO("embed: {} rows of {} match no dataset item (ignored)", unused, o.path);
    out.settings = {{"path", o.path}, {"dataset", o.dataset},
                    {"keyed_by_raw_id", o.keyed_by_raw_id}, {"ids", o.ids}};
  } else {
    GREC_CHECK(encoder == "lm", "unknown text encoder '{}'", encoder);
    const std::string dir = config.get_string("embed.lm.path");
    if (dir.empty()) {
      user_error("config key 'embed.lm.path' must name an HF checkpoint folder for encoder lm ({})",
                 config.origin("embed.lm.path"));
    }
    model::CausalLM lm = model::load_hf(dir);
    const auto tokenizer = tok::load_tokenizer(dir);
    LmEncodeOptions o;
    o.max_len = config.get_int("embed.lm.max_len");
    o.batch_size = config.get_int("embed.lm.batch_size");
    const auto fields = config.get_string_list("embed.fields");
    out.values = lm_embed_texts(lm, *tokenizer, data::build_item_texts(dataset, fields), o, &ctx.comm);
    out.dim = lm->config().hidden_size;
    out.settings = {{"path", dir}, {"max_len", o.max_len}, {"fields", fields},
                    {"architecture", lm->config().architecture}};
  }
  return out;
}

ItemVectors sasrec_vectors(const RunDir& run, int64_t num_items) {
  torch::Tensor table = read_sasrec_item_table(run, num_items);
  ItemVectors out;
  out.dim = table.size(1);
  out.values.assign(table.data_ptr<float>(), table.data_ptr<float>() + table.numel());
  out.settings = {{"path", sasrec_model_path(run)}, {"dim", out.dim}};
  return out;
}

// Scales every row of `v` to norm `scale` (zero rows stay zero).
void scale_rows(ItemVectors& v, double scale) {
  const int64_t n = v.dim > 0 ? static_cast<int64_t>(v.values.size()) / v.dim : 0;
  for (int64_t i = 0; i < n; ++i) {
    float* row = v.values.data() + i * v.dim;
    double sq = 0;
    for (int64_t j = 0; j < v.dim; ++j) sq += double(row[j]) * row[j];
    if (sq <= 0) continue;
    const double f = scale / std::sqrt(sq);
    for (int64_t j = 0; j < v.dim; ++j) row[j] = static_cast<float>(row[j] * f);
  }
}

// [a | b] row by row.
ItemVectors concat_rows(const ItemVectors& a, const ItemVectors& b, int64_t n) {
  ItemVectors out;
  out.dim = a.dim + b.dim;
  out.values.resize(static_cast<size_t>(n * out.dim));
  for (int64_t i = 0; i < n; ++i) {
    std::copy(a.values.begin() + i * a.dim, a.values.begin() + (i + 1) * a.dim,
              out.values.begin() + i * out.dim);
    std::copy(b.values.begin() + i * b.dim, b.values.begin() + (i + 1) * b.dim,
              out.values.begin() + i * out.dim + a.dim);
  }
  return out;
}

bool reads_sasrec(const Config& config) {
  const std::string encoder = config.get_string("embed.encoder");
  return encoder == "sasrec" || encoder == "concat";
}

// Encoders that embed item text (and so may read stage augment's fields).
bool reads_text(const Config& config) {
  const std::string encoder = config.get_string("embed.encoder");
  const std::string text = encoder == "concat" ? config.get_string("embed.concat.text") : encoder;
  return text == "tfidf" || text == "lm";
}

bool reads_augment(const Config& config) {
  return reads_text(config) && augment_enabled(config) &&
         wants_augmented_fields(config.get_string_list("embed.fields"));
}

nlohmann::json run_embed(StageContext& ctx) {
  const Config& config = ctx.config;
  const std::string encoder = config.get_string("embed.encoder");
  const std::string text_encoder =
      encoder == "concat" ? config.get_string("embed.concat.text") : encoder;
  if (!ctx.is_root() && text_encoder != "lm") return nlohmann::json::object();
  const auto t0 = std::chrono::steady_clock::now();
  const std::string path = dataset_path(config);
  data::Dataset dataset = data::read_dataset(path);
  const int64_t n = dataset.num_items();
  const auto fields = config.get_string_list("embed.fields");
  if (reads_text(config) && wants_augmented_fields(fields)) {
    if (!augment_enabled(config)) {
      user_error("config key 'embed.fields' names augmented fields (aug_*), but stage augment is "
                 "off: set augment.prompts (e.g. [eng]) or drop them ({})",
                 config.origin("embed.fields"));
    }
    add_augmented_fields(ctx.run, fields, "config key 'embed.fields'", dataset);
  }
  ItemVectors vectors;
  if (encoder == "sasrec") {
    vectors = sasrec_vectors(ctx.run, n);
  } else {
    vectors = text_vectors(ctx, dataset, text_encoder);
    if (!ctx.is_root()) return nlohmann::json::object();
    if (encoder == "concat") {
      ItemVectors collab = sasrec_vectors(ctx.run, n);
      const double w = config.get_float("embed.concat.sasrec_weight");
      if (!(w >= 0)) {
        user_error("config key 'embed.concat.sasrec_weight' must be >= 0, got {} ({})", w,
                   config.origin("embed.concat.sasrec_weight"));
      }
      scale_rows(vectors, 1.0);
      scale_rows(collab, w);
      nlohmann::json settings = {{"text", text_encoder}, {"text_settings", vectors.settings},
                                 {"sasrec", collab.settings}, {"sasrec_weight", w}};
      vectors = concat_rows(vectors, collab, n);
      vectors.settings = settings;
    }
  }
  const std::vector<float>& emb = vectors.values;
  const int64_t dim = vectors.dim;
  nlohmann::json settings = {{"encoder", encoder}};
  settings.update(vectors.settings);
  const std::string out = ctx.run.artifacts("embed") + "/embeddings.h5";
  make_dirs(ctx.run.artifacts("embed"));
  const std::string tmp = temp_path_for(out);
  {
    h5::File f = h5::File::create(tmp);
    f.write_f32("/embeddings", emb, {static_cast<uint64_t>(n), static_cast<uint64_t>(dim)});
    f.set_attr("/", "encoder", encoder);
    f.set_attr("/", "settings", settings.dump());
    f.set_attr("/", "items", n);
    f.set_attr("/", "dim", dim);
    f.set_attr("/", "dataset", path);
    f.close();
  }
  if (std::rename(tmp.c_str(), out.c_str()) != 0) user_error("cannot rename {} to {}", tmp, out);
  const double wall_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  GREC_INFO("embed: {} items x {} ({}) -> {} in {:.2f} s", n, dim, encoder, out, wall_s);
  return {{"items", n}, {"dim", dim}, {"encoder", encoder}, {"wall_s", wall_s}};
}

std::string embed_fingerprint(const Config& config) {
  std::string encoder = config.get_string("embed.encoder");
  if (encoder == "concat") encoder = config.get_string("embed.concat.text");
  if (encoder == "file") return file_fingerprint(config.get_string("embed.file.path"));
  if (encoder != "lm") return "";
  const std::string dir = config.get_string("embed.lm.path");
  std::string fp;
  for (const std::string& f : model::list_hf_files(dir).files) fp += file_fingerprint(f);
  return fp;
}

}  // namespace

Stage make_embed_stage() {
  Stage s;
  s.name = "embed";
  s.help = "item embeddings (tfidf, file, lm, sasrec or concat) -> artifacts/embed/embeddings.h5";
  s.config_sections = {"embed", "data"};
  s.inputs = {"ingest"};
  s.config_inputs = [](const Config& config) {
    std::vector<std::string> inputs;
    if (reads_sasrec(config)) inputs.push_back("sasrec");
    if (reads_augment(config)) inputs.push_back("augment");
    return inputs;
  };
  s.declare = declare_embed;
  s.run = run_embed;
  s.fingerprint = embed_fingerprint;
  return s;
}

}  // namespace grec::stages
