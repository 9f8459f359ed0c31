// Hand-written matchers for the pre-tokenisation regexes of byte-level BPE tokenizers (std::regex
// has no \p{L}): GPT-2's pattern and the Qwen2 / LLaMA-3 family. Each split reproduces the
// leftmost-first, backtracking semantics of the regex (as run by Oniguruma in HF tokenizers).
// Limits: (?i:...) contractions fold ASCII case only; bytes that are not valid UTF-8 count as one
// character in no class (like punctuation).
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace grec::tok {

class PreTokenizer {
 public:
  enum class Kind { kGpt2, kQwen2Family };
  // The known patterns: GPT-2 (also the implicit ByteLevel use_regex=true pattern), Qwen2
  // (\p{N}) and LLaMA-3 (\p{N}{1,3}).
  static const char* gpt2_pattern();
  static const char* qwen2_pattern();
  static const char* llama3_pattern();
  // UserError naming the pattern when it is none of the above.
  static PreTokenizer from_pattern(const std::string& pattern);
  static PreTokenizer gpt2() { return PreTokenizer(Kind::kGpt2, 0); }

  // Byte ranges [begin, end) of the pieces of text[begin, end), covering it exactly.
  void split(const std::string& text, size_t begin, size_t end,
             std::vector<std::pair<size_t, size_t>>* out) const;
  const std::string& pattern() const { return pattern_; }

 private:
  PreTokenizer(Kind kind, int max_digits);
  size_t match_gpt2(const std::string& t, size_t i, size_t end) const;
  size_t match_qwen2(const std::string& t, size_t i, size_t end) const;

  Kind kind_;
  int max_digits_;  // \p{N} repeat limit (1 Qwen2, 3 LLaMA-3); 0 = unbounded \p{N}+ (GPT-2)
  std::string pattern_;
};

}  // namespace grec::tok
