// PrefixTrie: built from item tuples sorted lexicographically, so node ids come in pre-order and
// every node's children are already sorted by code. Serialised as the code matrix itself (the
// trie is a pure function of it) with a header and an FNV-1a checksum.
#include "tokenizer/prefix_trie.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <numeric>

#include "core/error.h"
#include "core/hash.h"

namespace grec::tok {
namespace {

constexpr char kMagic[8] = {'G', 'R', 'E', 'C', 'T', 'R', 'I', 'E'};
constexpr uint32_t kVersion = 1;

template <typename T>
void put(std::string& out, T v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof(T));
}

template <typename T>
T get(const std::string& in, size_t& pos) {
  if (pos + sizeof(T) > in.size()) user_error("corrupt prefix trie: truncated at byte {}", pos);
  T v;
  std::memcpy(&v, in.data() + pos, sizeof(T));
  pos += sizeof(T);
  return v;
}

std::string tuple_text(const int64_t* t, int64_t levels) {
  std::string s = "(";
  for (int64_t l = 0; l < levels; ++l) s += (l ? "," : "") + std::to_string(t[l]);
  return s + ")";
}

}  // namespace

std::string semantic_token(int64_t level, int64_t code) {
  GREC_CHECK(level >= 0 && level < 26, "semantic token level {} out of range [0, 26)", level);
  GREC_CHECK(code >= 0, "semantic token code {} is negative", code);
  return "<" + std::string(1, static_cast<char>('a' + level)) + "_" + std::to_string(code) + ">";
}

PrefixTrie PrefixTrie::build(const std::vector<int64_t>& codes, int64_t n, int64_t levels) {
  GREC_CHECK(n >= 0 && levels >= 1, "trie needs n >= 0 and levels >= 1 (n {}, levels {})", n,
             levels);
  GREC_CHECK(static_cast<int64_t>(codes.size()) == n * levels,
             "trie codes hold {} values, expected {} x {}", codes.size(), n, levels);
  for (int64_t i = 0; i < n * levels; ++i) {
    if (codes[i] < 0) {
      user_error("item {} has a negative code {} at level {}", i / levels, codes[i], i % levels);
    }
  }
  const int64_t* c = codes.data();
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  auto less = [&](int64_t a, int64_t b) {
    return std::lexicographical_compare(c + a * levels, c + (a + 1) * levels, c + b * levels,
                                        c + (b + 1) * levels);
  };
  std::stable_sort(order.begin(), order.end(), less);
  PrefixTrie t;
  t.levels_ = levels;
  t.num_items_ = n;
  auto new_node = [&](int64_t depth) {
    t.depth_.push_back(depth);
    t.item_.push_back(-1);
    t.next_codes_.emplace_back();
    t.next_nodes_.emplace_back();
    return static_cast<int64_t>(t.depth_.size()) - 1;
  };
  new_node(0);
  std::vector<int64_t> path(levels + 1, kRoot);  // path[l] = node at depth l of the previous item
  for (int64_t r = 0; r < n; ++r) {
    const int64_t i = order[r];
    int64_t shared = 0;  // levels shared with the previous tuple in sorted order
    if (r > 0) {
      const int64_t p = order[r - 1];
      while (shared < levels && c[p * levels + shared] == c[i * levels + shared]) ++shared;
      if (shared == levels) {
        user_error("items {} and {} share the code tuple {}; semantic IDs must be unique",
                   std::min(p, i), std::max(p, i), tuple_text(c + i * levels, levels));
      }
    }
    for (int64_t l = shared; l < levels; ++l) {
      const int64_t node = new_node(l + 1);
      t.next_codes_[path[l]].push_back(c[i * levels + l]);
      t.next_nodes_[path[l]].push_back(node);
      path[l + 1] = node;
    }
    t.item_[path[levels]] = i;
  }
  return t;
}

void PrefixTrie::check_node(int64_t node) const {
  GREC_CHECK(node >= 0 && node < num_nodes(), "trie node {} out of range [0, {})", node,
             num_nodes());
}

int64_t PrefixTrie::depth(int64_t node) const {
  check_node(node);
  return depth_[node];
}

int64_t PrefixTrie::child(int64_t node, int64_t code) const {
  check_node(node);
  const auto& cs = next_codes_[node];
  if (cs.empty() || code < cs.front() || code > cs.back()) return -1;
  // Dense children (the common case for well-used codebooks): direct index.
  if (cs.back() - cs.front() + 1 == static_cast<int64_t>(cs.size())) {
    return next_nodes_[node][code - cs.front()];
  }
  const auto it = std::lower_bound(cs.begin(), cs.end(), code);
  if (it == cs.end() || *it != code) return -1;
  return next_nodes_[node][it - cs.begin()];
}

const std::vector<int64_t>& PrefixTrie::next_codes(int64_t node) const {
  check_node(node);
  return next_codes_[node];
}

const std::vector<int64_t>& PrefixTrie::next_nodes(int64_t node) const {
  check_node(node);
  return next_nodes_[node];
}

int64_t PrefixTrie::item(int64_t leaf) const {
  check_node(leaf);
  return item_[leaf];
}

int64_t PrefixTrie::find(const int64_t* prefix, int64_t len) const {
  if (num_nodes() == 0 || len > levels_) return -1;
  int64_t node = kRoot;
  for (int64_t l = 0; l < len && node >= 0; ++l) node = child(node, prefix[l]);
  return node;
}

std::vector<int64_t> PrefixTrie::allowed_next(const std::vector<int64_t>& prefix) const {
  const int64_t node = find(prefix.data(), static_cast<int64_t>(prefix.size()));
  if (node < 0) return {};
  return next_codes_[node];
}

torch::Tensor PrefixTrie::masks(const std::vector<int64_t>& nodes,
                                const std::vector<std::vector<int64_t>>& token_ids,
                                int64_t vocab_size) const {
  const int64_t b = static_cast<int64_t>(nodes.size());
  torch::Tensor out =
      torch::full({b, vocab_size}, -std::numeric_limits<float>::infinity(), torch::kFloat);
  float* m = out.data_ptr<float>();
  for (int64_t r = 0; r < b; ++r) {
    const int64_t node = nodes[r];
    if (node < 0) continue;
    check_node(node);
    const int64_t level = depth_[node];
    if (level >= levels_) continue;
    TORCH_CHECK(level < static_cast<int64_t>(token_ids.size()), "token_ids has no level ", level);
    const auto& ids = token_ids[level];
    for (int64_t code : next_codes_[node]) {
      TORCH_CHECK(code < static_cast<int64_t>(ids.size()), "token_ids[", level, "] has no code ",
                  code);
      const int64_t tok = ids[code];
      TORCH_CHECK(tok >= 0 && tok < vocab_size, "token id ", tok, " outside vocab ", vocab_size);
      m[r * vocab_size + tok] = 0.0f;
    }
  }
  return out;
}

std::string PrefixTrie::serialize() const {
  // Recover the tuples in item order from the leaves.
  std::vector<int64_t> codes(num_items_ * levels_, -1);
  std::vector<int64_t> via(num_nodes(), -1);  // code on the edge into each node
  std::vector<int64_t> parent(num_nodes(), -1);
  for (int64_t node = 0; node < num_nodes(); ++node) {
    for (size_t j = 0; j < next_nodes_[node].size(); ++j) {
      via[next_nodes_[node][j]] = next_codes_[node][j];
      parent[next_nodes_[node][j]] = node;
    }
  }
  for (int64_t node = 0; node < num_nodes(); ++node) {
    if (item_[node] < 0) continue;
    int64_t x = node;
    for (int64_t l = levels_ - 1; l >= 0; --l) {
      codes[item_[node] * levels_ + l] = via[x];
      x = parent[x];
    }
  }
  std::string payload;
  put<int64_t>(payload, levels_);
  put<int64_t>(payload, num_items_);
  for (int64_t v : codes) {
    GREC_CHECK(v >= 0 && v <= std::numeric_limits<int32_t>::max(), "code {} does not fit", v);
    put<int32_t>(payload, static_cast<int32_t>(v));
  }
  std::string out(kMagic, sizeof(kMagic));
  put<uint32_t>(out, kVersion);
  put<uint64_t>(out, fnv1a64(payload));
  return out + payload;
}

PrefixTrie PrefixTrie::deserialize(const std::string& bytes) {
  if (bytes.size() < sizeof(kMagic) || std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) != 0) {
    user_error("corrupt prefix trie: missing the GRECTRIE header");
  }
  size_t pos = sizeof(kMagic);
  const auto version = get<uint32_t>(bytes, pos);
  if (version != kVersion) user_error("prefix trie format version {} is not supported", version);
  const auto checksum = get<uint64_t>(bytes, pos);
  if (fnv1a64(std::string_view(bytes).substr(pos)) != checksum) {
    user_error("corrupt prefix trie: checksum mismatch");
  }
  const auto levels = get<int64_t>(bytes, pos);
  const auto n = get<int64_t>(bytes, pos);
  if (levels < 1 || n < 0 || bytes.size() - pos != static_cast<uint64_t>(n * levels) * 4) {
    user_error("corrupt prefix trie: {} items x {} levels do not match {} bytes", n, levels,
               bytes.size() - pos);
  }
  std::vector<int64_t> codes(n * levels);
  for (auto& v : codes) v = get<int32_t>(bytes, pos);
  return build(codes, n, levels);
}

}  // namespace grec::tok
