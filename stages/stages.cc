// The stage registry and the full config schema.
#include "core/error.h"
#include "dist/mpi_env.h"
#include "stages/stages.h"
#include "stages/stage_list.h"

namespace grec::stages {

const std::vector<Stage>& all_stages() {
  static const std::vector<Stage> stages = {
      make_ingest_stage(),
      make_augment_stage(),  // off unless augment.prompts is set
      make_sasrec_stage(),  // before embed: its item table is an embedding source
      make_embed_stage(),
      make_rqvae_stage(),
      make_prune_stage(),  // off unless prune.keep is set
      make_align_stage(),
      make_evaluate_stage(),
      make_distill_stage(),  // off unless distill.enabled
      make_export_stage(),  // off unless export.enabled
  };
  return stages;
}

const Stage* find_stage(const std::string& name) {
  return train::find_stage(all_stages(), name);
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

}  // namespace grec::stages
