// A small parser of Python literals for the 2014 Amazon metadata dumps, which were written with
// Python's repr() (single-quoted strings, True/False/None) and are not JSON.
#include <cctype>
#include <stdexcept>
#include <string>

#include "data_pipeline/readers.h"

namespace grec::data {

namespace {

void append_utf8(std::string* out, uint32_t cp) {
  if (cp < 0x80) {
    *out += char(cp);
  } else if (cp < 0x800) {
    *out += char(0xC0 | (cp >> 6));
    *out += char(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    *out += char(0xE0 | (cp >> 12));
    *out += char(0x80 | ((cp >> 6) & 0x3F));
    *out += char(0x80 | (cp & 0x3F));
  } else {
    *out += char(0xF0 | (cp >> 18));
    *out += char(0x80 | ((cp >> 12) & 0x3F));
    *out += char(0x80 | ((cp >> 6) & 0x3F));
    *out += char(0x80 | (cp & 0x3F));
  }
}

class PyParser {
 public:
  explicit PyParser(std::string_view s) : s_(s) {}

  nlohmann::json parse_all() {
    nlohmann::json v = value();
    blanks();
    if (i_ != s_.size()) fail("unexpected text after the value");
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& why) const {
    throw std::invalid_argument(why + " at offset " + std::to_string(i_));
  }
  void blanks() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r'))
      ++i_;
  }
  bool eat(char c) {
    blanks();
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  bool word(std::string_view w) {
    if (s_.substr(i_, w.size()) == w) {
      i_ += w.size();
      return true;
    }
    return false;
  }

  nlohmann::json value() {
    blanks();
    if (i_ >= s_.size()) fail("unexpected end");
    const char c = s_[i_];
    if (c == '{') return dict();
    if (c == '[' || c == '(') return list(c == '[' ? ']' : ')');
    if (c == '\'' || c == '"') return string();
    if ((c == 'u' || c == 'b') && i_ + 1 < s_.size() && (s_[i_ + 1] == '\'' || s_[i_ + 1] == '"')) {
      ++i_;
      return string();
    }
    if (word("True")) return true;
    if (word("False")) return false;
    if (word("None")) return nullptr;
    return number();
  }

  nlohmann::json dict() {
    ++i_;
    nlohmann::json obj = nlohmann::json::object();
    if (eat('}')) return obj;
    while (true) {
      nlohmann::json key = value();
      if (!eat(':')) fail("expected ':'");
      nlohmann::json v = value();
      obj[key.is_string() ? key.get<std::string>() : key.dump()] = std::move(v);
      if (eat(',')) {
        if (eat('}')) return obj;
        continue;
      }
      if (eat('}')) return obj;
      fail("expected ',' or '}'");
    }
  }

  nlohmann::json list(char close) {
    ++i_;
    nlohmann::json arr = nlohmann::json::array();
    if (eat(close)) return arr;
    while (true) {
      arr.push_back(value());
      if (eat(',')) {
        if (eat(close)) return arr;
        continue;
      }
      if (eat(close)) return arr;
      fail("expected ',' or a closing bracket");
    }
  }

  uint32_t hex(size_t n) {
    if (i_ + n > s_.size()) fail("short escape");
    uint32_t v = 0;
    for (size_t k = 0; k < n; ++k) {
      const char c = s_[i_++];
      v <<= 4;
      if (c >= '0' && c <= '9')
        v |= uint32_t(c - '0');
      else if (c >= 'a' && c <= 'f')
        v |= uint32_t(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F')
        v |= uint32_t(c - 'A' + 10);
      else
        fail("bad hex escape");
    }
    return v;
  }

  nlohmann::json string() {
    const char q = s_[i_++];
    std::string out;
    while (true) {
      if (i_ >= s_.size()) fail("unterminated string");
      const char c = s_[i_++];
      if (c == q) break;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (i_ >= s_.size()) fail("unterminated string");
      const char e = s_[i_++];
      switch (e) {
        case 'n':
          out += '\n';
          break;
        case 't':
          out += '\t';
          break;
        case 'r':
          out += '\r';
          break;
        case '0':
          out += '\0';
          break;
        case 'x':
          append_utf8(&out, hex(2));
          break;  // Python 2 byte escapes: latin-1 reading
        case 'u':
          append_utf8(&out, hex(4));
          break;
        case 'U':
          append_utf8(&out, hex(8));
          break;
        default:
          out += e;
          break;  // \\ \' \" and unknown escapes keep the character
      }
    }
    return out;
  }

  nlohmann::json number() {
    const size_t b = i_;
    while (i_ < s_.size() && (std::isdigit(static_cast<unsigned char>(s_[i_])) || s_[i_] == '-' ||
                              s_[i_] == '+' || s_[i_] == '.' || s_[i_] == 'e' || s_[i_] == 'E'))
      ++i_;
    if (b == i_) fail("unexpected character");
    const std::string t(s_.substr(b, i_ - b));
    if (t.find_first_of(".eE") == std::string::npos) return std::stoll(t);
    return std::stod(t);
  }

  std::string_view s_;
  size_t i_ = 0;
};

}  // namespace

nlohmann::json parse_python_literal(std::string_view text) { return PyParser(text).parse_all(); }

std::string json_to_text(const nlohmann::json& v) {
  if (v.is_null()) return "";
  if (v.is_string()) return v.get<std::string>();
  if (v.is_array()) {
    std::string out;
    for (const auto& e : v) {
      std::string part;
      if (e.is_array()) {
        for (const auto& x : e) {
          const std::string t = json_to_text(x);
          if (t.empty()) continue;
          if (!part.empty()) part += " > ";
          part += t;
        }
      } else {
        part = json_to_text(e);
      }
      if (part.empty()) continue;
      if (!out.empty()) out += ", ";
      out += part;
    }
    return out;
  }
  if (v.is_object()) return v.dump();
  return v.dump();
}

}  // namespace grec::data
