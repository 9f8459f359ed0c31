// BpeTokenizer: HF tokenizer.json byte-level BPE (GPT-2, Qwen2, LLaMA-3 style): added tokens
// matched first, pre-tokenisation regex, GPT-2 byte-to-unicode map, merges by rank, vocab lookup;
// decoding through the inverse byte map.
//
// Behaviour on odd input: encode works on bytes, so invalid UTF-8 is encoded byte by byte and
// decode(encode(x)) == x for every byte string when the vocabulary holds the 256 byte symbols.
// decode returns raw bytes (invalid UTF-8 when the ids cut a character). A normalizer of type NFC
// (Qwen2) is accepted and not applied: exact for NFC input. A piece whose symbols are missing from
// the vocabulary maps to the unk token, or is dropped when there is none (as HF does).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "tokenizer/added_tokens.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/text_tokenizer.h"

namespace grec::tok {

// The GPT-2 byte -> code point map (printable bytes map to themselves, the rest to 256+).
uint32_t byte_to_unicode(unsigned char b);

class BpeTokenizer : public TextTokenizer {
 public:
  // tokenizer.json content and optional tokenizer_config.json content (null when absent);
  // `source` names the file in error messages.
  static std::unique_ptr<BpeTokenizer> from_json(const nlohmann::json& tokenizer,
                                                 const nlohmann::json& config,
                                                 const std::string& source);
  static std::unique_ptr<BpeTokenizer> load(const std::string& dir);

  std::vector<int64_t> encode(const std::string& text, bool add_special = false) const override;
  std::string decode(const std::vector<int64_t>& ids, bool skip_special = false) const override;
  int64_t vocab_size() const override;
  int64_t token_to_id(const std::string& token) const override;
  std::string id_to_token(int64_t id) const override;
  int64_t add_special_tokens(const std::vector<std::string>& tokens) override;
  void save(const std::string& dir) const override;
  int64_t bos_id() const override { return bos_; }
  int64_t eos_id() const override { return eos_; }
  int64_t pad_id() const override { return pad_; }

  const PreTokenizer& pre_tokenizer() const { return pre_; }
  const AddedTokens& added_tokens() const { return added_; }

 private:
  BpeTokenizer() = default;
  void encode_piece(const std::string& text, size_t begin, size_t end,
                    std::vector<int64_t>* out) const;
  void bpe(const std::string& mapped, std::vector<int64_t>* out) const;

  nlohmann::json json_, config_;  // originals, rewritten by save()
  std::unordered_map<std::string, int64_t> vocab_;
  std::vector<std::string> id_to_token_;  // model vocab by id ("" for holes)
  // (left id << 32 | right id) -> (rank, merged id)
  std::unordered_map<uint64_t, std::pair<int32_t, int32_t>> merges_;
  AddedTokens added_;
  PreTokenizer pre_ = PreTokenizer::gpt2();
  bool byte_level_regex_ = true;  // false: no regex split (ByteLevel use_regex=false, no Split)
  bool ignore_merges_ = false;
  int64_t unk_ = -1, bos_ = -1, eos_ = -1, pad_ = -1;
  bool add_bos_ = false, add_eos_ = false;
  int64_t byte_id_[256];  // vocab id of each byte's symbol, -1 when missing
  std::unordered_map<uint32_t, unsigned char> unicode_to_byte_;

  static constexpr size_t kCacheLimit = 1 << 16;
  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<int64_t>> cache_;
};

}  // namespace grec::tok
