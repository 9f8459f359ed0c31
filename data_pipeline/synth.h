// Synthetic interaction data with structure a model can learn (the built-in demo data):
// items are grouped in topics whose words appear in their titles and categories; every topic
// has an item order, and users walk it (the next item is usually the next one or two in the
// same topic), drift between two or three preferred topics, and sometimes jump to a popular
// item. Topic and item popularity are Zipf-skewed. The planted topic of each item is kept as the
// integer item field "topic" (never in the text), so later stages can measure cluster purity.
// Deterministic for a seed.
#pragma once

#include "data_pipeline/ingest_options.h"
#include "data_pipeline/raw_data.h"

namespace grec::data {

RawData synthesize(const SynthOptions& options);

}  // namespace grec::data
