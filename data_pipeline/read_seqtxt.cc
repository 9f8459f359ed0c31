// seqtxt reader: the SASRec/S3-Rec line format "user item item ..." (chronological; a user may
// span several lines), and presplit *_train/_valid/_test files (DEALRec/MicroLens) whose split
// is kept: per user, the valid items follow the train items and the test items follow those.
// Also the item metadata readers shared with the other formats (JSON lines or one JSON object).
#include <filesystem>

#include "core/error.h"
#include "core/log.h"
#include "data_pipeline/readers.h"
#include "data_pipeline/text_input.h"

namespace grec::data {

namespace {

namespace fs = std::filesystem;

struct SeqFiles {
  std::vector<std::string> paths;  // one file, or train/valid/test
  bool presplit = false;
};

// "<dir>/<stem>_train<ext>" -> its _valid/_test siblings when both exist.
bool presplit_siblings(const std::string& train, SeqFiles* out) {
  const fs::path p(train);
  const std::string stem = p.stem().string();
  if (stem.size() < 6 || stem.compare(stem.size() - 6, 6, "_train") != 0) return false;
  const std::string base = stem.substr(0, stem.size() - 6);
  const auto dir = p.parent_path();
  const std::string valid = (dir / (base + "_valid" + p.extension().string())).string();
  const std::string test = (dir / (base + "_test" + p.extension().string())).string();
  if (!is_file(valid) || !is_file(test)) return false;
  out->paths = {train, valid, test};
  out->presplit = true;
  return true;
}

SeqFiles find_files(const std::string& input) {
  SeqFiles out;
  if (is_file(input)) {
    if (!presplit_siblings(input, &out)) out.paths = {input};
    return out;
  }
  std::error_code ec;
  if (!fs::is_directory(input, ec)) user_error("seqtxt input '{}' does not exist", input);
  std::vector<std::string> trains;
  for (const auto& e : fs::directory_iterator(input)) {
    const std::string stem = e.path().stem().string();
    if (e.is_regular_file() && stem.size() > 6 && stem.compare(stem.size() - 6, 6, "_train") == 0)
      trains.push_back(e.path().string());
  }
  std::sort(trains.begin(), trains.end());
  for (const auto& t : trains) {
    if (presplit_siblings(t, &out)) return out;
  }
  user_error(
      "seqtxt input folder '{}' has no *_train/_valid/_test files; give the sequence file "
      "itself",
      input);
}

// Appends one file's sequences; `order` is the running event order (the time of seqtxt data).
void read_sequences(const std::string& path, Part part, bool presplit, bool skip, int64_t* order,
                    RawData* raw) {
  const std::string text = read_input(path);
  raw->reserve(raw->size() + text.size() / 5);
  BadLines bad(path, skip);
  LineCursor lines(text);
  std::string_view line;
  std::vector<std::string_view> f;
  while (lines.next(&line)) {
    split_blanks(line, &f);
    if (f.empty()) continue;
    if (f.size() == 1 && !presplit) {
      // A user with no items carries nothing; presplit valid/test files have such lines.
      continue;
    }
    const int32_t u = raw->users.id(f[0]);
    for (size_t k = 1; k < f.size(); ++k) {
      raw->user.push_back(u);
      raw->item.push_back(raw->items.id(f[k]));
      raw->time.push_back((*order)++);
      if (presplit) raw->part.push_back(static_cast<uint8_t>(part));
    }
  }
  raw->skipped_lines += bad.skipped();
}

std::string item_id_text(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  return v.dump();
}

}  // namespace

void read_item_jsonl(const std::string& path, bool skip, RawData* raw) {
  const std::string text = read_input(path);
  BadLines bad(path, skip);
  // S3-Rec's item2attributes.json is one object {"<item id>": [attribute ids]}.
  const size_t first = text.find_first_not_of(" \t\r\n");
  const size_t nl = text.find('\n', first == std::string::npos ? 0 : first);
  const bool one_line =
      nl == std::string::npos || text.find_first_not_of(" \t\r\n", nl) == std::string::npos;
  if (first != std::string::npos && text[first] == '{' && one_line) {
    nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_object() && !j.contains("item_id") && !j.contains("asin")) {
      for (auto it = j.begin(); it != j.end(); ++it) {
        std::string attrs;
        for (const auto& a : it.value()) attrs += (attrs.empty() ? "" : " ") + item_id_text(a);
        raw->item_meta[it.key()]["attributes"] = attrs;
      }
      return;
    }
  }
  LineCursor lines(text);
  std::string_view line;
  while (lines.next(&line)) {
    if (trim(line).empty()) continue;
    nlohmann::json j = nlohmann::json::parse(line.begin(), line.end(), nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      try {
        j = parse_python_literal(line);
      } catch (const std::exception&) {
        j = nullptr;
      }
      if (!j.is_object()) {
        bad.fail(lines.line_no(), "not a JSON object");
        continue;
      }
    }
    const char* id_key = j.contains("item_id") ? "item_id" : j.contains("asin") ? "asin" : nullptr;
    if (!id_key) {
      bad.fail(lines.line_no(), "missing field 'item_id'");
      continue;
    }
    auto& meta = raw->item_meta[item_id_text(j[id_key])];
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (it.key() == id_key) continue;
      const auto& v = it.value();
      if (v.is_number() || v.is_boolean() || v.is_object()) continue;  // text fields only
      // "raw_id" names the dataset of raw ids; keep a source's own field under another name.
      std::string key = it.key();
      if (key == "raw_id") key = "source_id";
      if (key == "category") key = "categories";  // Amazon 2018 name
      meta[key] = to_utf8(json_to_text(v));
    }
  }
  raw->skipped_lines += bad.skipped();
}

RawData read_seqtxt(const IngestOptions& o) {
  const SeqFiles files = find_files(o.input);
  RawData raw;
  raw.has_time = false;
  raw.source = "seqtxt:" + files.paths.front();
  int64_t order = 0;
  for (size_t k = 0; k < files.paths.size(); ++k) {
    read_sequences(files.paths[k], static_cast<Part>(k), files.presplit, o.skip_bad_lines, &order,
                   &raw);
  }
  if (files.presplit) {
    GREC_INFO("seqtxt: presplit files {}, {}, {}", files.paths[0], files.paths[1], files.paths[2]);
  }
  if (!o.items.empty()) read_item_jsonl(o.items, o.skip_bad_lines, &raw);
  return raw;
}

}  // namespace grec::data
