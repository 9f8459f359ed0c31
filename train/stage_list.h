// Factories of the stages, one per stage_<name>.cc file; all_stages() lists them in order.
#pragma once

#include "train/stage.h"

namespace grec::train {

Stage make_ingest_stage();
Stage make_embed_stage();
Stage make_rqvae_stage();
Stage make_sasrec_stage();
Stage make_align_stage();
Stage make_evaluate_stage();

}  // namespace grec::train
