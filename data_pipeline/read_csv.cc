// Delimited interaction files with a column mapping (csv.user/item/timestamp/rating: names when
// the file has a header, else 0-based indices), and an optional item table (--items) whose id
// column is csv.item_id and whose other columns become item text.
#include <algorithm>

#include "core/error.h"
#include "data_pipeline/readers.h"
#include "data_pipeline/text_input.h"

namespace grec::data {

namespace {

char delimiter_char(const std::string& d) {
  if (d == "\\t" || d == "tab" || d == "\t") return '\t';
  if (d.size() != 1) user_error("ingest.csv.delimiter must be one character, got '{}'", d);
  return d[0];
}

// Column index of `spec` (a header name, or an index when there is no header); -1 when spec is
// empty (the column is absent).
int column_index(const std::string& spec, const std::string& what, bool header,
                 const std::vector<std::string_view>& names, const std::string& file) {
  if (spec.empty()) return -1;
  if (header) {
    for (size_t k = 0; k < names.size(); ++k) {
      if (trim(names[k]) == spec) return static_cast<int>(k);
    }
    std::string all;
    for (auto n : names) all += (all.empty() ? "" : ", ") + std::string(trim(n));
    user_error("{}:1: no column '{}' for the {} (ingest.csv.{}); the header has: {}", file, spec,
               what, what, all);
  }
  int64_t idx = -1;
  if (!parse_i64(spec, &idx) || idx < 0) {
    user_error("ingest.csv.{} must be a column index when the file has no header, got '{}'", what,
               spec);
  }
  return static_cast<int>(idx);
}

void read_item_table(const std::string& path, const CsvOptions& c, bool skip, RawData* raw) {
  const char delim = delimiter_char(c.delimiter);
  const std::string text = read_input(path);
  BadLines bad(path, skip);
  LineCursor lines(text);
  std::string_view line;
  std::vector<std::string_view> f;
  std::vector<std::string> scratch;
  if (!lines.next(&line)) user_error("{}: the item table is empty", path);
  split_csv(line, delim, &f, &scratch);
  std::vector<std::string> names;
  for (auto n : f) names.emplace_back(trim(n));
  const auto it = std::find(names.begin(), names.end(), c.item_id);
  if (it == names.end()) {
    user_error("{}:1: no item id column '{}' (ingest.csv.item_id) in the item table header", path,
               c.item_id);
  }
  const size_t id_col = size_t(it - names.begin());
  while (lines.next(&line)) {
    if (trim(line).empty()) continue;
    split_csv(line, delim, &f, &scratch);
    if (f.size() != names.size()) {
      bad.fail(lines.line_no(),
               fmt::format("expected {} fields as in the header, got {}", names.size(), f.size()));
      continue;
    }
    auto& meta = raw->item_meta[std::string(trim(f[id_col]))];
    for (size_t k = 0; k < f.size(); ++k) {
      if (k == id_col) continue;
      meta[names[k] == "raw_id" ? "source_id" : names[k]] = to_utf8(f[k]);
    }
  }
  raw->skipped_lines += bad.skipped();
}

}  // namespace

RawData read_csv(const IngestOptions& o) {
  const CsvOptions& c = o.csv;
  const char delim = delimiter_char(c.delimiter);
  RawData raw;
  raw.source = "csv:" + o.input;
  const std::string text = read_input(o.input);
  raw.reserve(text.size() / 24);
  BadLines bad(o.input, o.skip_bad_lines);
  LineCursor lines(text);
  std::string_view line;
  std::vector<std::string_view> f;
  std::vector<std::string> scratch;
  std::vector<std::string_view> header;
  std::string header_line;
  if (c.header) {
    if (!lines.next(&line)) user_error("{}: the file is empty", o.input);
    header_line = std::string(line);
    split_csv(header_line, delim, &header, &scratch);
  }
  const int cu = column_index(c.user, "user", c.header, header, o.input);
  const int ci = column_index(c.item, "item", c.header, header, o.input);
  const int ct = column_index(c.timestamp, "timestamp", c.header, header, o.input);
  const int cr = column_index(c.rating, "rating", c.header, header, o.input);
  if (cu < 0 || ci < 0) user_error("ingest.csv.user and ingest.csv.item must name columns");
  const size_t need = size_t(std::max({cu, ci, ct, cr})) + 1;
  raw.has_time = ct >= 0;
  int64_t order = 0;
  while (lines.next(&line)) {
    if (trim(line).empty()) continue;
    split_csv(line, delim, &f, &scratch);
    if (f.size() < need) {
      bad.fail(lines.line_no(), fmt::format("expected at least {} fields, got {}", need, f.size()));
      continue;
    }
    const std::string_view u = trim(f[size_t(cu)]), i = trim(f[size_t(ci)]);
    if (u.empty() || i.empty()) {
      bad.fail(lines.line_no(), "empty user or item id");
      continue;
    }
    int64_t ts = order;
    if (ct >= 0 && !parse_i64(f[size_t(ct)], &ts)) {
      double d = 0;
      if (!parse_f64(f[size_t(ct)], &d)) {
        bad.fail(lines.line_no(),
                 fmt::format("timestamp '{}' is not a number", std::string(f[size_t(ct)])));
        continue;
      }
      ts = static_cast<int64_t>(d);
    }
    double r = 0;
    if (cr >= 0 && !parse_f64(f[size_t(cr)], &r)) {
      bad.fail(lines.line_no(),
               fmt::format("rating '{}' is not a number", std::string(f[size_t(cr)])));
      continue;
    }
    ++order;
    raw.user.push_back(raw.users.id(u));
    raw.item.push_back(raw.items.id(i));
    raw.time.push_back(ts);
    if (cr >= 0) raw.rating.push_back(static_cast<float>(r));
  }
  raw.skipped_lines += bad.skipped();
  if (!o.items.empty()) {
    const bool json = o.items.find(".json") != std::string::npos;
    if (json) {
      read_item_jsonl(o.items, o.skip_bad_lines, &raw);
    } else {
      read_item_table(o.items, c, o.skip_bad_lines, &raw);
    }
  }
  return raw;
}

}  // namespace grec::data
