// Stage augment's output as other stages read it (LLM-Rec, ALGORITHMS.md §7):
// artifacts/augment/item_text.h5 holds one string per item and prompt under /items/aug_<prompt>,
// and for the engagement prompts the PPR neighbours (/ppr/neighbours [items, T], -1 padded, and
// /ppr/scores). Fields named aug_* in embed.fields come from this file.
#pragma once

#include <string>
#include <vector>

#include "core/run_dir.h"

namespace grec::data {
struct Dataset;
}

namespace grec::stages {

std::string augment_text_path(const RunDir& run);

// True when `fields` names an augmented field (aug_*).
bool wants_augmented_fields(const std::vector<std::string>& fields);

// Adds the aug_* fields of `fields` to dataset.item_text from the augment stage's file. UserError
// naming `key` when the file is missing (stage augment off or not run), lacks a requested field, or
// holds another item count.
void add_augmented_fields(const RunDir& run, const std::vector<std::string>& fields,
                          const std::string& key, data::Dataset& dataset);

}  // namespace grec::stages
