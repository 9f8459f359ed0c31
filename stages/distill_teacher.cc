// The teacher pass of stage distill (see distill_teacher.h).
#include "stages/distill_teacher.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/h5.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/progress.h"
#include "data_pipeline/item_text.h"
#include "eval/generative.h"
#include "export/sha256.h"
#include "model/causal_lm.h"
#include "stages/lm_item_encoder.h"
#include "tokenizer/prompt_encoding.h"
#include "tokenizer/vocab_extension.h"

namespace grec::stages {
namespace {

using Clock = std::chrono::steady_clock;
constexpr int64_t kFormatVersion = 1;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// The embedding source "auto" resolves to: text when at least half the items have some.
std::string resolve_embedding(const std::string& choice, const std::vector<std::string>& texts) {
  if (choice != "auto") return choice;
  const auto with_text = std::count_if(texts.begin(), texts.end(), [](const std::string& t) {
    return t.find_first_not_of(" \t\r\n") != std::string::npos;
  });
  return 2 * with_text >= static_cast<int64_t>(texts.size()) ? "text" : "ids";
}

std::string to_bytes(const nlohmann::json& j) {
  const std::vector<uint8_t> v = nlohmann::json::to_msgpack(j);
  return std::string(v.begin(), v.end());
}

}  // namespace

TeacherOptions teacher_options(const Config& c) {
  TeacherOptions o;
  o.samples = c.get_string("distill.teacher.samples");
  o.top_k = c.get_int("distill.teacher.top_k");
  o.num_beams = c.get_int("distill.teacher.num_beams");
  o.batch_size = c.get_int("distill.teacher.batch_size");
  o.embedding = c.get_string("distill.teacher.embedding");
  o.text_field = c.get_string("align.text_field");
  o.embed_max_len = c.get_int("distill.teacher.embed_max_len");
  o.max_len = c.get_int("align.max_len");
  if (o.top_k < 1 || o.top_k > o.num_beams) {
    user_error("distill.teacher.top_k must be in [1, distill.teacher.num_beams = {}], got {} ({})",
               o.num_beams, o.top_k, c.origin("distill.teacher.top_k"));
  }
  for (const char* key : {"distill.teacher.batch_size", "distill.teacher.embed_max_len"}) {
    if (c.get_int(key) < 1) user_error("{} must be >= 1, got {} ({})", key, c.get_int(key), c.origin(key));
  }
  return o;
}

void teacher_samples(const data::Dataset& d, const std::string& samples, std::vector<int64_t>* users,
                     std::vector<int64_t>* ends) {
  GREC_CHECK(samples == "last" || samples == "all", "unknown teacher samples '{}'", samples);
  users->clear();
  ends->clear();
  for (int64_t u = 0; u < d.num_users(); ++u) {
    const int64_t train_end = d.train_end[u];
    if (train_end < 2) continue;  // no training position (the student's definition)
    for (int64_t e = samples == "last" ? train_end - 1 : 1; e < train_end; ++e) {
      users->push_back(u);
      ends->push_back(e);
    }
  }
}

std::string teacher_key(const std::string& dataset_fingerprint, const std::string& model_dir,
                        const TeacherOptions& o) {
  std::vector<std::string> weights;
  for (const auto& e : std::filesystem::directory_iterator(model_dir)) {
    const std::string name = e.path().filename().string();
    if (name.size() > 12 && name.substr(name.size() - 12) == ".safetensors") weights.push_back(name);
  }
  std::sort(weights.begin(), weights.end());
  if (weights.empty()) user_error("{} has no .safetensors weights: run the align stage first", model_dir);
  std::string material = "dataset " + dataset_fingerprint;
  for (const auto& w : weights) material += "\n" + w + " " + bundle::sha256_file(model_dir + "/" + w);
  for (const char* f : {"tokenizer.json", "tokenizer.model", "config.json"}) {
    const std::string p = model_dir + "/" + f;
    if (std::filesystem::exists(p)) material += fmt::format("\n{} {}", f, bundle::sha256_file(p));
  }
  material += fmt::format("\nsamples {} top_k {} num_beams {} embedding {} text_field {} "
                          "embed_max_len {} max_len {}",
                          o.samples, o.top_k, o.num_beams, o.embedding, o.text_field,
                          o.embed_max_len, o.max_len);
  return bundle::sha256_hex(material).substr(0, 32);
}

TeacherOutputs compute_teacher(const ItemIndex& index, const std::string& model_dir,
                               const data::InstructionOptions& instructions,
                               const TeacherOptions& o, dist::Communicator& comm) {
  const data::Dataset& d = index.dataset;
  const bool root = comm.rank() == 0;
  TeacherOutputs t;
  t.k = o.top_k;
  teacher_samples(d, o.samples, &t.users, &t.ends);
  if (t.users.empty()) user_error("distill: no user has a training position (two training items)");
  auto tokenizer = tok::load_tokenizer(model_dir);
  model::CausalLM lm = model::load_hf(model_dir);
  lm->eval();
  torch::NoGradGuard no_grad;
  const auto token_ids = tok::semantic_token_ids(*tokenizer, index.ids.level_sizes);
  eval::GenerativeOptions gen;
  gen.num_beams = o.num_beams;
  gen.batch_size = o.batch_size;
  gen.pad_id = std::max<int64_t>(0, tokenizer->pad_id());
  const int64_t prompt_max = o.max_len - index.ids.levels;  // room for the generated codes

  // Lists: chunk c of batch_size samples on rank c mod world.
  const auto t0 = Clock::now();
  const int64_t n = t.size(), chunks = (n + o.batch_size - 1) / o.batch_size;
  const int64_t world = comm.world(), rank = comm.rank();
  nlohmann::json mine = nlohmann::json::array();
  Progress progress("distill teacher lists", n, ProgressOptions{root, 10.0, "sample"});
  for (int64_t c = rank; c < chunks; c += world) {
    const int64_t lo = c * o.batch_size, hi = std::min(n, lo + o.batch_size);
    std::vector<std::vector<int64_t>> prompts;
    for (int64_t s = lo; s < hi; ++s) {
      const data::Instruction ins =
          data::seqrec_prefix_instruction(d, index.item_tokens, t.users[s], t.ends[s], instructions);
      prompts.push_back(tok::encode_prompt(*tokenizer, ins.prompt, prompt_max));
    }
    const auto hits = eval::generate_hits(lm, prompts, index.trie, token_ids, gen);
    std::vector<int64_t> items((hi - lo) * o.top_k, -1);
    std::vector<double> scores((hi - lo) * o.top_k, 0.0);
    for (int64_t s = 0; s < hi - lo; ++s) {
      for (int64_t k = 0; k < o.top_k && k < static_cast<int64_t>(hits[s].size()); ++k) {
        items[s * o.top_k + k] = hits[s][k].item;
        scores[s * o.top_k + k] = hits[s][k].score;
      }
    }
    mine.push_back({{"chunk", c}, {"items", items}, {"scores", scores}});
    // Every rank decodes about the same number of samples; rank 0's pace stands for all.
    progress.advance(std::min((hi - lo) * world, n - progress.done()));
  }
  progress.finish();
  t.items.assign(n * o.top_k, -1);
  t.scores.assign(n * o.top_k, 0.0f);
  int64_t filled = 0;
  for (const std::string& bytes : comm.allgather_bytes(to_bytes(mine))) {
    for (const auto& chunk : nlohmann::json::from_msgpack(bytes)) {
      const int64_t lo = chunk["chunk"].get<int64_t>() * o.batch_size;
      const auto items = chunk["items"].get<std::vector<int64_t>>();
      const auto scores = chunk["scores"].get<std::vector<double>>();
      for (size_t j = 0; j < items.size(); ++j) {
        t.items[lo * o.top_k + j] = items[j];
        t.scores[lo * o.top_k + j] = static_cast<float>(scores[j]);
      }
      filled += static_cast<int64_t>(items.size()) / o.top_k;
    }
  }
  GREC_CHECK(filled == n, "distill teacher: {} of {} samples gathered", filled, n);
  t.list_wall_s = seconds_since(t0);

  // Item embeddings: the mean last hidden state of each item's title or of its ID tokens.
  const auto e0 = Clock::now();
  const std::vector<std::string> titles = data::build_item_texts(d, {o.text_field});
  t.embedding = resolve_embedding(o.embedding, titles);
  if (t.embedding != "none") {
    LmEncodeOptions eo;
    eo.max_len = o.embed_max_len;
    eo.batch_size = o.batch_size;
    const std::vector<std::string>& texts = t.embedding == "text" ? titles : index.item_tokens;
    t.item_embedding = lm_embed_texts(lm, *tokenizer, texts, eo, &comm);
    t.emb_dim = lm->config().hidden_size;
  }
  t.embed_wall_s = seconds_since(e0);
  return t;
}

void write_teacher(const std::string& path, const TeacherOutputs& t) {
  const std::string tmp = path + ".tmp";
  {
    h5::File f = h5::File::create(tmp);
    const auto n = static_cast<uint64_t>(t.size()), k = static_cast<uint64_t>(t.k);
    f.write_i64("/user", t.users);
    f.write_i64("/end", t.ends);
    f.write_i64("/items", t.items, {n, k});
    f.write_f32("/scores", t.scores, {n, k});
    if (t.emb_dim > 0) {
      f.write_f32("/item_embedding", t.item_embedding,
                  {t.item_embedding.size() / static_cast<uint64_t>(t.emb_dim),
                   static_cast<uint64_t>(t.emb_dim)});
    }
    f.set_attr("/", "format", std::string("grec-distill-teacher"));
    f.set_attr("/", "version", kFormatVersion);
    f.set_attr("/", "key", t.key);
    f.set_attr("/", "embedding", t.embedding);
    f.set_attr("/", "top_k", t.k);
    f.set_attr("/", "list_wall_s", t.list_wall_s);
    f.set_attr("/", "embed_wall_s", t.embed_wall_s);
  }
  std::filesystem::rename(tmp, path);
}

TeacherOutputs read_teacher(const std::string& path, const std::string& expected_key) {
  if (!std::filesystem::exists(path)) user_error("{}: no such teacher file", path);
  if (!h5::is_hdf5(path)) user_error("{}: not an HDF5 file", path);
  h5::File f = h5::File::open(path);
  if (!f.has_attr("/", "format") || f.attr_string("/", "format") != "grec-distill-teacher") {
    user_error("{}: not a grec distill teacher file", path);
  }
  if (f.attr_i64("/", "version") != kFormatVersion) {
    user_error("{}: teacher file version {}, this grec reads version {}", path,
               f.attr_i64("/", "version"), kFormatVersion);
  }
  TeacherOutputs t;
  t.key = f.attr_string("/", "key");
  if (t.key != expected_key) {
    user_error("{}: computed for another dataset, model or teacher config (key {}, this run "
               "needs {}); delete it or point distill.teacher.file elsewhere",
               path, t.key, expected_key);
  }
  t.users = f.read_i64("/user");
  t.ends = f.read_i64("/end");
  t.items = f.read_i64("/items");
  t.scores = f.read_f32("/scores");
  t.k = f.attr_i64("/", "top_k");
  t.embedding = f.attr_string("/", "embedding");
  t.list_wall_s = f.attr_f64("/", "list_wall_s");
  t.embed_wall_s = f.attr_f64("/", "embed_wall_s");
  if (f.exists("/item_embedding")) {
    t.emb_dim = static_cast<int64_t>(f.shape("/item_embedding").at(1));
    t.item_embedding = f.read_f32("/item_embedding");
  }
  const size_t n = t.users.size();
  if (t.k < 1 || t.ends.size() != n || t.items.size() != n * t.k || t.scores.size() != n * t.k) {
    user_error("{}: teacher columns of inconsistent sizes", path);
  }
  return t;
}

}  // namespace grec::stages
