// A prefix trie over item code tuples, for constrained decoding of semantic IDs: every path from
// the root to a leaf is exactly one existing item, so a decoder that only follows trie edges can
// never emit a non-item (ALGORITHMS.md §1).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace grec::tok {

// A trie over item code tuples (each tuple = one item; levels L; the code at level l is in
// [0, K_l)). Node ids are dense; the root is node 0; leaves map to item ids.
class PrefixTrie {
 public:
  PrefixTrie() = default;
  // codes: row-major [n, levels]; row i is item i. grec::UserError on a duplicate tuple (names
  // both items) or a negative code.
  static PrefixTrie build(const std::vector<int64_t>& codes, int64_t n, int64_t levels);
  int64_t levels() const { return levels_; }
  int64_t num_items() const { return num_items_; }
  int64_t num_nodes() const { return static_cast<int64_t>(depth_.size()); }
  static constexpr int64_t kRoot = 0;
  int64_t depth(int64_t node) const;  // root 0, leaves = levels
  // Child reached by `code` from `node`, or -1. O(1): a direct index when the node's codes are
  // dense, else a binary search over its (small, sorted) code list.
  int64_t child(int64_t node, int64_t code) const;
  // The codes allowed after `node` (sorted ascending) and the matching child nodes.
  const std::vector<int64_t>& next_codes(int64_t node) const;
  const std::vector<int64_t>& next_nodes(int64_t node) const;
  int64_t item(int64_t leaf) const;  // item id of a leaf, -1 otherwise
  // Walk a whole prefix from the root; -1 when it leaves the trie.
  int64_t find(const int64_t* prefix, int64_t len) const;
  // allowed_next(prefix) convenience = next_codes(find(prefix)) (empty for an invalid prefix).
  std::vector<int64_t> allowed_next(const std::vector<int64_t>& prefix) const;
  // Batched masks for constrained decoding: for each node in `nodes`, mask[b][token] = 0 when the
  // token is allowed next, -inf otherwise; `token_ids[l][c]` is the vocabulary id of code c at
  // level l. Returns float32 [nodes.size(), vocab_size]. A leaf or -1 node allows nothing.
  torch::Tensor masks(const std::vector<int64_t>& nodes,
                      const std::vector<std::vector<int64_t>>& token_ids,
                      int64_t vocab_size) const;
  std::string serialize() const;                            // compact binary
  static PrefixTrie deserialize(const std::string& bytes);  // UserError on corrupt input

 private:
  void check_node(int64_t node) const;
  int64_t levels_ = 0;
  int64_t num_items_ = 0;
  std::vector<int64_t> depth_;
  std::vector<int64_t> item_;                     // per node; -1 for inner nodes
  std::vector<std::vector<int64_t>> next_codes_;  // per node, sorted ascending
  std::vector<std::vector<int64_t>> next_nodes_;  // per node, aligned with next_codes_
};

// Semantic-ID token text: level 0 -> "<a_c>", 1 -> "<b_c>", 2 -> "<c_c>", ... (ALGORITHMS.md §1).
std::string semantic_token(int64_t level, int64_t code);

}  // namespace grec::tok
