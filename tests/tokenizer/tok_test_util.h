// Test helpers for the text tokenizers: a hand-made byte-level BPE tokenizer.json whose byte
// symbols have id = byte value, so expected ids can be derived by hand, and a file writer.
#pragma once

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace grec::test {

// The GPT-2 byte map, written here independently of tokenizer/bpe_tokenizer.cc.
inline std::string gpt2_byte_symbol(int b) {
  std::vector<int> printable;
  for (int c = '!'; c <= '~'; ++c) printable.push_back(c);
  for (int c = 0xA1; c <= 0xAC; ++c) printable.push_back(c);
  for (int c = 0xAE; c <= 0xFF; ++c) printable.push_back(c);
  int cp = -1, n = 0;
  for (int c = 0; c < 256; ++c) {
    const bool p = std::find(printable.begin(), printable.end(), c) != printable.end();
    if (c == b) cp = p ? c : 256 + n;
    if (!p) ++n;
  }
  std::string s;  // code points here are < 0x800: one or two UTF-8 bytes
  if (cp < 0x80) {
    s.push_back(static_cast<char>(cp));
  } else {
    s.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
  return s;
}

inline void write_file(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

// A byte-level BPE tokenizer.json: ids 0-255 = bytes, merges below (ids 256+ in rank order),
// added tokens <|endoftext|> = 300 (special) and <extra> = 301 (not special).
// `pattern` is the Split regex (empty: plain ByteLevel with the GPT-2 regex); `list_merges`
// writes merges as ["a", "b"] instead of "a b".
inline nlohmann::json hand_made_tokenizer(const std::string& pattern, bool list_merges) {
  nlohmann::json vocab = nlohmann::json::object();
  for (int b = 0; b < 256; ++b) vocab[gpt2_byte_symbol(b)] = b;
  // Merges in byte-symbol spelling: "Ġ" is space, "Ã" "©" are é's bytes C3 A9, "ä" "¸" "Ń"
  // are 中's bytes E4 B8 AD.
  const std::vector<std::pair<std::string, std::string>> merges = {
      {"h", "e"},   {"l", "l"},    {"he", "ll"},  {"hell", "o"}, {"Ġ", "w"},  {"o", "r"},
      {"Ġw", "or"}, {"l", "d"},    {"Ġwor", "ld"}, {"Ã", "©"},   {"c", "a"},  {"ca", "f"},
      {"caf", "Ã©"}, {"ä", "¸"},   {"ä¸", "Ń"},   {"i", "t"},    {"'", "s"}};
  nlohmann::json jm = nlohmann::json::array();
  int64_t id = 256;
  for (const auto& [a, b] : merges) {
    vocab[a + b] = id++;
    if (list_merges) {
      jm.push_back({a, b});
    } else {
      jm.push_back(a + " " + b);
    }
  }
  nlohmann::json j;
  j["version"] = "1.0";
  j["truncation"] = nullptr;
  j["padding"] = nullptr;
  j["added_tokens"] = {
      {{"id", 300}, {"content", "<|endoftext|>"}, {"single_word", false}, {"lstrip", false},
       {"rstrip", false}, {"normalized", false}, {"special", true}},
      {{"id", 301}, {"content", "<extra>"}, {"single_word", false}, {"lstrip", false},
       {"rstrip", false}, {"normalized", true}, {"special", false}}};
  j["normalizer"] = nullptr;
  if (pattern.empty()) {
    j["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", false},
                          {"trim_offsets", true}, {"use_regex", true}};
  } else {
    j["normalizer"] = {{"type", "NFC"}};
    j["pre_tokenizer"] = {
        {"type", "Sequence"},
        {"pretokenizers",
         {{{"type", "Split"}, {"pattern", {{"Regex", pattern}}}, {"behavior", "Isolated"},
           {"invert", false}},
          {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false},
           {"use_regex", false}}}}};
  }
  j["post_processor"] = {{"type", "ByteLevel"}, {"add_prefix_space", false},
                         {"trim_offsets", false}, {"use_regex", false}};
  j["decoder"] = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true},
                  {"use_regex", true}};
  j["model"] = {{"type", "BPE"},          {"dropout", nullptr},  {"unk_token", nullptr},
                {"continuing_subword_prefix", ""}, {"end_of_word_suffix", ""},
                {"fuse_unk", false},      {"byte_fallback", false}, {"ignore_merges", false},
                {"vocab", vocab},         {"merges", jm}};
  return j;
}

}  // namespace grec::test
