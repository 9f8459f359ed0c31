// The serving bundle (`grec export RUN_DIR --out DIR`, README "Export for serving"): what a serving
// system needs from a run, in formats other stacks read.
//
//   manifest.json   format + version, grec version and commit, the run's stage keys, dataset
//                   fingerprint, source checkpoints with their metrics, sha256 + size per file
//   items.jsonl     one item per line: dense id, raw id, title, semantic-ID tuple, token string
//   trie.json       the prefix trie over the semantic-ID tuples (documented, versioned)
//   prompt.json     the seqrec prompt around the history, history window, beam count
//   llm/            HF layout: config.json (extended vocabulary), generation_config.json,
//                   model.safetensors (or shards + index past the shard size), tokenizer files
//                   with every semantic-ID token as an added special token
//   student/        SASRec: model.safetensors + config.json (architecture, sizes); row 0 of the
//                   item table is padding, row i + 1 is dense item i of items.jsonl
//
// The writer builds the bundle in a temporary sibling folder and renames it into place, so a
// bundle folder is either complete or absent. The reader checks every file's sha256 against the
// manifest and names the first that differs.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/causal_lm.h"
#include "model/sasrec.h"
#include "tokenizer/prefix_trie.h"
#include "tokenizer/text_tokenizer.h"

namespace grec::bundle {

inline constexpr int kBundleVersion = 1;

struct BundleItem {
  std::string raw_id;
  std::string title;
  std::vector<int64_t> codes;  // semantic-ID tuple
  std::string tokens;          // "<a_3><b_12><c_0>"
};

// The seqrec prompt of the LLM: prefix + history tokens joined by separator + suffix, the history
// cut to its last max_history items, encoded as stage evaluate does (bos, then the prompt cut from
// the left to max_prompt_tokens ids).
struct PromptFormat {
  std::string prefix, suffix, separator = ", ";
  int64_t max_history = 20;
  int64_t max_prompt_tokens = 256;
  std::string fill(const std::vector<std::string>& history_tokens) const;
};

class Bundle {
 public:
  std::string dir;
  nlohmann::json manifest;
  std::vector<BundleItem> items;
  std::unordered_map<std::string, int64_t> by_raw_id;  // raw id -> dense id

  // The LLM (null when the bundle has none).
  model::CausalLM llm{nullptr};
  std::unique_ptr<tok::TextTokenizer> tokenizer;
  tok::PrefixTrie trie;
  std::vector<std::vector<int64_t>> token_ids;  // [level][code] -> vocabulary id
  PromptFormat prompt;
  int64_t num_beams = 20;

  // The student (null when the bundle has none).
  model::SASRec student{nullptr};

  bool has_llm() const { return !llm.is_empty(); }
  bool has_student() const { return !student.is_empty(); }
  // Dense id of a raw id, or -1.
  int64_t item_of(const std::string& raw_id) const;
};

struct ExportOptions {
  std::string dtype = "fp32";        // fp32 | bf16: the LLM's weights in llm/
  int64_t max_shard_bytes = 0;       // 0 = 5 GB (HF's default); larger LLMs are sharded
  bool overwrite = false;            // replace an existing bundle folder
};

// What goes into a bundle, gathered from a run by stages/export_run.h.
struct BundleContents {
  std::vector<BundleItem> items;
  std::vector<int64_t> level_sizes;  // codes per semantic-ID level
  PromptFormat prompt;
  int64_t num_beams = 20;
  std::string llm_dir;               // HF folder of the aligned LLM ("" = none)
  std::string student_dir;           // folder with model.safetensors + config.json ("" = none)
  nlohmann::json provenance;         // merged into manifest.json (version, keys, sources, metrics)
};

// Writes `contents` into `out` atomically and returns the manifest. UserError when `out` exists
// (unless options.overwrite), when neither model is given, or an input file is missing/corrupt.
nlohmann::json write_bundle(const BundleContents& contents, const std::string& out,
                            const ExportOptions& options);

struct LoadOptions {
  bool verify = true;    // sha256 of every file against the manifest
  bool llm = true;       // load the LLM when present
  bool student = true;   // load the student when present
};

// Reads and checks a bundle (UserError naming the file for a missing, corrupt or altered file).
std::shared_ptr<const Bundle> load_bundle(const std::string& dir, const LoadOptions& options = {});

}  // namespace grec::bundle
