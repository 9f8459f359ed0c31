// One text per item from the Dataset's text fields (title, categories, genres, description, ...),
// the input of the text embedders (tfidf, lm). Torch-free.
#pragma once

#include <string>
#include <vector>

namespace grec::data {

struct Dataset;

// The default fields, in the order they are joined.
std::vector<std::string> default_item_text_fields();

// For each item, the non-empty values of `fields` joined by ". " (a field missing from the dataset
// is skipped; UserError when none of `fields` exists, naming the ones that do).
std::vector<std::string> build_item_texts(const Dataset& dataset,
                                          const std::vector<std::string>& fields);

}  // namespace grec::data
