// Item texts for the embedders: the chosen text fields joined per item.
#include "data_pipeline/item_text.h"

#include "core/error.h"
#include "data_pipeline/dataset.h"

namespace grec::data {

std::vector<std::string> default_item_text_fields() {
  return {"title", "categories", "genres", "description"};
}

std::vector<std::string> build_item_texts(const Dataset& dataset,
                                          const std::vector<std::string>& fields) {
  std::vector<const std::vector<std::string>*> present;
  for (const auto& f : fields) {
    auto it = dataset.item_text.find(f);
    if (it != dataset.item_text.end()) present.push_back(&it->second);
  }
  if (present.empty()) {
    std::string want, have;
    for (const auto& f : fields) want += (want.empty() ? "" : ", ") + f;
    for (const auto& kv : dataset.item_text) have += (have.empty() ? "" : ", ") + kv.first;
    user_error("none of the item text fields [{}] exists in the dataset (it has: {})",
               want, have.empty() ? "none" : have);
  }
  std::vector<std::string> out(dataset.num_items());
  for (int64_t i = 0; i < dataset.num_items(); ++i) {
    for (const auto* values : present) {
      const std::string& v = (*values)[i];
      if (v.empty()) continue;
      if (!out[i].empty()) out[i] += ". ";
      out[i] += v;
    }
  }
  return out;
}

}  // namespace grec::data
