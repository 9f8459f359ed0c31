// Pre-tokenisation regex matchers (see pre_tokenizer.h). Each match_* returns the end of the
// regex match starting at i, trying the alternatives in the pattern's order.
#include "tokenizer/pre_tokenizer.h"

#include "core/error.h"
#include "tokenizer/unicode_class.h"

namespace grec::tok {
namespace {

constexpr const char* kGpt2 =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
constexpr const char* kQwen2 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr const char* kLlama3 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

// Code point at i (kInvalidCodePoint past the end) and its byte length.
struct Cursor {
  const std::string& t;
  size_t end;
  uint32_t at(size_t i, size_t* len) const {
    if (i >= end) {
      *len = 0;
      return kInvalidCodePoint;
    }
    return decode_utf8(t, i, len);
  }
};

bool is_punct(uint32_t cp) {  // [^\s\p{L}\p{N}]
  return !is_whitespace(cp) && !is_letter(cp) && !is_number(cp);
}

// Contraction at i ('s 't 're 've 'm 'll 'd): its end or 0 when none.
size_t match_contraction(const std::string& t, size_t i, size_t end, bool fold_case) {
  if (t[i] != '\'') return 0;
  const auto c = [&](size_t k) -> char {
    if (i + k >= end) return 0;
    const char x = t[i + k];
    return fold_case && x >= 'A' && x <= 'Z' ? static_cast<char>(x - 'A' + 'a') : x;
  };
  const char a = c(1), b = c(2);
  if (a == 's' || a == 't' || a == 'm' || a == 'd') return i + 2;
  if ((a == 'r' || a == 'v') && b == 'e') return i + 3;
  if (a == 'l' && b == 'l') return i + 3;
  return 0;
}

template <typename Pred>
size_t run(const Cursor& c, size_t i, Pred pred, int max_count = 0) {
  size_t len;
  int n = 0;
  while (i < c.end && (max_count == 0 || n < max_count) && pred(c.at(i, &len))) i += len, ++n;
  return i;
}

// \s+(?!\S) then \s+ over the whitespace run starting at i (which is whitespace).
size_t match_space_run(const Cursor& c, size_t i) {
  size_t j = run(c, i, is_whitespace);
  if (j == c.end) return j;
  // Give back the last whitespace character so the next piece starts with it, when possible.
  size_t last = i, len;
  for (size_t k = i; k < j; k += len) {
    c.at(k, &len);
    last = k;
  }
  return last > i ? last : j;
}

}  // namespace

const char* PreTokenizer::gpt2_pattern() { return kGpt2; }
const char* PreTokenizer::qwen2_pattern() { return kQwen2; }
const char* PreTokenizer::llama3_pattern() { return kLlama3; }

PreTokenizer::PreTokenizer(Kind kind, int max_digits) : kind_(kind), max_digits_(max_digits) {
  pattern_ = kind == Kind::kGpt2 ? kGpt2 : (max_digits == 3 ? kLlama3 : kQwen2);
}

PreTokenizer PreTokenizer::from_pattern(const std::string& pattern) {
  if (pattern == kGpt2) return PreTokenizer(Kind::kGpt2, 0);
  if (pattern == kQwen2) return PreTokenizer(Kind::kQwen2Family, 1);
  if (pattern == kLlama3) return PreTokenizer(Kind::kQwen2Family, 3);
  user_error(
      "unsupported pre-tokenizer regex '{}' in tokenizer.json (grec supports the GPT-2, Qwen2 and "
      "LLaMA-3 patterns)",
      pattern);
}

size_t PreTokenizer::match_gpt2(const std::string& t, size_t i, size_t end) const {
  const Cursor c{t, end};
  if (size_t e = match_contraction(t, i, end, false)) return e;
  size_t len0, len1;
  uint32_t c0 = c.at(i, &len0);
  size_t j = i;
  if (c0 == ' ') {  // " ?" then a class: the optional space binds to the following run
    uint32_t c1 = c.at(i + 1, &len1);
    if (is_letter(c1)) return run(c, i + 1, is_letter);
    if (is_number(c1)) return run(c, i + 1, is_number);
    if (i + 1 < end && is_punct(c1)) return run(c, i + 1, is_punct);
  } else {
    if (is_letter(c0)) return run(c, j, is_letter);
    if (is_number(c0)) return run(c, j, is_number);
    if (is_punct(c0)) return run(c, j, is_punct);
  }
  return match_space_run(c, i);
}

size_t PreTokenizer::match_qwen2(const std::string& t, size_t i, size_t end) const {
  const Cursor c{t, end};
  if (size_t e = match_contraction(t, i, end, true)) return e;
  size_t len0, len1;
  const uint32_t c0 = c.at(i, &len0);
  const uint32_t c1 = c.at(i + len0, &len1);
  // [^\r\n\p{L}\p{N}]?\p{L}+
  if (c0 != '\r' && c0 != '\n' && !is_letter(c0) && !is_number(c0) && i + len0 < end &&
      is_letter(c1)) {
    return run(c, i + len0, is_letter);
  }
  if (is_letter(c0)) return run(c, i, is_letter);
  // \p{N}{1,max}
  if (is_number(c0)) return run(c, i, is_number, max_digits_);
  // " ?[^\s\p{L}\p{N}]+[\r\n]*"
  size_t p = i;
  if (c0 == ' ' && i + len0 < end && is_punct(c1)) p = i + len0;
  if (p < end && is_punct(c.at(p, &len1))) {
    size_t e = run(c, p, is_punct);
    return run(c, e, [](uint32_t x) { return x == '\r' || x == '\n'; });
  }
  // \s*[\r\n]+ : the whitespace run up to and including its last \r or \n.
  const size_t j = run(c, i, is_whitespace);
  size_t newline_end = 0;
  for (size_t k = i; k < j; ++k) {
    if (t[k] == '\r' || t[k] == '\n') newline_end = k + 1;
  }
  if (newline_end) return newline_end;
  return match_space_run(c, i);
}

void PreTokenizer::split(const std::string& text, size_t begin, size_t end,
                         std::vector<std::pair<size_t, size_t>>* out) const {
  size_t i = begin;
  while (i < end) {
    size_t e = kind_ == Kind::kGpt2 ? match_gpt2(text, i, end) : match_qwen2(text, i, end);
    if (e <= i) {  // cannot happen for the supported patterns; keep progress guaranteed
      size_t len;
      decode_utf8(text, i, &len);
      e = i + len;
    }
    out->emplace_back(i, e);
    i = e;
  }
}

}  // namespace grec::tok
