// Stage `ingest`: makes <run>/artifacts/ingest/dataset.h5 from raw files or synthesis.
// (Skeleton; the data pipeline fills it in.)
#include "train/stage_list.h"

namespace grec::train {

Stage make_ingest_stage() {
  Stage s;
  s.name = "ingest";
  s.help = "raw interaction files (or synthesis) -> dataset.h5";
  s.config_sections = {"ingest"};
  s.declare = [](ConfigSchema& schema) {
    schema.add_choice("ingest.format", "synth", {"synth", "movielens", "seqtxt", "amazon", "csv"},
                      "raw data format, or synth for the built-in synthetic data");
  };
  s.run = [](StageContext&) { return nlohmann::json::object(); };
  s.enabled = [](const Config& c) { return c.get_string("data.dataset").empty(); };
  return s;
}

}  // namespace grec::train
