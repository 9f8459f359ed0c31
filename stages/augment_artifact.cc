#include "stages/augment_artifact.h"

#include <filesystem>

#include "core/error.h"
#include "core/h5.h"
#include "data_pipeline/dataset.h"

namespace grec::stages {

std::string augment_text_path(const RunDir& run) {
  return run.artifacts("augment") + "/item_text.h5";
}

bool wants_augmented_fields(const std::vector<std::string>& fields) {
  for (const std::string& f : fields) {
    if (f.rfind("aug_", 0) == 0) return true;
  }
  return false;
}

void add_augmented_fields(const RunDir& run, const std::vector<std::string>& fields,
                          const std::string& key, data::Dataset& dataset) {
  if (!wants_augmented_fields(fields)) return;
  const std::string path = augment_text_path(run);
  if (!std::filesystem::exists(path)) {
    user_error("{} names augmented fields, but {} does not exist: turn stage augment on "
               "(augment.prompts, e.g. [eng]) or drop the aug_* fields",
               key, path);
  }
  h5::File f = h5::File::open(path);
  for (const std::string& field : fields) {
    if (field.rfind("aug_", 0) != 0) continue;
    const std::string name = "/items/" + field;
    if (!f.exists(name)) {
      user_error("{} names '{}', which {} does not hold: add '{}' to augment.prompts", key, field,
                 path, field.substr(4));
    }
    std::vector<std::string> values = f.read_strings(name);
    if (static_cast<int64_t>(values.size()) != dataset.num_items()) {
      user_error("{}: {} holds {} items, the dataset {}; rerun stage augment", key, path,
                 values.size(), dataset.num_items());
    }
    dataset.item_text[field] = std::move(values);
  }
}

}  // namespace grec::stages
