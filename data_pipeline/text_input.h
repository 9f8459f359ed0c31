// Fast text input for the readers: whole-file reads (plain or gzip), a line cursor that counts
// lines, field splitting on string_views, std::from_chars number parsing, latin-1 -> UTF-8, and
// the malformed-line policy (fail with file:line, or skip and count).
#pragma once

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace grec::data {

// The whole file; gzip files (by magic bytes) are decompressed. UserError when unreadable.
std::string read_input(const std::string& path);
// Whether the file exists and is a regular file.
bool is_file(const std::string& path);

// Iterates over the lines of a buffer ("\n" or "\r\n"); line numbers start at 1.
class LineCursor {
 public:
  explicit LineCursor(std::string_view text) : text_(text) {}
  bool next(std::string_view* line) {
    if (pos_ >= text_.size()) return false;
    const size_t nl = text_.find('\n', pos_);
    const size_t end = nl == std::string_view::npos ? text_.size() : nl;
    size_t len = end - pos_;
    if (len > 0 && text_[pos_ + len - 1] == '\r') --len;
    *line = text_.substr(pos_, len);
    pos_ = end + 1;
    ++line_no_;
    return true;
  }
  int64_t line_no() const { return line_no_; }

 private:
  std::string_view text_;
  size_t pos_ = 0;
  int64_t line_no_ = 0;
};

// Splits on `delim` into `out` (cleared first); no quoting.
inline void split_fields(std::string_view line, char delim, std::vector<std::string_view>* out) {
  out->clear();
  size_t start = 0;
  while (true) {
    const size_t p = line.find(delim, start);
    if (p == std::string_view::npos) {
      out->push_back(line.substr(start));
      return;
    }
    out->push_back(line.substr(start, p - start));
    start = p + 1;
  }
}

// Splits on a multi-character separator ("::").
void split_fields(std::string_view line, std::string_view sep, std::vector<std::string_view>* out);

// Splits on runs of spaces/tabs, ignoring leading and trailing blanks.
inline void split_blanks(std::string_view line, std::vector<std::string_view>* out) {
  out->clear();
  const char* p = line.data();
  const char* e = p + line.size();
  while (p < e) {
    while (p < e && (*p == ' ' || *p == '\t')) ++p;
    const char* b = p;
    while (p < e && *p != ' ' && *p != '\t') ++p;
    if (p > b) out->emplace_back(b, size_t(p - b));
  }
}

// CSV splitting with RFC 4180 double quotes inside one line; `scratch` holds unquoted copies.
void split_csv(std::string_view line, char delim, std::vector<std::string_view>* out,
               std::vector<std::string>* scratch);

std::string_view trim(std::string_view s);

// Whole-field parses: false unless all of `s` (after trimming blanks) is the number.
inline bool parse_i64(std::string_view s, int64_t* v) {
  s = trim(s);
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  auto r = std::from_chars(s.data(), s.data() + s.size(), *v);
  return !s.empty() && r.ec == std::errc() && r.ptr == s.data() + s.size();
}
bool parse_f64(std::string_view s, double* v);

bool is_valid_utf8(std::string_view s);
std::string latin1_to_utf8(std::string_view s);
// `s` when it is valid UTF-8, else its latin-1 reading converted to UTF-8.
std::string to_utf8(std::string_view s);

// The malformed-line policy: fail() throws "file:line: reason" unless skipping, in which case
// it counts the line.
class BadLines {
 public:
  BadLines(std::string file, bool skip) : file_(std::move(file)), skip_(skip) {}
  void fail(int64_t line, const std::string& reason);
  int64_t skipped() const { return skipped_; }
  const std::string& file() const { return file_; }

 private:
  std::string file_;
  bool skip_;
  int64_t skipped_ = 0;
};

}  // namespace grec::data
