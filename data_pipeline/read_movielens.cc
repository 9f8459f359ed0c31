// MovieLens reader: ML-100K (u.data tab-separated, u.item pipe-separated latin-1 with 19 genre
// flags) and ML-1M/10M (ratings.dat / movies.dat with "::"). Titles and genres become item text.
#include <filesystem>

#include "core/error.h"
#include "core/log.h"
#include "data_pipeline/readers.h"
#include "data_pipeline/text_input.h"

namespace grec::data {

namespace {

namespace fs = std::filesystem;

// The genre order of ML-100K's u.genre, used when that file is absent.
const char* const kMl100kGenres[19] = {
    "unknown",     "Action", "Adventure", "Animation", "Children's", "Comedy",  "Crime",
    "Documentary", "Drama",  "Fantasy",   "Film-Noir", "Horror",     "Musical", "Mystery",
    "Romance",     "Sci-Fi", "Thriller",  "War",       "Western"};

// One rating line already split into fields: user, item, rating, timestamp.
void add_rating(RawData* raw, BadLines* bad, int64_t line_no,
                const std::vector<std::string_view>& f) {
  double rating = 0;
  int64_t ts = 0;
  if (f[0].empty() || f[1].empty()) return bad->fail(line_no, "empty user or item id");
  if (!parse_f64(f[2], &rating)) {
    return bad->fail(line_no, "rating '" + std::string(f[2]) + "' is not a number");
  }
  if (!parse_i64(f[3], &ts)) {
    return bad->fail(line_no, "timestamp '" + std::string(f[3]) + "' is not an integer");
  }
  raw->user.push_back(raw->users.id(trim(f[0])));
  raw->item.push_back(raw->items.id(trim(f[1])));
  raw->rating.push_back(static_cast<float>(rating));
  raw->time.push_back(ts);
}

void read_ratings(const std::string& path, std::string_view sep, RawData* raw, bool skip) {
  const std::string text = read_input(path);
  raw->reserve(text.size() / 20);
  BadLines bad(path, skip);
  LineCursor lines(text);
  std::string_view line;
  std::vector<std::string_view> f;
  while (lines.next(&line)) {
    if (trim(line).empty()) continue;
    if (sep.size() == 1) {
      split_fields(line, sep[0], &f);
    } else {
      split_fields(line, sep, &f);
    }
    if (f.size() != 4) {
      bad.fail(lines.line_no(), fmt::format("expected 4 '{}'-separated fields (user, item, "
                                            "rating, timestamp), got {}",
                                            sep == "\t" ? "\\t" : std::string(sep), f.size()));
      continue;
    }
    add_rating(raw, &bad, lines.line_no(), f);
  }
  raw->skipped_lines += bad.skipped();
}

std::vector<std::string> ml100k_genres(const std::string& folder) {
  std::vector<std::string> names(std::begin(kMl100kGenres), std::end(kMl100kGenres));
  const std::string path = folder + "/u.genre";
  if (!is_file(path)) return names;
  const std::string text = read_input(path);
  LineCursor lines(text);
  std::string_view line;
  std::vector<std::string_view> f;
  while (lines.next(&line)) {
    split_fields(line, '|', &f);
    int64_t idx = 0;
    if (f.size() == 2 && parse_i64(f[1], &idx) && idx >= 0 && idx < 19) {
      names[size_t(idx)] = to_utf8(f[0]);
    }
  }
  return names;
}

void read_u_item(const std::string& folder, RawData* raw, bool skip) {
  const std::string path = folder + "/u.item";
  if (!is_file(path)) {
    GREC_WARN("{}: no u.item, items get no text", folder);
    return;
  }
  const auto genres = ml100k_genres(folder);
  const std::string text = read_input(path);
  BadLines bad(path, skip);
  LineCursor lines(text);
  std::string_view line;
  std::vector<std::string_view> f;
  while (lines.next(&line)) {
    if (trim(line).empty()) continue;
    split_fields(line, '|', &f);
    if (f.size() != 24) {
      bad.fail(lines.line_no(),
               fmt::format("expected 24 '|'-separated fields (id, title, "
                           "release date, video date, URL, 19 genre flags), got {}",
                           f.size()));
      continue;
    }
    std::string g;
    for (size_t k = 0; k < 19; ++k) {
      if (trim(f[5 + k]) == "1") g += (g.empty() ? "" : ", ") + genres[k];
    }
    auto& meta = raw->item_meta[std::string(trim(f[0]))];
    meta["title"] = latin1_to_utf8(f[1]);  // u.item is ISO-8859-1
    meta["genres"] = g;
    meta["release_date"] = latin1_to_utf8(f[2]);
  }
  raw->skipped_lines += bad.skipped();
}

void read_movies_dat(const std::string& folder, RawData* raw, bool skip) {
  const std::string path = folder + "/movies.dat";
  if (!is_file(path)) {
    GREC_WARN("{}: no movies.dat, items get no text", folder);
    return;
  }
  const std::string text = read_input(path);
  BadLines bad(path, skip);
  LineCursor lines(text);
  std::string_view line;
  std::vector<std::string_view> f;
  while (lines.next(&line)) {
    if (trim(line).empty()) continue;
    split_fields(line, std::string_view("::"), &f);
    if (f.size() != 3) {
      bad.fail(
          lines.line_no(),
          fmt::format("expected 3 '::'-separated fields (id, title, genres), got {}", f.size()));
      continue;
    }
    std::string g = to_utf8(f[2]);  // ML-1M is latin-1, ML-10M UTF-8: accept both
    for (auto& c : g) {
      if (c == '|') c = ',';
    }
    std::string genres;
    for (char c : g) {
      genres += c;
      if (c == ',') genres += ' ';
    }
    auto& meta = raw->item_meta[std::string(trim(f[0]))];
    meta["title"] = to_utf8(f[1]);
    meta["genres"] = genres == "(no genres listed)" ? "" : genres;
  }
  raw->skipped_lines += bad.skipped();
}

}  // namespace

RawData read_movielens(const IngestOptions& o) {
  std::string folder = o.input;
  if (is_file(folder)) folder = fs::path(folder).parent_path().string();
  if (folder.empty()) folder = ".";
  std::error_code ec;
  if (!fs::is_directory(folder, ec)) {
    user_error(
        "movielens input '{}' is not a folder (give the folder holding u.data or "
        "ratings.dat)",
        o.input);
  }
  RawData raw;
  raw.source = "movielens:" + folder;
  if (is_file(folder + "/u.data")) {
    read_ratings(folder + "/u.data", "\t", &raw, o.skip_bad_lines);
    read_u_item(folder, &raw, o.skip_bad_lines);
  } else if (is_file(folder + "/ratings.dat")) {
    read_ratings(folder + "/ratings.dat", "::", &raw, o.skip_bad_lines);
    read_movies_dat(folder, &raw, o.skip_bad_lines);
  } else {
    user_error("movielens folder '{}' has neither u.data (ML-100K) nor ratings.dat (ML-1M/10M)",
               folder);
  }
  if (!o.items.empty()) read_item_jsonl(o.items, o.skip_bad_lines, &raw);
  return raw;
}

}  // namespace grec::data
