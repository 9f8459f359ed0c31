// `grec data ingest|stats|synth`: the dataset store's command line. The options are the same
// IngestOptions the `ingest` stage fills from its config.
#include "launch/cmd_data.h"

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <memory>

#include "core/error.h"
#include "core/log.h"
#include "launch/guarded.h"
#include "data_pipeline/dataset.h"
#include "data_pipeline/ingest.h"
#include "data_pipeline/ingest_options.h"
#include "data_pipeline/stats.h"

namespace grec::launch {

namespace {

void print_summary(const nlohmann::json& stats, bool json) {
  if (json) {
    std::cout << stats.dump() << std::endl;
  } else {
    std::cout << grec::data::stats_table(stats) << std::flush;
  }
}

}  // namespace

void add_data_commands(CLI::App& app, int* exit_code) {
  auto* data = app.add_subcommand("data", "ingest, inspect and synthesise datasets");
  data->require_subcommand(1);

  // ingest
  struct IngestArgs {
    grec::data::IngestOptions o;
    std::string out;
    bool no_header = false;
    bool json = false;
  };
  auto ia = std::make_shared<IngestArgs>();
  ia->o.format = "";
  auto* ingest = data->add_subcommand("ingest", "raw interaction files -> dataset.h5");
  ingest->add_option("--format", ia->o.format, "movielens | seqtxt | amazon | csv")
      ->required()
      ->check(CLI::IsMember({"movielens", "seqtxt", "amazon", "csv"}));
  ingest
      ->add_option("--input", ia->o.input,
                   "raw data: a file (seqtxt: the sequence file or its *_train file; amazon: "
                   "reviews .json[.gz]; csv: the interaction file) or a folder (movielens)")
      ->required();
  ingest->add_option("--out", ia->out, "dataset.h5 to write")->required();
  ingest->add_option("--items", ia->o.items,
                     "item metadata: JSON lines (seqtxt, amazon, csv) or an item table (csv)");
  ingest->add_option("--min-user", ia->o.min_user, "k-core: minimum interactions per user");
  ingest->add_option("--min-item", ia->o.min_item, "k-core: minimum interactions per item");
  ingest->add_option("--min-rating", ia->o.min_rating, "keep events rated >= R (0 = keep all)");
  ingest->add_flag("--skip-bad-lines", ia->o.skip_bad_lines,
                   "skip malformed lines and report their number instead of failing");
  ingest
      ->add_option("--split", ia->o.split,
                   "auto: the source's own split when it has one, else leave-one-out; loo")
      ->check(CLI::IsMember({"auto", "loo"}));
  ingest->add_option("--delimiter", ia->o.csv.delimiter, "csv: field delimiter (\\t or tab)");
  ingest->add_flag("--no-header", ia->no_header, "csv: the file has no header line");
  ingest->add_option("--user-col", ia->o.csv.user, "csv: user column (name, or index)");
  ingest->add_option("--item-col", ia->o.csv.item, "csv: item column");
  ingest->add_option("--time-col", ia->o.csv.timestamp, "csv: timestamp column ('' = none)");
  ingest->add_option("--rating-col", ia->o.csv.rating, "csv: rating column ('' = none)");
  ingest->add_option("--item-id-col", ia->o.csv.item_id, "csv: id column of the item table");
  ingest->add_flag("--json", ia->json, "print the summary as JSON");
  ingest->callback([ia, exit_code]() {
    guarded(exit_code, [&]() {
      ia->o.csv.header = !ia->no_header;
      const auto stats = grec::data::ingest_to_file(ia->o, ia->out);
      print_summary(stats, ia->json);
    });
  });

  // synth
  struct SynthArgs {
    grec::data::IngestOptions o;
    std::string out;
    bool json = false;
  };
  auto sa = std::make_shared<SynthArgs>();
  auto* synth = data->add_subcommand(
      "synth", "synthetic dataset with topic structure and item text (the demo data)");
  synth->add_option("--users", sa->o.synth.users, "number of users");
  synth->add_option("--items", sa->o.synth.items, "number of items");
  synth->add_option("--topics", sa->o.synth.topics, "number of topics (0 = items / 25)");
  synth->add_option("--seed", sa->o.synth.seed, "random seed");
  synth->add_option("--out", sa->out, "dataset.h5 to write")->required();
  synth->add_flag("--json", sa->json, "print the summary as JSON");
  synth->callback([sa, exit_code]() {
    guarded(exit_code, [&]() {
      sa->o.format = "synth";
      print_summary(grec::data::ingest_to_file(sa->o, sa->out), sa->json);
    });
  });

  // stats
  struct StatsArgs {
    std::string file;
    bool json = false;
  };
  auto st = std::make_shared<StatsArgs>();
  auto* stats = data->add_subcommand("stats", "counts, sequence lengths, density, text coverage");
  stats->add_option("FILE", st->file, "dataset.h5")->required();
  stats->add_flag("--json", st->json, "print JSON instead of a table");
  stats->callback([st, exit_code]() {
    guarded(exit_code, [&]() {
      const auto d = grec::data::read_dataset(st->file);
      print_summary(grec::data::dataset_stats(d), st->json);
    });
  });
}

}  // namespace grec::launch
