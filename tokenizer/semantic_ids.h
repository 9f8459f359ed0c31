// The semantic IDs file, artifacts/rqvae/semantic_ids.h5: /codes int64 [items, levels] in item
// order (levels = L, or L+1 when the suffix level was needed), /codebooks/level_<l> float32 [K, d]
// for the RQ-VAE levels, attributes (levels, codebook_size, method, collision stats, config json).
// Also the TSV view (item id, raw id, title, code tuple, token string) and the semantic sanity
// figure of the rqvae report. Torch-free.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace grec::data {
struct Dataset;
}

namespace grec::tok {

class PrefixTrie;

constexpr int64_t kSemanticIdsFormatVersion = 1;

struct SemanticIds {
  int64_t items = 0;
  int64_t levels = 0;               // levels_total: rq_levels, +1 with the suffix level
  std::vector<int64_t> codes;       // row-major [items, levels]
  std::vector<int64_t> level_sizes; // code count per level (suffix level: its max value + 1)
  int64_t rq_levels = 0;            // levels that come from the RQ-VAE codebooks
  int64_t codebook_size = 0;        // K of the RQ-VAE levels
  int64_t code_dim = 0;             // d of the codebooks (0 when none are stored)
  std::vector<std::vector<float>> codebooks;  // per RQ level: row-major [level_sizes[l], code_dim]
  std::string method;               // collision method: sinkhorn | suffix | none
  nlohmann::json stats = nlohmann::json::object();   // collision stats and any report figures
  nlohmann::json config = nlohmann::json::object();  // the settings that produced the codes

  int64_t code(int64_t item, int64_t level) const { return codes[item * levels + level]; }
  // Checks shapes and ranges; throws grec::Error naming the first violation.
  void validate() const;
};

// Writes through a temporary file and a rename.
void write_semantic_ids(const SemanticIds& ids, const std::string& path);
// Reads and validates; errors (UserError) name the file and the object.
SemanticIds read_semantic_ids(const std::string& path);

// "<a_12><b_3><c_200>" for one item.
std::string token_string(const SemanticIds& ids, int64_t item);
// TSV view: header, then one line per item: item id, raw id, title, code tuple "12,3,200", token
// string. Tabs/newlines inside titles become spaces. `dataset` may be null (raw id/title empty).
void write_semantic_ids_tsv(const SemanticIds& ids, const data::Dataset* dataset,
                            const std::string& path);

// The trie over the item tuples (UserError when two items share a tuple).
PrefixTrie build_trie(const SemanticIds& ids);

// Semantic sanity figure: mean cosine of the text embeddings ([n, d] row-major) of item pairs that
// share their first code; `*mean_not_sharing` receives the same over pairs that do not (NaN when
// there is no such pair). All pairs when n(n-1)/2 <= max_pairs, else `max_pairs` pairs drawn
// deterministically from `seed` (same-code pairs sampled within first-code groups so the
// figure exists even when groups are small). Returns NaN when no pair shares a first code.
double mean_cosine_sharing_first_code(const std::vector<float>& embeddings, int64_t n, int64_t d,
                                      const SemanticIds& ids, double* mean_not_sharing = nullptr,
                                      uint64_t seed = 0, int64_t max_pairs = 2000000);

}  // namespace grec::tok
