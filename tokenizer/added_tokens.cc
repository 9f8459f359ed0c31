// AddedTokens: byte trie over added-token contents with a leftmost-longest scan.
#include "tokenizer/added_tokens.h"

#include <algorithm>

#include "core/error.h"

namespace grec::tok {

nlohmann::json AddedToken::to_json() const {
  return {{"id", id},         {"content", content},         {"single_word", single_word},
          {"lstrip", lstrip}, {"rstrip", rstrip},           {"normalized", normalized},
          {"special", special}};
}

AddedToken AddedToken::from_json(const nlohmann::json& j) {
  AddedToken t;
  t.id = j.value("id", int64_t{-1});
  t.content = j.at("content").get<std::string>();
  t.special = j.value("special", false);
  t.lstrip = j.value("lstrip", false);
  t.rstrip = j.value("rstrip", false);
  t.single_word = j.value("single_word", false);
  t.normalized = j.value("normalized", false);
  return t;
}

int32_t AddedTokens::child(int32_t node, unsigned char b) const {
  const auto& next = trie_[node].next;
  auto it = std::lower_bound(next.begin(), next.end(), std::make_pair(b, int32_t{-1}));
  return it != next.end() && it->first == b ? it->second : -1;
}

bool AddedTokens::add(const AddedToken& token) {
  if (token.content.empty()) user_error("added token with id {} has empty content", token.id);
  if (by_content_.count(token.content)) return false;
  if (by_id_.count(token.id)) {
    user_error("added token '{}' reuses id {} of '{}'", token.content, token.id,
               tokens_[by_id_.at(token.id)].content);
  }
  by_content_[token.content] = tokens_.size();
  by_id_[token.id] = tokens_.size();
  tokens_.push_back(token);
  int32_t node = 0;
  for (unsigned char b : token.content) {
    int32_t c = child(node, b);
    if (c < 0) {
      c = static_cast<int32_t>(trie_.size());
      trie_.emplace_back();
      auto& next = trie_[node].next;
      next.insert(std::lower_bound(next.begin(), next.end(), std::make_pair(b, int32_t{-1})),
                  {b, c});
    }
    node = c;
  }
  trie_[node].token = token.id;
  first_byte_[static_cast<unsigned char>(token.content[0])] = true;
  return true;
}

const AddedToken* AddedTokens::by_content(const std::string& content) const {
  auto it = by_content_.find(content);
  return it == by_content_.end() ? nullptr : &tokens_[it->second];
}

const AddedToken* AddedTokens::by_id(int64_t id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &tokens_[it->second];
}

int64_t AddedTokens::max_id() const {
  int64_t m = -1;
  for (const auto& t : tokens_) m = std::max(m, t.id);
  return m;
}

std::vector<TextPiece> AddedTokens::split(const std::string& text) const {
  std::vector<TextPiece> out;
  size_t plain = 0, pos = 0;
  while (pos < text.size()) {
    if (first_byte_[static_cast<unsigned char>(text[pos])]) {
      // Longest token starting at pos.
      int32_t node = 0;
      int64_t best = -1;
      size_t best_end = pos;
      for (size_t i = pos; i < text.size(); ++i) {
        node = child(node, static_cast<unsigned char>(text[i]));
        if (node < 0) break;
        if (trie_[node].token >= 0) best = trie_[node].token, best_end = i + 1;
      }
      if (best >= 0) {
        if (plain < pos) out.push_back({plain, pos, -1});
        out.push_back({pos, best_end, best});
        pos = plain = best_end;
        continue;
      }
    }
    ++pos;
  }
  if (plain < text.size()) out.push_back({plain, text.size(), -1});
  return out;
}

int64_t add_new_special_tokens(AddedTokens& added, const TextTokenizer& tok,
                               const std::vector<std::string>& tokens) {
  int64_t count = 0;
  for (const std::string& s : tokens) {
    if (tok.token_to_id(s) >= 0) continue;
    AddedToken a;
    a.id = tok.vocab_size();
    a.content = s;
    a.special = true;
    count += added.add(a) ? 1 : 0;
  }
  return count;
}

}  // namespace grec::tok
