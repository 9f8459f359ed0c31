// Stage `embed`: one float32 vector per item from its text (ALGORITHMS.md §1 input), written to
// <run>/artifacts/embed/embeddings.h5 (/embeddings [items, d], attributes encoder and settings).
// Encoders: `tfidf` (built in, deterministic), `file` (user-supplied HDF5/.npy), `lm` (the causal
// LM's masked mean hidden state, items sharded over ranks). Rank 0 computes tfidf/file and writes;
// the pipeline's barriers around stages keep the other ranks waiting.
#include <chrono>
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
#include "stages/lm_item_encoder.h"
#include "stages/stage_list.h"

namespace grec::stages {
namespace {

void declare_embed(ConfigSchema& s) {
  s.add_choice("embed.encoder", "tfidf", {"tfidf", "file", "lm"},
               "item encoder: tfidf (built in), file (user HDF5/.npy), lm (causal LM hidden states)");
  s.add_int("embed.dim", 128, "embedding dimension d of the tfidf encoder");
  s.add_string_list("embed.fields", data::default_item_text_fields(),
                    "item text fields joined into the text that is embedded (missing ones skipped)");
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

nlohmann::json run_embed(StageContext& ctx) {
  const Config& config = ctx.config;
  const std::string encoder = config.get_string("embed.encoder");
  if (!ctx.is_root() && encoder != "lm") return nlohmann::json::object();
  const auto t0 = std::chrono::steady_clock::now();
  const std::string path = dataset_path(config);
  data::Dataset dataset = data::read_dataset(path);
  const int64_t n = dataset.num_items();
  std::vector<float> emb;
  int64_t dim = 0;
  nlohmann::json settings = {{"encoder", encoder}};
  if (encoder == "tfidf") {
    data::TfidfOptions o;
    o.dim = config.get_int("embed.dim");
    o.method = config.get_string("embed.method");
    o.seed = static_cast<uint64_t>(config.get_int("embed.seed"));
    const auto fields = config.get_string_list("embed.fields");
    const auto texts = data::build_item_texts(dataset, fields);
    int64_t empty = 0;
    emb = data::tfidf_embed(texts, o, &empty);
    dim = o.dim;
    if (empty > 0) {
      GREC_WARN("embed: {} of {} items have no text in fields [{}]; their embeddings are zero",
                empty, n, config.dump({"embed.fields"}));
    }
    settings.update({{"dim", o.dim}, {"method", o.method}, {"seed", o.seed},
                     {"buckets", o.buckets}, {"bigrams", o.bigrams}, {"fields", fields},
                     {"empty_items", empty}});
  } else if (encoder == "file") {
    data::EmbeddingFileOptions o;
    o.path = config.get_string("embed.file.path");
    o.dataset = config.get_string("embed.file.dataset");
    o.keyed_by_raw_id = config.get_bool("embed.file.keyed_by_raw_id");
    o.ids = config.get_string("embed.file.ids");
    int64_t unused = 0;
    emb = data::read_embedding_file(o, dataset.item_raw_ids, &dim, &unused);
    if (unused > 0) GREC_INFO("embed: {} rows of {} match no dataset item (ignored)", unused, o.path);
    settings.update({{"path", o.path}, {"dataset", o.dataset},
                     {"keyed_by_raw_id", o.keyed_by_raw_id}, {"ids", o.ids}});
  } else {
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
    emb = lm_embed_texts(lm, *tokenizer, data::build_item_texts(dataset, fields), o, &ctx.comm);
    dim = lm->config().hidden_size;
    settings.update({{"path", dir}, {"max_len", o.max_len}, {"fields", fields},
                     {"architecture", lm->config().architecture}});
    if (!ctx.is_root()) return nlohmann::json::object();
  }
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
  const std::string encoder = config.get_string("embed.encoder");
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
  s.help = "item text embeddings (tfidf, file or lm) -> artifacts/embed/embeddings.h5";
  s.config_sections = {"embed", "data"};
  s.inputs = {"ingest"};
  s.declare = declare_embed;
  s.run = run_embed;
  s.fingerprint = embed_fingerprint;
  return s;
}

}  // namespace grec::stages
