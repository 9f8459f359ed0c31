// BpeTokenizer: parsing of HF tokenizer.json (model BPE, pre_tokenizer ByteLevel / Split+ByteLevel,
// added_tokens, post_processor) and byte-level BPE encoding / decoding.
#include "tokenizer/bpe_tokenizer.h"

#include <algorithm>
#include <filesystem>
#include <limits>

#include "core/error.h"
#include "core/fs.h"
#include "tokenizer/tokenizer_files.h"
#include "tokenizer/unicode_class.h"

namespace grec::tok {

uint32_t byte_to_unicode(unsigned char b) {
  // Printable Latin-1 bytes keep their code point; the others (controls, space, 127-160, 173) are
  // numbered from 256 in byte order, so every byte becomes one visible character.
  const auto printable = [](unsigned c) {
    return (c >= 33 && c <= 126) || (c >= 161 && c <= 172) || (c >= 174 && c <= 255);
  };
  if (printable(b)) return b;
  uint32_t n = 0;
  for (unsigned c = 0; c < b; ++c) n += printable(c) ? 0 : 1;
  return 256 + n;
}

namespace {

std::string mapped_bytes(const std::string& text, size_t begin, size_t end) {
  std::string out;
  out.reserve((end - begin) * 2);
  for (size_t i = begin; i < end; ++i) append_utf8(byte_to_unicode(text[i]), &out);
  return out;
}

uint64_t pair_key(int64_t a, int64_t b) {
  return (static_cast<uint64_t>(a) << 32) | static_cast<uint32_t>(b);
}

// The token name of a config entry: "name" or {"content": "name", ...}; "" when absent.
std::string config_token(const nlohmann::json& config, const char* key) {
  if (!config.is_object() || !config.contains(key)) return "";
  const auto& v = config.at(key);
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content")) return v.at("content").get<std::string>();
  return "";
}

}  // namespace

std::unique_ptr<BpeTokenizer> BpeTokenizer::from_json(const nlohmann::json& tj,
                                                      const nlohmann::json& config,
                                                      const std::string& source) {
  std::unique_ptr<BpeTokenizer> t(new BpeTokenizer());
  t->json_ = tj;
  t->config_ = config;
  if (!tj.is_object() || !tj.contains("model")) user_error("{} has no 'model' object", source);
  const auto& model = tj.at("model");
  const std::string type = model.value("type", std::string("BPE"));
  if (type != "BPE") user_error("{}: model type '{}' is not supported (need BPE)", source, type);
  if (!model.contains("vocab") || !model.at("vocab").is_object()) {
    user_error("{}: model.vocab is missing or not an object", source);
  }
  for (const auto& [token, id_json] : model.at("vocab").items()) {
    const int64_t id = id_json.get<int64_t>();
    if (id < 0 || id > std::numeric_limits<int32_t>::max()) {
      user_error("{}: token '{}' has invalid id {}", source, token, id);
    }
    t->vocab_[token] = id;
    if (static_cast<size_t>(id) >= t->id_to_token_.size()) t->id_to_token_.resize(id + 1);
    t->id_to_token_[id] = token;
  }
  const auto vocab_id = [&](const std::string& s) {
    auto it = t->vocab_.find(s);
    return it == t->vocab_.end() ? int64_t{-1} : it->second;
  };
  // Merges: "a b" strings (older files) or ["a", "b"] pairs (tokenizers >= 0.20).
  int32_t rank = 0;
  for (const auto& m : model.value("merges", nlohmann::json::array())) {
    std::string a, b;
    if (m.is_string()) {
      const std::string s = m.get<std::string>();
      const size_t sp = s.find(' ', 1);
      if (sp == std::string::npos) user_error("{}: merge '{}' has no space", source, s);
      a = s.substr(0, sp), b = s.substr(sp + 1);
    } else if (m.is_array() && m.size() == 2) {
      a = m[0].get<std::string>(), b = m[1].get<std::string>();
    } else {
      user_error("{}: merge #{} is neither \"a b\" nor [\"a\", \"b\"]", source, rank);
    }
    const int64_t ia = vocab_id(a), ib = vocab_id(b), im = vocab_id(a + b);
    if (ia < 0 || ib < 0 || im < 0) {
      user_error("{}: merge #{} ('{}' '{}') uses a token missing from the vocab", source, rank, a,
                 b);
    }
    t->merges_.emplace(pair_key(ia, ib), std::make_pair(rank, static_cast<int32_t>(im)));
    ++rank;
  }
  t->ignore_merges_ = model.value("ignore_merges", false);
  if (model.contains("unk_token") && model.at("unk_token").is_string()) {
    t->unk_ = vocab_id(model.at("unk_token").get<std::string>());
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    if (model.contains(key) && !model.at(key).is_null() && model.at(key) != "") {
      user_error("{}: model.{} is not supported by grec's byte-level BPE", source, key);
    }
  }

  // Pre-tokenizer: ByteLevel (GPT-2 regex when use_regex) or Sequence [Split(Regex), ByteLevel].
  const auto& pre = tj.value("pre_tokenizer", nlohmann::json());
  const auto parse_split = [&](const nlohmann::json& split) {
    const auto& pattern = split.at("pattern");
    if (!pattern.contains("Regex")) {
      user_error("{}: Split pre-tokenizer with a string pattern is not supported", source);
    }
    if (split.value("invert", false) || split.value("behavior", std::string("Isolated")) != "Isolated") {
      user_error("{}: Split pre-tokenizer must use behavior Isolated without invert", source);
    }
    t->pre_ = PreTokenizer::from_pattern(pattern.at("Regex").get<std::string>());
    t->byte_level_regex_ = true;
  };
  bool byte_level = false;
  const auto parse_one = [&](const nlohmann::json& p) {
    const std::string ptype = p.value("type", std::string());
    if (ptype == "ByteLevel") {
      byte_level = true;
      if (p.value("add_prefix_space", false)) {
        user_error("{}: ByteLevel add_prefix_space=true is not supported", source);
      }
      if (p.value("use_regex", true)) {
        t->pre_ = PreTokenizer::gpt2();
        t->byte_level_regex_ = true;
      }
    } else if (ptype == "Split") {
      parse_split(p);
    } else {
      user_error("{}: pre-tokenizer '{}' is not supported (grec reads byte-level BPE; use "
                 "tokenizer.model for SentencePiece models)", source, ptype);
    }
  };
  t->byte_level_regex_ = false;
  if (pre.is_object() && pre.value("type", std::string()) == "Sequence") {
    for (const auto& p : pre.at("pretokenizers")) parse_one(p);
  } else if (pre.is_object()) {
    parse_one(pre);
  }
  if (!byte_level) user_error("{}: no ByteLevel pre-tokenizer; only byte-level BPE is supported", source);
  const auto& norm = tj.value("normalizer", nlohmann::json());
  if (norm.is_object() && norm.value("type", std::string()) != "NFC") {
    user_error("{}: normalizer '{}' is not supported", source, norm.value("type", std::string()));
  }

  for (int b = 0; b < 256; ++b) {
    std::string s;
    append_utf8(byte_to_unicode(static_cast<unsigned char>(b)), &s);
    t->byte_id_[b] = vocab_id(s);
    t->unicode_to_byte_[byte_to_unicode(static_cast<unsigned char>(b))] = static_cast<unsigned char>(b);
  }
  for (const auto& a : tj.value("added_tokens", nlohmann::json::array())) {
    t->added_.add(AddedToken::from_json(a));
  }

  // Special ids: tokenizer_config.json names first, then the post-processor template.
  const auto id_of = [&](const std::string& name) { return name.empty() ? -1 : t->token_to_id(name); };
  t->bos_ = id_of(config_token(config, "bos_token"));
  t->eos_ = id_of(config_token(config, "eos_token"));
  t->pad_ = id_of(config_token(config, "pad_token"));
  const auto& post = tj.value("post_processor", nlohmann::json());
  std::vector<nlohmann::json> posts;
  if (post.is_object() && post.value("type", std::string()) == "Sequence") {
    for (const auto& p : post.at("processors")) posts.push_back(p);
  } else if (post.is_object()) {
    posts.push_back(post);
  }
  for (const auto& p : posts) {
    if (p.value("type", std::string()) != "TemplateProcessing") continue;
    const auto& single = p.at("single");
    if (!single.empty() && single.front().contains("SpecialToken")) {
      const int64_t id = id_of(single.front().at("SpecialToken").at("id").get<std::string>());
      if (t->bos_ < 0) t->bos_ = id;
      t->add_bos_ = id >= 0;
    }
  }
  if (config.is_object()) {
    if (config.contains("add_bos_token") && config.at("add_bos_token").is_boolean()) {
      t->add_bos_ = config.at("add_bos_token").get<bool>();
    }
    if (config.contains("add_eos_token") && config.at("add_eos_token").is_boolean()) {
      t->add_eos_ = config.at("add_eos_token").get<bool>();
    }
  }
  return t;
}

std::unique_ptr<BpeTokenizer> BpeTokenizer::load(const std::string& dir) {
  const std::string path = (std::filesystem::path(dir) / "tokenizer.json").string();
  return from_json(read_json_file(path), read_tokenizer_config(dir), path);
}

void BpeTokenizer::bpe(const std::string& mapped, std::vector<int64_t>* out) const {
  // `mapped` is the byte-mapped piece; its symbols are the byte ids.
  if (ignore_merges_) {
    auto it = vocab_.find(mapped);
    if (it != vocab_.end()) {
      out->push_back(it->second);
      return;
    }
  }
  std::vector<int64_t> syms;
  for (size_t i = 0; i < mapped.size();) {
    size_t len;
    const uint32_t cp = decode_utf8(mapped, i, &len);
    auto it = unicode_to_byte_.find(cp);
    syms.push_back(it == unicode_to_byte_.end() ? -1 : byte_id_[it->second]);
    i += len;
  }
  // Repeatedly merge the lowest-ranked adjacent pair, leftmost first (as HF's priority queue).
  while (syms.size() > 1) {
    int32_t best_rank = std::numeric_limits<int32_t>::max(), best_id = -1;
    size_t best_pos = 0;
    for (size_t i = 0; i + 1 < syms.size(); ++i) {
      if (syms[i] < 0 || syms[i + 1] < 0) continue;
      auto it = merges_.find(pair_key(syms[i], syms[i + 1]));
      if (it != merges_.end() && it->second.first < best_rank) {
        best_rank = it->second.first, best_id = it->second.second, best_pos = i;
      }
    }
    if (best_id < 0) break;
    syms[best_pos] = best_id;
    syms.erase(syms.begin() + static_cast<std::ptrdiff_t>(best_pos) + 1);
  }
  for (int64_t s : syms) {
    if (s >= 0) {
      out->push_back(s);
    } else if (unk_ >= 0) {
      out->push_back(unk_);
    }
  }
}

void BpeTokenizer::encode_piece(const std::string& text, size_t begin, size_t end,
                                std::vector<int64_t>* out) const {
  std::string key = text.substr(begin, end - begin);
  {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    auto it = cache_.find(key);
    if (it != cache_.end()) {
      out->insert(out->end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<int64_t> ids;
  bpe(mapped_bytes(text, begin, end), &ids);
  out->insert(out->end(), ids.begin(), ids.end());
  std::lock_guard<std::mutex> lock(cache_mutex_);
  if (cache_.size() >= kCacheLimit) cache_.clear();
  cache_.emplace(std::move(key), std::move(ids));
}

std::vector<int64_t> BpeTokenizer::encode(const std::string& text, bool add_special) const {
  std::vector<int64_t> out;
  if (add_special && add_bos_ && bos_ >= 0) out.push_back(bos_);
  std::vector<std::pair<size_t, size_t>> pieces;
  for (const TextPiece& p : added_.split(text)) {
    if (p.token >= 0) {
      out.push_back(p.token);
      continue;
    }
    if (!byte_level_regex_) {
      encode_piece(text, p.begin, p.end, &out);
      continue;
    }
    pieces.clear();
    pre_.split(text, p.begin, p.end, &pieces);
    for (const auto& [b, e] : pieces) encode_piece(text, b, e, &out);
  }
  if (add_special && add_eos_ && eos_ >= 0) out.push_back(eos_);
  return out;
}

std::string BpeTokenizer::decode(const std::vector<int64_t>& ids, bool skip_special) const {
  std::string out;
  for (int64_t id : ids) {
    if (const AddedToken* a = added_.by_id(id)) {
      if (!(skip_special && a->special)) out += a->content;
      continue;
    }
    if (id < 0 || static_cast<size_t>(id) >= id_to_token_.size() || id_to_token_[id].empty()) {
      user_error("token id {} is not in the vocabulary (size {})", id, vocab_size());
    }
    const std::string& tok = id_to_token_[id];
    for (size_t i = 0; i < tok.size();) {
      size_t len;
      const uint32_t cp = decode_utf8(tok, i, &len);
      auto it = unicode_to_byte_.find(cp);
      if (it != unicode_to_byte_.end()) {
        out.push_back(static_cast<char>(it->second));
      } else {
        out.append(tok, i, len);  // not a byte symbol: keep the text as is
      }
      i += len;
    }
  }
  return out;
}

int64_t BpeTokenizer::vocab_size() const {
  return std::max(static_cast<int64_t>(id_to_token_.size()), added_.max_id() + 1);
}

int64_t BpeTokenizer::token_to_id(const std::string& token) const {
  if (const AddedToken* a = added_.by_content(token)) return a->id;
  auto it = vocab_.find(token);
  return it == vocab_.end() ? -1 : it->second;
}

std::string BpeTokenizer::id_to_token(int64_t id) const {
  if (const AddedToken* a = added_.by_id(id)) return a->content;
  if (id < 0 || static_cast<size_t>(id) >= id_to_token_.size() || id_to_token_[id].empty()) {
    user_error("token id {} is not in the vocabulary (size {})", id, vocab_size());
  }
  return id_to_token_[id];
}

int64_t BpeTokenizer::add_special_tokens(const std::vector<std::string>& tokens) {
  const int64_t added = add_new_special_tokens(added_, *this, tokens);
  if (added > 0) {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    cache_.clear();
  }
  return added;
}

void BpeTokenizer::save(const std::string& dir) const {
  nlohmann::json j = json_;
  nlohmann::json added = nlohmann::json::array();
  std::vector<AddedToken> sorted = added_.tokens();
  std::sort(sorted.begin(), sorted.end(),
            [](const AddedToken& a, const AddedToken& b) { return a.id < b.id; });
  for (const auto& a : sorted) added.push_back(a.to_json());
  j["added_tokens"] = added;
  make_dirs(dir);
  write_file_atomic((std::filesystem::path(dir) / "tokenizer.json").string(), j.dump(2) + "\n");
  write_tokenizer_config(dir, config_, sorted, "PreTrainedTokenizerFast",
                         bos_ >= 0 ? id_to_token(bos_) : "", eos_ >= 0 ? id_to_token(eos_) : "",
                         pad_ >= 0 ? id_to_token(pad_) : "");
}

}  // namespace grec::tok
