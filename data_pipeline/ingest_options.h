// The options of one ingestion, shared by `grec data ingest|synth` and the `ingest` stage, and
// their config keys (ingest.*), declared here next to the code that reads them.
#pragma once

#include <cstdint>
#include <string>

namespace grec {
class Config;
class ConfigSchema;
}  // namespace grec

namespace grec::data {

struct CsvOptions {
  std::string delimiter = ",";  // one character; "\t" or "tab" for tabs
  bool header = true;           // first line names the columns
  // Columns: names when header is set, else 0-based indices ("0", "1", ...). Empty = absent.
  std::string user = "user";
  std::string item = "item";
  std::string timestamp = "timestamp";
  std::string rating = "";
  std::string item_id = "item_id";  // id column of the item table (--items)
};

struct SynthOptions {
  int64_t users = 1000;
  int64_t items = 500;
  int64_t topics = 0;  // 0 = about one topic per 25 items (at least 2)
  uint64_t seed = 0;
};

struct IngestOptions {
  std::string format = "synth";  // synth | movielens | seqtxt | amazon | csv
  std::string input;             // file or folder (movielens: the folder)
  std::string items;             // optional item metadata file
  int64_t min_user = 0;          // k-core: users need at least this many interactions (0 = off)
  int64_t min_item = 0;          // k-core: items need at least this many interactions
  double min_rating = 0;         // keep events with rating >= this (0 = keep all)
  bool skip_bad_lines = false;   // skip malformed lines (and report how many) instead of failing
  std::string split = "auto";    // auto: the source's own split when it has one, else loo
  CsvOptions csv;
  SynthOptions synth;
};

// Declares ingest.* (format, input, items, min_user, min_item, min_rating, skip_bad_lines,
// split, csv.*, synth.*).
void declare_ingest_config(ConfigSchema& schema);
IngestOptions ingest_options_from_config(const Config& config);

}  // namespace grec::data
