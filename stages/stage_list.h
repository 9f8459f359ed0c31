// Factories of the stages, one per stages/<name>.cc file; all_stages() lists them in order.
#pragma once

#include "stages/stages.h"

namespace grec::stages {

Stage make_ingest_stage();
Stage make_augment_stage();

// True when augment.prompts is set: fields aug_<prompt> exist for embed (stages/augment.cc).
bool augment_enabled(const Config& config);
Stage make_embed_stage();
Stage make_rqvae_stage();
Stage make_sasrec_stage();
Stage make_prune_stage();
Stage make_align_stage();

// True when prune.keep is set: align then trains on the kept samples (stages/prune.cc).
bool prune_enabled(const Config& config);
Stage make_evaluate_stage();
Stage make_distill_stage();
Stage make_export_stage();

}  // namespace grec::stages
