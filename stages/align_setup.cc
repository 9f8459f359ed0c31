// Shared setup of the align and evaluate stages; see align_setup.h.
#include "stages/align_setup.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <numeric>
#include <random>

#include "core/error.h"
#include "eval/split_cases.h"
#include "stages/stages.h"

namespace grec::stages {

ItemIndex load_item_index(const Config& config, const RunDir& run) {
  ItemIndex index;
  index.dataset = data::read_dataset(dataset_path(config));
  const std::string path = run.artifacts("rqvae") + "/semantic_ids.h5";
  if (!std::filesystem::exists(path)) {
    user_error("{} does not exist: run the rqvae stage first (grec stage rqvae CONFIG)", path);
  }
  index.ids = tok::read_semantic_ids(path);
  if (index.ids.items != index.dataset.num_items()) {
    user_error("{} has {} items but the dataset has {}: rerun the rqvae stage on this dataset",
               path, index.ids.items, index.dataset.num_items());
  }
  index.trie = tok::build_trie(index.ids);
  index.item_tokens.reserve(index.ids.items);
  for (int64_t i = 0; i < index.ids.items; ++i) {
    index.item_tokens.push_back(tok::token_string(index.ids, i));
  }
  return index;
}

data::InstructionOptions instruction_options(const Config& config) {
  data::InstructionOptions o;
  o.tasks = config.get_string_list("align.tasks");
  for (const std::string& task : data::instruction_task_names()) {
    o.weights[task] = config.get_float("align.weights." + task);
  }
  o.max_history = config.get_int("align.max_history");
  o.prompt_template = config.get_string("align.prompt_template");
  o.text_field = config.get_string("align.text_field");
  o.prompt_style = config.get_string("align.prompt_style");
  if (o.prompt_style == "auto") {
    // A model from scratch learns nothing from varied wording and pays for every token; a
    // pretrained LLM reads instructions (LC-Rec's setting).
    o.prompt_style = config.get_string("align.model.path").empty() ? "compact" : "varied";
  }
  o.item_tasks_all_items = config.get_bool("align.item_tasks_all_items");
  o.seed = static_cast<uint64_t>(config.get_int("align.train.seed"));
  return o;
}

std::string aligned_model_dir(const RunDir& run) { return run.artifacts("align") + "/model"; }

PromptCases seqrec_cases(const ItemIndex& index, const tok::TextTokenizer& tokenizer,
                         const data::InstructionOptions& options, const std::string& split,
                         int64_t max_len, int64_t max_users, uint64_t seed) {
  const data::Dataset& d = index.dataset;
  std::vector<int64_t> users;
  std::map<int64_t, std::vector<int64_t>> held_out;
  for (eval::RankingCase& c : eval::split_cases(d, split)) {
    users.push_back(c.user);
    held_out[c.user] = std::move(c.held_out);
  }
  if (max_users > 0 && static_cast<int64_t>(users.size()) > max_users) {
    std::mt19937_64 rng(seed);
    std::shuffle(users.begin(), users.end(), rng);
    users.resize(max_users);
    std::sort(users.begin(), users.end());
  }
  PromptCases cases;
  cases.users = users;
  // Room for the generated code tokens after the prompt.
  const int64_t prompt_max = max_len - index.ids.levels;
  for (int64_t u : users) {
    const data::Instruction ins =
        data::seqrec_eval_instruction(d, index.item_tokens, u, split, options);
    cases.prompts.push_back(tok::encode_prompt(tokenizer, ins.prompt, prompt_max));
    cases.targets.push_back(ins.item);
    cases.held_out.push_back(held_out.at(u));
  }
  return cases;
}

}  // namespace grec::stages
