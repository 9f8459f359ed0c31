// LC-Rec instruction data (ALGORITHMS.md §2): the training mixture of collaborative tasks built
// from a Dataset's training parts and item text, with item semantic IDs written as token strings
// ("<a_12><b_3><c_200>"). Torch-free: the tokenizing step lives in instruction_batches.h.
//
// Leakage rule: every training sample is built from positions < train_end of its user, and the
// item-level tasks (item2index, index2item) by default cover only items that occur in some
// user's training part, so an item seen only in validation/test never reaches a training prompt.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "data_pipeline/dataset.h"

namespace grec::data {

struct InstructionOptions {
  // Tasks to build: seqrec, item2index, index2item, fusionseqrec, itemsearch, preferenceobtain.
  std::vector<std::string> tasks = {"seqrec", "item2index", "index2item", "fusionseqrec"};
  // task -> mixture weight (missing = 1). A task yields round(weight * natural count) samples:
  // whole copies, then a seeded subsample for the fraction. 0 drops the task.
  std::map<std::string, double> weights;
  int64_t max_history = 20;  // items in a history, most recent kept
  // Prompt wrapper; "{instruction}" is replaced by the task text. The response follows directly.
  std::string prompt_template =
      "Below is an instruction that describes a task. Write a response that appropriately "
      "completes the request.\n\n### Instruction:\n{instruction}\n\n### Response:\n";
  std::string text_field = "title";  // item text of index2item / item2index / fusionseqrec
  // Phrasings: "varied" (a seeded choice among several per task; evaluation uses the first),
  // "fixed" (always the first), "compact" (one short phrasing per task, compact_phrasings()).
  std::string prompt_style = "varied";
  // item2index/index2item over every item; default: only items in some user's training part.
  bool item_tasks_all_items = false;
  // itemsearch: the first of these interaction text fields present in the dataset is the query
  // of the interaction's item (a generated query, else the user's own review as its proxy).
  std::vector<std::string> query_fields = {"query", "review"};
  // preferenceobtain: interaction text field holding a preference summary of the user's history
  // up to and including that interaction (e.g. LLM-generated); absent = task skipped.
  std::string preference_field = "preference";
  // Per-user tasks (seqrec, fusionseqrec, itemsearch) build a sample from training prefix
  // (user, end) only when this returns true; empty = every prefix. Data pruning (stage prune)
  // sets it to its kept set. Item-level tasks are not affected.
  std::function<bool(int64_t user, int64_t end)> keep_prefix;
  uint64_t seed = 0;
};

// A per-user training sample's stable key: history seq[..end), target seq[end], with
// end in [1, train_end) — never a validation or test position.
struct PrefixKey {
  int64_t user = 0;
  int64_t end = 0;
  bool operator==(const PrefixKey& o) const { return user == o.user && end == o.end; }
};
// Every training prefix, by user then end: the natural order of the seqrec samples.
std::vector<PrefixKey> training_prefixes(const Dataset& d);

struct Instruction {
  std::string task;      // "seqrec", ...
  std::string prompt;    // wrapped prompt (template applied)
  std::string response;  // target text (no EOS; the tokenizing step appends EOS)
  int64_t user = -1;     // -1 for item-level tasks
  int64_t item = -1;     // the target / described item (-1 for preferenceobtain)
};

// The task names build_instructions accepts, in a fixed order.
const std::vector<std::string>& instruction_task_names();

// The phrasings of one kind: the task names above, except that fusionseqrec has two directions,
// "fusionseqrec_id2text" and "fusionseqrec_text2id". Placeholders: {history}, {item}, {text},
// {query}. Phrasing 0 is the one used for evaluation. Defined in instruction_phrasings.cc.
const std::vector<std::string>& instruction_phrasings(const std::string& kind);
// The single short phrasing of each kind used with prompt style "compact".
const std::vector<std::string>& compact_phrasings(const std::string& kind);

// Builds the training mixture, tasks in o.tasks order. A task whose inputs are absent (no query
// text, no preference text, no o.text_field) is skipped and a one-sentence reason appended to
// *skipped (may be nullptr). Items with empty text are skipped by text tasks. The phrasing of a
// sample is drawn from (seed, task, sample index, copy), so it does not depend on other tasks.
// UserError on an unknown or repeated task name, a negative/non-finite weight, a template without
// {instruction}, max_history < 1, or item_tokens of the wrong size or with an empty entry.
std::vector<Instruction> build_instructions(const Dataset& d,
                                            const std::vector<std::string>& item_tokens,
                                            const InstructionOptions& o,
                                            std::vector<std::string>* skipped);

// The seqrec prompt for evaluating user u, phrasing 0: split "valid" -> history = training part,
// target = seq[train_end]; "test" -> history = training + validation part, target =
// seq[valid_end]. UserError on an unknown split, a user out of range or without that target.
Instruction seqrec_eval_instruction(const Dataset& d, const std::vector<std::string>& item_tokens,
                                    int64_t user, const std::string& split,
                                    const InstructionOptions& o);

// The same prompt for the history items[0, end) of user u, 1 <= end <= length (the teacher of
// stage distill asks it at training positions); item = seq[end], or -1 when end = length.
Instruction seqrec_prefix_instruction(const Dataset& d, const std::vector<std::string>& item_tokens,
                                      int64_t user, int64_t end, const InstructionOptions& o);

// The evaluation seqrec prompt (phrasing 0, wrapped) split around its history: prompt =
// prefix + history + suffix for every history text (the serving bundle's prompt.json). UserError
// when the template or phrasing does not contain the history exactly once.
struct PromptAroundHistory {
  std::string prefix, suffix;
};
PromptAroundHistory seqrec_prompt_around_history(const InstructionOptions& o);

// Task name -> count, for logging.
std::map<std::string, int64_t> count_by_task(const std::vector<Instruction>& v);

// Replaces every "{name}" of `text` whose name is a key of `values`, in one pass (inserted text
// is never rescanned, so an item title containing "{history}" stays as it is). Other braces stay.
std::string fill_placeholders(const std::string& text,
                              const std::map<std::string, std::string>& values);

}  // namespace grec::data
