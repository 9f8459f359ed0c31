// Text input helpers for the readers (see text_input.h).
#include "data_pipeline/text_input.h"

#include <zlib.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "core/error.h"

namespace grec::data {

bool is_file(const std::string& path) {
  std::error_code ec;
  return std::filesystem::is_regular_file(path, ec);
}

std::string read_input(const std::string& path) {
  if (!is_file(path)) user_error("input file '{}' does not exist", path);
  // gzread reads plain files unchanged too, but stdio is faster for the common plain case.
  unsigned char magic[2] = {0, 0};
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) user_error("cannot read input file '{}'", path);
  const size_t got = std::fread(magic, 1, 2, f);
  const bool gz = got == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
  std::string out;
  if (!gz) {
    std::fseek(f, 0, SEEK_END);
    const long size = std::ftell(f);
    std::fseek(f, 0, SEEK_SET);
    out.resize(size > 0 ? size_t(size) : 0);
    const size_t n = out.empty() ? 0 : std::fread(&out[0], 1, out.size(), f);
    std::fclose(f);
    if (n != out.size()) user_error("cannot read input file '{}'", path);
    return out;
  }
  std::fclose(f);
  gzFile g = gzopen(path.c_str(), "rb");
  if (!g) user_error("cannot open gzip file '{}'", path);
  gzbuffer(g, 1 << 18);
  std::vector<char> buf(1 << 20);
  while (true) {
    const int n = gzread(g, buf.data(), static_cast<unsigned>(buf.size()));
    if (n < 0) {
      int err = 0;
      const std::string msg = gzerror(g, &err);
      gzclose(g);
      user_error("{}: corrupt gzip data ({})", path, msg);
    }
    if (n == 0) break;
    out.append(buf.data(), size_t(n));
  }
  gzclose(g);
  return out;
}

void split_fields(std::string_view line, std::string_view sep, std::vector<std::string_view>* out) {
  out->clear();
  size_t start = 0;
  while (true) {
    const size_t p = line.find(sep, start);
    if (p == std::string_view::npos) {
      out->push_back(line.substr(start));
      return;
    }
    out->push_back(line.substr(start, p - start));
    start = p + sep.size();
  }
}

void split_csv(std::string_view line, char delim, std::vector<std::string_view>* out,
               std::vector<std::string>* scratch) {
  if (line.find('"') == std::string_view::npos) {
    split_fields(line, delim, out);
    return;
  }
  out->clear();
  scratch->clear();
  // Reserve so that views into scratch stay valid while it grows.
  scratch->reserve(line.size() + 1);
  size_t i = 0;
  while (true) {
    if (i < line.size() && line[i] == '"') {
      std::string field;
      ++i;
      while (i < line.size()) {
        if (line[i] == '"') {
          if (i + 1 < line.size() && line[i + 1] == '"') {
            field += '"';
            i += 2;
          } else {
            ++i;
            break;
          }
        } else {
          field += line[i++];
        }
      }
      // Anything between the closing quote and the delimiter is kept verbatim.
      while (i < line.size() && line[i] != delim) field += line[i++];
      scratch->push_back(std::move(field));
      out->emplace_back(scratch->back());
    } else {
      const size_t p = line.find(delim, i);
      const size_t e = p == std::string_view::npos ? line.size() : p;
      out->push_back(line.substr(i, e - i));
      i = e;
    }
    if (i >= line.size()) break;
    ++i;  // the delimiter
    if (i == line.size()) {
      out->push_back(std::string_view());
      break;
    }
  }
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool parse_f64(std::string_view s, double* v) {
  s = trim(s);
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  auto r = std::from_chars(s.data(), s.data() + s.size(), *v);
  return !s.empty() && r.ec == std::errc() && r.ptr == s.data() + s.size();
}

bool is_valid_utf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* e = p + s.size();
  while (p < e) {
    const unsigned char c = *p;
    int n = 0;
    if (c < 0x80) {
      ++p;
      continue;
    } else if ((c & 0xE0) == 0xC0 && c >= 0xC2) {
      n = 1;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
    } else if ((c & 0xF8) == 0xF0 && c <= 0xF4) {
      n = 3;
    } else {
      return false;
    }
    if (e - p <= n) return false;
    for (int k = 1; k <= n; ++k) {
      if ((p[k] & 0xC0) != 0x80) return false;
    }
    p += n + 1;
  }
  return true;
}

std::string latin1_to_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size() + s.size() / 8);
  for (unsigned char c : s) {
    if (c < 0x80) {
      out += char(c);
    } else {
      out += char(0xC0 | (c >> 6));
      out += char(0x80 | (c & 0x3F));
    }
  }
  return out;
}

std::string to_utf8(std::string_view s) {
  return is_valid_utf8(s) ? std::string(s) : latin1_to_utf8(s);
}

void BadLines::fail(int64_t line, const std::string& reason) {
  if (!skip_) user_error("{}:{}: {}", file_, line, reason);
  ++skipped_;
}

}  // namespace grec::data
