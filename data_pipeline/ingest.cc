// Ingestion driver: format dispatch, processing, writing, summary.
#include "data_pipeline/ingest.h"

#include <chrono>

#include "core/error.h"
#include "core/log.h"
#include "data_pipeline/build.h"
#include "data_pipeline/readers.h"
#include "data_pipeline/stats.h"
#include "data_pipeline/synth.h"

namespace grec::data {

Dataset ingest(const IngestOptions& o) {
  if (o.split != "auto" && o.split != "loo") {
    user_error("split must be auto or loo, got '{}'", o.split);
  }
  if (o.format != "synth" && o.input.empty()) {
    user_error("format '{}' needs an input (--input / ingest.input)", o.format);
  }
  RawData raw;
  if (o.format == "synth") {
    raw = synthesize(o.synth);
  } else if (o.format == "movielens") {
    raw = read_movielens(o);
  } else if (o.format == "seqtxt") {
    raw = read_seqtxt(o);
  } else if (o.format == "amazon") {
    raw = read_amazon(o);
  } else if (o.format == "csv") {
    raw = read_csv(o);
  } else {
    user_error("unknown format '{}' (expected synth, movielens, seqtxt, amazon or csv)", o.format);
  }
  if (raw.skipped_lines > 0) {
    GREC_WARN("skipped {} malformed line{} (--skip-bad-lines)", raw.skipped_lines,
              raw.skipped_lines == 1 ? "" : "s");
  }
  return build_dataset(std::move(raw), o);
}

nlohmann::json ingest_to_file(const IngestOptions& o, const std::string& out) {
  const auto t0 = std::chrono::steady_clock::now();
  Dataset d = ingest(o);
  write_dataset(d, out);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  nlohmann::json s = dataset_stats(d);
  s["wall_s"] = wall;
  s["path"] = out;
  GREC_INFO("wrote {}: {} users, {} items, {} interactions in {:.2f} s", out, d.num_users(),
            d.num_items(), d.num_interactions(), wall);
  return s;
}

}  // namespace grec::data
