// ingest.* config keys and their conversion into IngestOptions.
#include "data_pipeline/ingest_options.h"

#include "core/config.h"

namespace grec::data {

void declare_ingest_config(ConfigSchema& s) {
  const IngestOptions d;
  s.add_choice("ingest.format", d.format, {"synth", "movielens", "seqtxt", "amazon", "csv"},
               "raw data format, or synth for the built-in synthetic data");
  s.add_string("ingest.input", d.input,
               "raw interactions: a file, or the folder of a MovieLens release");
  s.add_string("ingest.items", d.items, "optional item metadata file (JSONL, JSON, CSV)");
  s.add_int("ingest.min_user", d.min_user, "k-core: minimum interactions per user (0 = off)");
  s.add_int("ingest.min_item", d.min_item, "k-core: minimum interactions per item (0 = off)");
  s.add_float("ingest.min_rating", d.min_rating, "keep events rated >= this (0 = keep all)");
  s.add_bool("ingest.skip_bad_lines", d.skip_bad_lines,
             "skip malformed lines (their number is reported) instead of failing");
  s.add_choice("ingest.split", d.split, {"auto", "loo"},
               "auto = the source's own split when it has one, else leave-one-out; loo = always "
               "leave-one-out");
  s.add_string("ingest.csv.delimiter", d.csv.delimiter,
               "csv: field delimiter (\\t or tab for tabs)");
  s.add_bool("ingest.csv.header", d.csv.header, "csv: the first line names the columns");
  s.add_string("ingest.csv.user", d.csv.user, "csv: user column (name, or index without header)");
  s.add_string("ingest.csv.item", d.csv.item, "csv: item column");
  s.add_string("ingest.csv.timestamp", d.csv.timestamp, "csv: timestamp column (empty = none)");
  s.add_string("ingest.csv.rating", d.csv.rating, "csv: rating column (empty = none)");
  s.add_string("ingest.csv.item_id", d.csv.item_id, "csv: id column of the item table");
  s.add_int("ingest.synth.users", d.synth.users, "synth: number of users");
  s.add_int("ingest.synth.items", d.synth.items, "synth: number of items");
  s.add_int("ingest.synth.topics", d.synth.topics, "synth: number of topics (0 = items / 25)");
  s.add_int("ingest.synth.seed", static_cast<int64_t>(d.synth.seed), "synth: random seed");
}

IngestOptions ingest_options_from_config(const Config& c) {
  IngestOptions o;
  o.format = c.get_string("ingest.format");
  o.input = c.get_string("ingest.input");
  o.items = c.get_string("ingest.items");
  o.min_user = c.get_int("ingest.min_user");
  o.min_item = c.get_int("ingest.min_item");
  o.min_rating = c.get_float("ingest.min_rating");
  o.skip_bad_lines = c.get_bool("ingest.skip_bad_lines");
  o.split = c.get_string("ingest.split");
  o.csv.delimiter = c.get_string("ingest.csv.delimiter");
  o.csv.header = c.get_bool("ingest.csv.header");
  o.csv.user = c.get_string("ingest.csv.user");
  o.csv.item = c.get_string("ingest.csv.item");
  o.csv.timestamp = c.get_string("ingest.csv.timestamp");
  o.csv.rating = c.get_string("ingest.csv.rating");
  o.csv.item_id = c.get_string("ingest.csv.item_id");
  o.synth.users = c.get_int("ingest.synth.users");
  o.synth.items = c.get_int("ingest.synth.items");
  o.synth.topics = c.get_int("ingest.synth.topics");
  o.synth.seed = static_cast<uint64_t>(c.get_int("ingest.synth.seed"));
  return o;
}

}  // namespace grec::data
