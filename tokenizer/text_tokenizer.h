// TextTokenizer: the common interface of grec's text tokenizers (HF tokenizer.json byte-level BPE
// and SentencePiece tokenizer.model), with loading from a model folder and SentencePiece training
// for LMs trained from scratch. Torch-free.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace grec::tok {

class TextTokenizer {
 public:
  virtual ~TextTokenizer() = default;

  // Text -> ids. Added/special tokens present in the text are matched first and never split.
  // add_special prepends bos (when the tokenizer has one and its config asks for it) and, for
  // SentencePiece, follows the model's add_bos convention.
  virtual std::vector<int64_t> encode(const std::string& text, bool add_special = false) const = 0;
  // Ids -> text. skip_special drops special tokens. Ids outside the vocabulary throw UserError.
  virtual std::string decode(const std::vector<int64_t>& ids, bool skip_special = false) const = 0;
  // Number of ids in use (highest id + 1, including added tokens). The model's embedding may be
  // larger (see vocab_extension.h padded_vocab_size).
  virtual int64_t vocab_size() const = 0;
  virtual int64_t token_to_id(const std::string& token) const = 0;  // -1 if none
  virtual std::string id_to_token(int64_t id) const = 0;            // UserError when out of range
  // Each new token becomes one never-split special token with the next free id; returns how many
  // were new (tokens already in the vocabulary keep their id).
  virtual int64_t add_special_tokens(const std::vector<std::string>& tokens) = 0;
  // Writes tokenizer.json (BPE) or tokenizer.model + added_tokens (SentencePiece), plus
  // tokenizer_config.json listing the added tokens, into `dir` (created when missing).
  virtual void save(const std::string& dir) const = 0;

  // Special ids, -1 when the tokenizer has none.
  virtual int64_t bos_id() const = 0;
  virtual int64_t eos_id() const = 0;
  virtual int64_t pad_id() const = 0;
};

// Loads `dir/tokenizer.json` (byte-level BPE) or, when absent, `dir/tokenizer.model`
// (SentencePiece), with `dir/tokenizer_config.json` (bos/eos/pad names, add_bos_token) when present.
// UserError when neither exists or the file is not supported.
std::unique_ptr<TextTokenizer> load_tokenizer(const std::string& dir);

// Trains a SentencePiece BPE model (byte fallback on) on `texts` with the given vocabulary size
// and seed, writes out_dir/tokenizer.model (+ tokenizer_config.json) and returns it loaded.
std::unique_ptr<TextTokenizer> train_sentencepiece_bpe(const std::vector<std::string>& texts,
                                                       int64_t vocab_size,
                                                       const std::string& out_dir, uint64_t seed);

}  // namespace grec::tok
