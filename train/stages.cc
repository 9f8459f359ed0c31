// The stage registry and the full config schema.
#include <algorithm>

#include "core/error.h"
#include "dist/mpi_env.h"
#include "train/stage.h"
#include "train/stage_list.h"

namespace grec::train {

bool StageContext::is_root() const { return env.rank() == 0; }

const std::vector<Stage>& all_stages() {
  static const std::vector<Stage> stages = {
      make_ingest_stage(),
      make_embed_stage(),
      make_rqvae_stage(),
      make_sasrec_stage(),
      make_align_stage(),
      make_evaluate_stage(),
  };
  return stages;
}

const Stage* find_stage(const std::string& name) {
  const auto& s = all_stages();
  auto it = std::find_if(s.begin(), s.end(), [&](const Stage& x) { return x.name == name; });
  return it == s.end() ? nullptr : &*it;
}

ConfigSchema full_schema() {
  ConfigSchema schema;
  declare_run_config(schema);
  schema.add_string_list("run.stages", {},
                         "stages `grec run` runs, in pipeline order; empty = every stage");
  schema.add_string("data.dataset", "",
                    "dataset.h5 the stages read; empty = the ingest stage's output "
                    "(<run>/artifacts/ingest/dataset.h5)");
  schema.add_int("dist.timeout_s", 600, "abort the job when a collective waits longer (seconds)");
  schema.add_int("dist.threads", 0,
                 "intra-op threads per rank; 0 = cores on the node / ranks on the node");
  schema.add_bool("log.all_ranks", false, "print info lines from every rank, not only rank 0");
  schema.add_bool("log.debug", false, "print debug lines");
  for (const Stage& s : all_stages()) {
    if (s.declare) s.declare(schema);
  }
  return schema;
}

std::string dataset_path(const Config& config) {
  const std::string given = config.get_string("data.dataset");
  if (!given.empty()) return given;
  return RunDir::from_config(config).artifacts("ingest") + "/dataset.h5";
}

}  // namespace grec::train
