// The serving bundle's writer and reader; see bundle.h.
#include "export/bundle.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "export/sha256.h"
#include "export/student.h"
#include "export/trie_file.h"
#include "tokenizer/vocab_extension.h"

namespace grec::bundle {
namespace fs = std::filesystem;
namespace {

nlohmann::json parse_json_file(const std::string& path) {
  try {
    return nlohmann::json::parse(read_file(path));
  } catch (const nlohmann::json::exception& e) {
    user_error("{} is not valid JSON ({})", path, e.what());
  }
}

void write_json(const std::string& path, const nlohmann::json& j) {
  write_file_atomic(path, j.dump(2) + "\n");
}

std::vector<int64_t> item_codes(const std::vector<BundleItem>& items, int64_t levels) {
  std::vector<int64_t> codes;
  codes.reserve(items.size() * levels);
  for (const auto& it : items) codes.insert(codes.end(), it.codes.begin(), it.codes.end());
  return codes;
}

void write_items(const std::string& path, const std::vector<BundleItem>& items) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    const auto& it = items[i];
    out += nlohmann::json({{"id", i}, {"raw_id", it.raw_id}, {"title", it.title},
                           {"semantic_id", it.codes}, {"tokens", it.tokens}})
               .dump() +
           "\n";
  }
  write_file_atomic(path, out);
}

std::vector<BundleItem> read_items(const std::string& path) {
  std::ifstream in(path);
  if (!in) user_error("cannot read {}", path);
  std::vector<BundleItem> items;
  std::string line;
  int64_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.empty()) continue;
    try {
      const auto j = nlohmann::json::parse(line);
      if (j.at("id").get<int64_t>() != static_cast<int64_t>(items.size())) {
        user_error("{}:{}: id {} out of order (expected {})", path, line_no,
                   j.at("id").get<int64_t>(), items.size());
      }
      BundleItem it;
      it.raw_id = j.at("raw_id").get<std::string>();
      it.title = j.value("title", "");
      it.codes = j.at("semantic_id").get<std::vector<int64_t>>();
      it.tokens = j.at("tokens").get<std::string>();
      items.push_back(std::move(it));
    } catch (const nlohmann::json::exception& e) {
      user_error("{}:{}: {}", path, line_no, e.what());
    }
  }
  if (items.empty()) user_error("{} holds no item", path);
  return items;
}

nlohmann::json prompt_json(const PromptFormat& p, int64_t num_beams, int64_t levels) {
  return {{"format", "grec-seqrec-prompt"},
          {"version", 1},
          {"prefix", p.prefix},
          {"suffix", p.suffix},
          {"separator", p.separator},
          {"max_history", p.max_history},
          {"max_prompt_tokens", p.max_prompt_tokens},
          {"num_beams", num_beams},
          {"id_tokens", levels},
          {"note", "prompt = prefix + the last max_history items' tokens (items.jsonl) joined by "
                   "separator + suffix; ids = bos (llm/generation_config.json bos_token_id, when "
                   "there is one) + the prompt's ids cut from the left so that at most "
                   "max_prompt_tokens ids remain; then constrained beam search over "
                   "trie.json for id_tokens tokens"}};
}

// Every regular file under `root` except manifest.json, as paths relative to it, sorted.
std::vector<std::string> bundle_files(const std::string& root) {
  std::vector<std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    if (!e.is_regular_file()) continue;
    const std::string rel = fs::relative(e.path(), root).generic_string();
    if (rel != "manifest.json") files.push_back(rel);
  }
  std::sort(files.begin(), files.end());
  return files;
}

// Writes the LLM folder and returns its vocabulary ids of the semantic-ID tokens.
std::vector<std::vector<int64_t>> write_llm(const BundleContents& c, const std::string& dir,
                                            const ExportOptions& options, int64_t levels) {
  if (options.dtype != "fp32" && options.dtype != "bf16") {
    user_error("export dtype must be fp32 or bf16 (got '{}')", options.dtype);
  }
  model::CausalLM lm = model::load_hf(c.llm_dir, options.dtype == "bf16" ? torch::kBFloat16 : torch::kFloat32);
  auto tokenizer = tok::load_tokenizer(c.llm_dir);
  const auto token_ids = tok::semantic_token_ids(*tokenizer, c.level_sizes);
  model::save_hf(lm, dir, options.max_shard_bytes);
  tokenizer->save(dir);
  // The written tokenizer must give every semantic-ID token the id the model was trained with.
  const auto reread = tok::semantic_token_ids(*tok::load_tokenizer(dir), c.level_sizes);
  GREC_CHECK(reread == token_ids, "the exported tokenizer in {} changed semantic-ID token ids", dir);
  const auto& cfg = lm->config();
  nlohmann::json gen = {{"do_sample", false},
                        {"num_beams", c.num_beams},
                        {"num_return_sequences", c.num_beams},
                        {"max_new_tokens", levels},
                        {"length_penalty", 0.0},
                        {"early_stopping", true}};
  if (cfg.bos_token_id >= 0) gen["bos_token_id"] = cfg.bos_token_id;
  if (cfg.eos_token_id >= 0) gen["eos_token_id"] = cfg.eos_token_id;
  if (cfg.pad_token_id >= 0) gen["pad_token_id"] = cfg.pad_token_id;
  write_json(dir + "/generation_config.json", gen);
  return token_ids;
}

void check_contents(const BundleContents& c) {
  if (c.items.empty()) user_error("export: the run has no item");
  if (c.llm_dir.empty() && c.student_dir.empty()) {
    user_error("export: the run has neither an aligned LLM (artifacts/align/model) nor a student "
               "(artifacts/sasrec/model.safetensors): run the pipeline first");
  }
  const size_t levels = c.level_sizes.size();
  for (size_t i = 0; i < c.items.size(); ++i) {
    GREC_CHECK(c.items[i].codes.size() == levels, "item {} has {} codes for {} levels", i,
               c.items[i].codes.size(), levels);
  }
}

}  // namespace

std::string PromptFormat::fill(const std::vector<std::string>& history_tokens) const {
  std::string out = prefix;
  const size_t n = history_tokens.size();
  const size_t from = n > static_cast<size_t>(max_history) ? n - max_history : 0;
  for (size_t i = from; i < n; ++i) out += (i > from ? separator : "") + history_tokens[i];
  return out + suffix;
}

int64_t Bundle::item_of(const std::string& raw_id) const {
  const auto it = by_raw_id.find(raw_id);
  return it == by_raw_id.end() ? -1 : it->second;
}

nlohmann::json write_bundle(const BundleContents& c, const std::string& out,
                            const ExportOptions& options) {
  check_contents(c);
  if (fs::exists(out) && !options.overwrite) {
    user_error("{} already exists: choose another --out or pass --force to replace it", out);
  }
  const int64_t levels = static_cast<int64_t>(c.level_sizes.size());
  const std::string tmp = out + ".tmp." + std::to_string(::getpid());
  fs::remove_all(tmp);
  make_dirs(tmp);
  try {
    write_items(tmp + "/items.jsonl", c.items);
    const tok::PrefixTrie trie =
        tok::PrefixTrie::build(item_codes(c.items, levels), static_cast<int64_t>(c.items.size()), levels);
    nlohmann::json models = nlohmann::json::array();
    std::vector<std::vector<int64_t>> token_ids;
    if (!c.llm_dir.empty()) {
      GREC_INFO("export: LLM from {} ({})", c.llm_dir, options.dtype);
      token_ids = write_llm(c, tmp + "/llm", options, levels);
      write_json(tmp + "/prompt.json", prompt_json(c.prompt, c.num_beams, levels));
      models.push_back("llm");
    }
    write_json(tmp + "/trie.json", trie_to_json(trie, c.level_sizes, token_ids.empty() ? nullptr : &token_ids));
    if (!c.student_dir.empty()) {
      GREC_INFO("export: student from {}", c.student_dir);
      make_dirs(tmp + "/student");
      for (const char* f : {"model.safetensors", "config.json"}) {
        const std::string src = c.student_dir + "/" + f;
        if (!fs::exists(src)) user_error("export: {} does not exist", src);
        fs::copy_file(src, tmp + "/student/" + f);
      }
      const model::SASRec s = load_student(tmp + "/student");  // refuses a broken student now
      if (s->options().num_items() != static_cast<int64_t>(c.items.size())) {
        user_error("export: the student in {} was trained on {} items but the run has {}",
                   c.student_dir, s->options().num_items(), c.items.size());
      }
      models.push_back("student");
    }
    nlohmann::json manifest = c.provenance.is_object() ? c.provenance : nlohmann::json::object();
    manifest["format"] = "grec-bundle";
    manifest["version"] = kBundleVersion;
    manifest["models"] = models;
    manifest["num_items"] = c.items.size();
    manifest["semantic_id_levels"] = c.level_sizes;
    manifest["llm_dtype"] = c.llm_dir.empty() ? nlohmann::json(nullptr) : nlohmann::json(options.dtype);
    nlohmann::json files = nlohmann::json::object();
    for (const std::string& rel : bundle_files(tmp)) {
      int64_t bytes = 0;
      const std::string sha = sha256_file(tmp + "/" + rel, &bytes);
      files[rel] = {{"sha256", sha}, {"bytes", bytes}};
    }
    manifest["files"] = files;
    write_json(tmp + "/manifest.json", manifest);
    // Into place: the old bundle (with --force) is moved aside first, then removed.
    const std::string old = out + ".old." + std::to_string(::getpid());
    if (fs::exists(out)) fs::rename(out, old);
    if (const auto parent = fs::path(out).parent_path(); !parent.empty()) make_dirs(parent.string());
    fs::rename(tmp, out);
    fs::remove_all(old);
    return manifest;
  } catch (...) {
    std::error_code ec;
    fs::remove_all(tmp, ec);
    throw;
  }
}

std::shared_ptr<const Bundle> load_bundle(const std::string& dir, const LoadOptions& options) {
  const std::string manifest_path = dir + "/manifest.json";
  if (!fs::exists(manifest_path)) {
    user_error("{} is not a grec bundle (no manifest.json; make one with `grec export RUN_DIR --out {}`)",
               dir, dir);
  }
  auto b = std::make_shared<Bundle>();
  b->dir = dir;
  b->manifest = parse_json_file(manifest_path);
  const auto& m = b->manifest;
  if (m.value("format", "") != "grec-bundle") user_error("{} is not a grec bundle manifest", manifest_path);
  if (m.value("version", -1) != kBundleVersion) {
    user_error("{} has bundle version {}; this grec reads version {}", manifest_path,
               m.value("version", -1), kBundleVersion);
  }
  if (!m.contains("files") || !m["files"].is_object()) user_error("{} lists no files", manifest_path);
  for (const auto& [rel, info] : m["files"].items()) {
    const std::string path = dir + "/" + rel;
    if (!fs::exists(path)) user_error("bundle {}: {} is missing (listed in manifest.json)", dir, rel);
    int64_t bytes = static_cast<int64_t>(fs::file_size(path));
    if (bytes != info.value("bytes", int64_t{-1})) {
      user_error("bundle {}: {} has {} bytes but manifest.json says {}: the file is corrupt", dir,
                 rel, bytes, info.value("bytes", int64_t{-1}));
    }
    if (options.verify && sha256_file(path) != info.value("sha256", "")) {
      user_error("bundle {}: {} does not match its sha256 in manifest.json: the file is corrupt", dir, rel);
    }
  }
  b->items = read_items(dir + "/items.jsonl");
  for (size_t i = 0; i < b->items.size(); ++i) {
    if (!b->by_raw_id.emplace(b->items[i].raw_id, static_cast<int64_t>(i)).second) {
      user_error("{}/items.jsonl: raw id '{}' appears twice", dir, b->items[i].raw_id);
    }
  }
  const auto level_sizes = m.at("semantic_id_levels").get<std::vector<int64_t>>();
  const int64_t levels = static_cast<int64_t>(level_sizes.size());
  int64_t trie_levels = 0;
  const auto trie_codes = trie_json_codes(parse_json_file(dir + "/trie.json"), dir + "/trie.json", &trie_levels);
  const auto codes = item_codes(b->items, levels);
  if (trie_levels != levels || trie_codes != codes) {
    user_error("bundle {}: trie.json and items.jsonl disagree on the items' semantic IDs", dir);
  }
  b->trie = tok::PrefixTrie::build(codes, static_cast<int64_t>(b->items.size()), levels);
  const auto models = m.value("models", nlohmann::json::array());
  const auto has = [&](const char* name) {
    return std::find(models.begin(), models.end(), name) != models.end();
  };
  if (options.llm && has("llm")) {
    const std::string llm_dir = dir + "/llm";
    b->llm = model::load_hf(llm_dir);
    b->llm->eval();
    b->tokenizer = tok::load_tokenizer(llm_dir);
    b->token_ids = tok::semantic_token_ids(*b->tokenizer, level_sizes);
    const auto p = parse_json_file(dir + "/prompt.json");
    try {
      b->prompt.prefix = p.at("prefix").get<std::string>();
      b->prompt.suffix = p.at("suffix").get<std::string>();
      b->prompt.separator = p.at("separator").get<std::string>();
      b->prompt.max_history = p.at("max_history").get<int64_t>();
      b->prompt.max_prompt_tokens = p.at("max_prompt_tokens").get<int64_t>();
      b->num_beams = p.at("num_beams").get<int64_t>();
    } catch (const nlohmann::json::exception& e) {
      user_error("{}/prompt.json: {}", dir, e.what());
    }
  }
  if (options.student && has("student")) {
    b->student = load_student(dir + "/student");
    if (b->student->options().num_items() != static_cast<int64_t>(b->items.size())) {
      user_error("bundle {}: the student has {} items but items.jsonl has {}", dir,
                 b->student->options().num_items(), b->items.size());
    }
  }
  return b;
}

}  // namespace grec::bundle
