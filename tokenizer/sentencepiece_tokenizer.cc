// SentencePieceTokenizer over the isolated SentencePiece module, plus train_sentencepiece_bpe.
#include "tokenizer/sentencepiece_tokenizer.h"

#include <algorithm>
#include <filesystem>

#include "core/error.h"
#include "core/fs.h"
#include "tokenizer/spm/spm_library.h"
#include "tokenizer/tokenizer_files.h"

namespace grec::tok {
namespace fs = std::filesystem;
namespace {

void append_bytes(void* ctx, const char* data, size_t n) {
  static_cast<std::string*>(ctx)->append(data, n);
}

void append_ids(void* ctx, const int* ids, size_t n) {
  auto* out = static_cast<std::vector<int64_t>*>(ctx);
  out->insert(out->end(), ids, ids + n);
}

}  // namespace

SentencePieceTokenizer::~SentencePieceTokenizer() {
  if (sp_) spm_api().free(sp_);
}

bool SentencePieceTokenizer::is_control(int64_t id) const {
  return spm_api().is_control(sp_, static_cast<int>(id)) != 0;
}
bool SentencePieceTokenizer::is_unknown(int64_t id) const {
  return spm_api().is_unknown(sp_, static_cast<int>(id)) != 0;
}
std::string SentencePieceTokenizer::piece(int64_t id) const {
  std::string out;
  spm_api().id_to_piece(sp_, static_cast<int>(id), append_bytes, &out);
  return out;
}

std::unique_ptr<SentencePieceTokenizer> SentencePieceTokenizer::load(const std::string& dir) {
  const std::string path = (fs::path(dir) / "tokenizer.model").string();
  if (!fs::exists(path)) user_error("{} does not exist", path);
  const GrecSpmApi& api = spm_api();
  std::unique_ptr<SentencePieceTokenizer> t(new SentencePieceTokenizer());
  t->model_bytes_ = read_file(path);
  std::string err;
  if (api.load(t->model_bytes_.data(), t->model_bytes_.size(), &t->sp_, append_bytes, &err) != 0) {
    user_error("{} is not a SentencePiece model: {}", path, err);
  }
  t->num_pieces_ = api.piece_size(t->sp_);
  t->bos_ = api.special_id(t->sp_, 0);
  t->eos_ = api.special_id(t->sp_, 1);
  t->pad_ = api.special_id(t->sp_, 2);
  t->config_ = read_tokenizer_config(dir);
  if (t->config_.is_object()) {
    const int64_t n = t->num_pieces();
    std::vector<AddedToken> extra;
    const nlohmann::json decoder =
        t->config_.value("added_tokens_decoder", nlohmann::json::object());
    for (const auto& [id_text, entry] : decoder.items()) {
      AddedToken a = AddedToken::from_json(entry);
      a.id = std::stoll(id_text);
      if (a.id >= n) extra.push_back(a);  // ids below n are the model's own pieces
    }
    std::sort(extra.begin(), extra.end(),
              [](const AddedToken& a, const AddedToken& b) { return a.id < b.id; });
    for (size_t i = 0; i < extra.size(); ++i) {
      if (extra[i].id != n + static_cast<int64_t>(i)) {
        user_error("{}/tokenizer_config.json: added token '{}' has id {}, expected {} (added ids "
                   "must follow the {} model pieces without gaps)",
                   dir, extra[i].content, extra[i].id, n + static_cast<int64_t>(i), n);
      }
      t->added_.add(extra[i]);
    }
    if (t->config_.contains("add_bos_token") && t->config_["add_bos_token"].is_boolean()) {
      t->add_bos_ = t->config_["add_bos_token"].get<bool>();
    }
    if (t->config_.contains("add_eos_token") && t->config_["add_eos_token"].is_boolean()) {
      t->add_eos_ = t->config_["add_eos_token"].get<bool>();
    }
  }
  return t;
}

int64_t SentencePieceTokenizer::num_pieces() const { return num_pieces_; }
int64_t SentencePieceTokenizer::bos_id() const { return bos_; }
int64_t SentencePieceTokenizer::eos_id() const { return eos_; }
int64_t SentencePieceTokenizer::pad_id() const { return pad_; }

std::vector<int64_t> SentencePieceTokenizer::encode(const std::string& text, bool add_special) const {
  std::vector<int64_t> out;
  if (add_special && add_bos_ && bos_id() >= 0) out.push_back(bos_id());
  for (const TextPiece& p : added_.split(text)) {
    if (p.token >= 0) {
      out.push_back(p.token);
      continue;
    }
    std::string err;
    const int rc = spm_api().encode(sp_, text.data() + p.begin, p.end - p.begin, append_ids, &out,
                                    append_bytes, &err);
    GREC_CHECK(rc == 0, "SentencePiece encode failed: {}", err);
  }
  if (add_special && add_eos_ && eos_id() >= 0) out.push_back(eos_id());
  return out;
}

std::string SentencePieceTokenizer::decode(const std::vector<int64_t>& ids, bool skip_special) const {
  std::string out;
  std::vector<int> run;  // consecutive model pieces, decoded together
  const auto flush = [&] {
    if (run.empty()) return;
    std::string err;
    const int rc = spm_api().decode(sp_, run.data(), run.size(), append_bytes, &out, append_bytes, &err);
    GREC_CHECK(rc == 0, "SentencePiece decode failed: {}", err);
    run.clear();
  };
  const int64_t n = num_pieces();
  for (int64_t id : ids) {
    if (const AddedToken* a = added_.by_id(id)) {
      flush();
      if (!(skip_special && a->special)) out += a->content;
    } else if (id < 0 || id >= n) {
      user_error("token id {} is not in the vocabulary (size {})", id, vocab_size());
    } else if (is_control(id)) {
      flush();  // SentencePiece drops control pieces; show them unless skipping specials
      if (!skip_special) out += piece(id);
    } else {
      // A run after an added token is its own SentencePiece sentence, whose leading "▁" the
      // decoder drops as the dummy prefix; inside the text it is a real space.
      if (run.empty() && !out.empty() && piece(id).rfind("\u2581", 0) == 0) out += ' ';
      run.push_back(static_cast<int>(id));
    }
  }
  flush();
  return out;
}

int64_t SentencePieceTokenizer::vocab_size() const {
  return std::max(num_pieces(), added_.max_id() + 1);
}

int64_t SentencePieceTokenizer::token_to_id(const std::string& token) const {
  if (const AddedToken* a = added_.by_content(token)) return a->id;
  const int id = spm_api().piece_to_id(sp_, token.data(), token.size());  // unk when unknown
  return id >= 0 && piece(id) == token ? id : -1;
}

std::string SentencePieceTokenizer::id_to_token(int64_t id) const {
  if (const AddedToken* a = added_.by_id(id)) return a->content;
  if (id < 0 || id >= num_pieces()) {
    user_error("token id {} is not in the vocabulary (size {})", id, vocab_size());
  }
  return piece(id);
}

int64_t SentencePieceTokenizer::add_special_tokens(const std::vector<std::string>& tokens) {
  return add_new_special_tokens(added_, *this, tokens);
}

void SentencePieceTokenizer::save(const std::string& dir) const {
  make_dirs(dir);
  write_file_atomic((fs::path(dir) / "tokenizer.model").string(), model_bytes_);
  std::vector<AddedToken> all;
  // The model's control pieces (<s>, </s>, <pad>...) and unk, then grec's added tokens.
  for (int64_t id = 0; id < num_pieces_; ++id) {
    if (is_control(id) || is_unknown(id)) {
      AddedToken a;
      a.id = id;
      a.content = piece(id);
      all.push_back(a);
    }
  }
  std::vector<AddedToken> extra = added_.tokens();
  std::sort(extra.begin(), extra.end(),
            [](const AddedToken& a, const AddedToken& b) { return a.id < b.id; });
  all.insert(all.end(), extra.begin(), extra.end());
  nlohmann::json base = config_.is_object() ? config_ : nlohmann::json::object();
  if (!base.contains("add_bos_token")) base["add_bos_token"] = add_bos_;
  if (!base.contains("add_eos_token")) base["add_eos_token"] = add_eos_;
  const auto name = [&](int64_t id) { return id >= 0 ? id_to_token(id) : std::string(); };
  write_tokenizer_config(dir, base, all, "LlamaTokenizer", name(bos_id()), name(eos_id()),
                         name(pad_id()));
}

std::unique_ptr<TextTokenizer> train_sentencepiece_bpe(const std::vector<std::string>& texts,
                                                       int64_t vocab_size,
                                                       const std::string& out_dir, uint64_t seed) {
  if (texts.empty()) user_error("cannot train a SentencePiece model on an empty text list");
  // Byte fallback needs the 256 byte pieces plus unk/bos/eos/pad.
  if (vocab_size < 300) user_error("SentencePiece BPE vocab_size {} is below 300 (byte fallback needs 260 ids)", vocab_size);
  make_dirs(out_dir);
  const std::string prefix = (fs::path(out_dir) / "tokenizer").string();
  const GrecSpmApi& api = spm_api();
  const std::vector<std::pair<std::string, std::string>> args = {
      {"model_prefix", prefix},
      {"model_type", "bpe"},
      {"vocab_size", std::to_string(vocab_size)},
      {"byte_fallback", "true"},
      {"character_coverage", "0.9995"},
      {"split_digits", "true"},
      {"hard_vocab_limit", "false"},
      {"max_sentence_length", "65536"},
      {"unk_id", "0"}, {"bos_id", "1"}, {"eos_id", "2"}, {"pad_id", "3"},
      {"num_threads", "1"},
      {"minloglevel", "1"},  // SentencePiece logs every training step at INFO
  };
  std::vector<const char*> flags, ptrs;
  for (const auto& [k, v] : args) {
    flags.push_back(k.c_str());
    flags.push_back(v.c_str());
  }
  std::vector<size_t> lengths;
  for (const std::string& t : texts) {
    ptrs.push_back(t.data());
    lengths.push_back(t.size());
  }
  std::string err;
  if (api.train(ptrs.data(), lengths.data(), ptrs.size(), flags.data(), flags.size(),
                static_cast<unsigned>(seed), append_bytes, &err) != 0) {
    user_error("SentencePiece training failed: {}", err);
  }
  std::error_code ec;
  fs::remove(prefix + ".vocab", ec);
  auto tok = SentencePieceTokenizer::load(out_dir);
  tok->save(out_dir);  // writes tokenizer_config.json with the special tokens
  return tok;
}

}  // namespace grec::tok
