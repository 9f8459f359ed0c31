// AddedTokens: the added / special tokens of a text tokenizer and the matcher that finds them in
// raw text before any pre-tokenisation, so each one stays a single, never-split token. Shared by
// the BPE and SentencePiece tokenizers.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "tokenizer/text_tokenizer.h"

#include <nlohmann/json.hpp>

namespace grec::tok {

struct AddedToken {
  int64_t id = -1;
  std::string content;
  bool special = true;
  // Kept only to be written back; grec matches the exact content (HF's lstrip/rstrip/single_word
  // options are not applied when encoding).
  bool lstrip = false, rstrip = false, single_word = false, normalized = false;

  nlohmann::json to_json() const;  // HF added_tokens entry
  static AddedToken from_json(const nlohmann::json& j);
};

// A text piece: either plain text [begin, end) or an added token (token >= 0).
struct TextPiece {
  size_t begin, end;
  int64_t token;
};

class AddedTokens {
 public:
  // Adds a token (no-op returning false when the content is already present).
  bool add(const AddedToken& token);
  const std::vector<AddedToken>& tokens() const { return tokens_; }
  const AddedToken* by_content(const std::string& content) const;
  const AddedToken* by_id(int64_t id) const;
  int64_t max_id() const;  // -1 when empty
  // Splits text at leftmost-longest occurrences of the added tokens.
  std::vector<TextPiece> split(const std::string& text) const;

 private:
  struct Node {
    std::vector<std::pair<unsigned char, int32_t>> next;  // sorted by byte
    int64_t token = -1;                                    // id ending here
  };
  int32_t child(int32_t node, unsigned char b) const;

  std::vector<AddedToken> tokens_;
  std::unordered_map<std::string, size_t> by_content_;
  std::unordered_map<int64_t, size_t> by_id_;
  std::vector<Node> trie_{Node{}};
  bool first_byte_[256] = {};
};

// TextTokenizer::add_special_tokens for tokenizers that keep their added tokens in `added`: each
// token `tok` does not know yet becomes a special token with the next free id (tok.vocab_size()
// at that moment); returns how many were new.
int64_t add_new_special_tokens(AddedTokens& added, const TextTokenizer& tok,
                               const std::vector<std::string>& tokens);

}  // namespace grec::tok
