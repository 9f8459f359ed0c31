// trie.json writer and reader; see trie_file.h.
#include "export/trie_file.h"

#include "core/error.h"

namespace grec::bundle {

nlohmann::json trie_to_json(const tok::PrefixTrie& trie, const std::vector<int64_t>& level_sizes,
                            const std::vector<std::vector<int64_t>>* token_ids) {
  nlohmann::json items = nlohmann::json::array(), children = nlohmann::json::array();
  for (int64_t n = 0; n < trie.num_nodes(); ++n) {
    items.push_back(trie.item(n));
    nlohmann::json c = nlohmann::json::array();
    const auto& codes = trie.next_codes(n);
    const auto& nodes = trie.next_nodes(n);
    for (size_t i = 0; i < codes.size(); ++i) c.push_back({codes[i], nodes[i]});
    children.push_back(std::move(c));
  }
  return {{"format", "grec-prefix-trie"},
          {"version", kTrieFormatVersion},
          {"levels", trie.levels()},
          {"level_sizes", level_sizes},
          {"num_items", trie.num_items()},
          {"item", items},
          {"children", children},
          {"token_ids", token_ids ? nlohmann::json(*token_ids) : nlohmann::json(nullptr)}};
}

std::vector<int64_t> trie_json_codes(const nlohmann::json& j, const std::string& what,
                                     int64_t* levels_out) {
  if (!j.is_object() || j.value("format", "") != "grec-prefix-trie") {
    user_error("{} is not a grec prefix trie (format must be \"grec-prefix-trie\")", what);
  }
  if (j.value("version", -1) != kTrieFormatVersion) {
    user_error("{} has trie format version {}; this grec reads version {}", what,
               j.value("version", -1), kTrieFormatVersion);
  }
  try {
    const int64_t levels = j.at("levels").get<int64_t>();
    const int64_t n_items = j.at("num_items").get<int64_t>();
    const auto& item = j.at("item");
    const auto& children = j.at("children");
    const int64_t n_nodes = static_cast<int64_t>(item.size());
    if (levels < 1 || n_items < 0 || n_nodes < 1 || children.size() != item.size()) {
      user_error("{}: levels {}, {} items, {} item entries for {} children lists", what, levels,
                 n_items, item.size(), children.size());
    }
    std::vector<int64_t> codes(n_items * levels, -1);
    std::vector<char> seen(n_items, 0), visited(n_nodes, 0);
    // Depth-first from the root, carrying the path of codes.
    std::vector<std::pair<int64_t, std::vector<int64_t>>> stack{{0, {}}};
    while (!stack.empty()) {
      auto [node, path] = std::move(stack.back());
      stack.pop_back();
      if (node < 0 || node >= n_nodes || visited[node]) {
        user_error("{}: node {} is out of range or reached twice", what, node);
      }
      visited[node] = 1;
      const int64_t it = item[node].get<int64_t>();
      if (static_cast<int64_t>(path.size()) == levels) {
        if (it < 0 || it >= n_items || seen[it] || !children[node].empty()) {
          user_error("{}: leaf node {} has item {} (out of range, repeated, or with children)",
                     what, node, it);
        }
        seen[it] = 1;
        std::copy(path.begin(), path.end(), codes.begin() + it * levels);
        continue;
      }
      if (it != -1) user_error("{}: inner node {} at depth {} names item {}", what, node, path.size(), it);
      for (const auto& edge : children[node]) {
        auto next = path;
        next.push_back(edge.at(0).get<int64_t>());
        stack.emplace_back(edge.at(1).get<int64_t>(), std::move(next));
      }
    }
    for (int64_t i = 0; i < n_items; ++i) {
      if (!seen[i]) user_error("{}: item {} has no leaf", what, i);
    }
    *levels_out = levels;
    return codes;
  } catch (const nlohmann::json::exception& e) {
    user_error("{} is malformed: {}", what, e.what());
  }
}

}  // namespace grec::bundle
