// trie.json: the semantic-ID prefix trie of a bundle in a form any language reads with a JSON
// parser (README "Export for serving" documents it):
//   {"format": "grec-prefix-trie", "version": 1, "levels": L, "level_sizes": [K_0, ...],
//    "num_items": N, "item": [per node: dense item id at a leaf, -1 inside],
//    "children": [per node: [[code, child node], ...] sorted by code],
//    "token_ids": [per level: [vocabulary id of code c, ...]] or null without an LLM}
// Node 0 is the root; every root-to-leaf path of L codes is exactly one item.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tokenizer/prefix_trie.h"

namespace grec::bundle {

inline constexpr int kTrieFormatVersion = 1;

nlohmann::json trie_to_json(const tok::PrefixTrie& trie, const std::vector<int64_t>& level_sizes,
                            const std::vector<std::vector<int64_t>>* token_ids);

// The item code tuples of a trie.json, row-major [num_items, levels] (row i = item i). UserError
// naming `what` for another format or version, a malformed node, a path of the wrong length or
// an item reached twice or never.
std::vector<int64_t> trie_json_codes(const nlohmann::json& j, const std::string& what,
                                     int64_t* levels);

}  // namespace grec::bundle
