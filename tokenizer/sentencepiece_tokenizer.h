// SentencePieceTokenizer: a SentencePiece tokenizer.model (through libsentencepiece, loaded in
// isolation by spm/spm_library.h) with grec's
// added special tokens around it: they are matched in the raw text first and never split, and get
// the ids after the model's pieces. Also SentencePiece BPE training for LMs trained from scratch.
//
// Text between two added tokens is encoded as its own SentencePiece sentence, so it gets the
// model's dummy-prefix "▁" and whitespace normalisation (as HF's slow LLaMA tokenizer does).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tokenizer/added_tokens.h"
#include "tokenizer/text_tokenizer.h"

struct GrecSpm;

namespace grec::tok {

class SentencePieceTokenizer : public TextTokenizer {
 public:
  // Loads dir/tokenizer.model and, when present, dir/tokenizer_config.json (added tokens with ids
  // from the piece count on, add_bos_token / add_eos_token).
  static std::unique_ptr<SentencePieceTokenizer> load(const std::string& dir);
  ~SentencePieceTokenizer() override;

  std::vector<int64_t> encode(const std::string& text, bool add_special = false) const override;
  std::string decode(const std::vector<int64_t>& ids, bool skip_special = false) const override;
  int64_t vocab_size() const override;
  int64_t token_to_id(const std::string& token) const override;
  std::string id_to_token(int64_t id) const override;
  int64_t add_special_tokens(const std::vector<std::string>& tokens) override;
  void save(const std::string& dir) const override;
  int64_t bos_id() const override;
  int64_t eos_id() const override;
  int64_t pad_id() const override;

  int64_t num_pieces() const;  // ids of the SentencePiece model proper

 private:
  SentencePieceTokenizer() = default;
  bool is_control(int64_t id) const;
  bool is_unknown(int64_t id) const;
  std::string piece(int64_t id) const;

  GrecSpm* sp_ = nullptr;  // owned; freed through the module
  int64_t num_pieces_ = 0, bos_ = -1, eos_ = -1, pad_ = -1;
  std::string model_bytes_;
  AddedTokens added_;
  nlohmann::json config_;
  bool add_bos_ = true, add_eos_ = false;
};

}  // namespace grec::tok
