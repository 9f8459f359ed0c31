// PrefixTrie against brute force on random tuples, masks, serialisation and bad input.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>

#include "core/error.h"
#include "tokenizer/prefix_trie.h"

namespace grec::tok {
namespace {

std::vector<int64_t> random_unique_codes(int64_t n, int64_t levels, int64_t k, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::set<std::vector<int64_t>> seen;
  std::vector<int64_t> codes;
  while (static_cast<int64_t>(seen.size()) < n) {
    std::vector<int64_t> t(levels);
    for (auto& c : t) c = static_cast<int64_t>(rng() % k);
    if (seen.insert(t).second) codes.insert(codes.end(), t.begin(), t.end());
  }
  return codes;
}

TEST(PrefixTrie, AgreesWithBruteForce) {
  const int64_t n = 700, levels = 3, k = 12;
  const auto codes = random_unique_codes(n, levels, k, 42);
  const auto trie = PrefixTrie::build(codes, n, levels);
  EXPECT_EQ(trie.num_items(), n);
  EXPECT_EQ(trie.levels(), levels);
  // Every prefix of length 0..levels-1 over the full code range, plus one past.
  std::mt19937_64 rng(7);
  for (int trial = 0; trial < 3000; ++trial) {
    const int64_t len = static_cast<int64_t>(rng() % levels);
    std::vector<int64_t> prefix(len);
    for (auto& c : prefix) c = static_cast<int64_t>(rng() % (k + 1));
    if (trial % 2 == 0 && len > 0) {  // half the prefixes taken from real items
      const int64_t i = static_cast<int64_t>(rng() % n);
      for (int64_t l = 0; l < len; ++l) prefix[l] = codes[i * levels + l];
    }
    std::set<int64_t> expect;
    for (int64_t i = 0; i < n; ++i) {
      if (std::equal(prefix.begin(), prefix.end(), codes.begin() + i * levels)) {
        expect.insert(codes[i * levels + len]);
      }
    }
    const auto got = trie.allowed_next(prefix);
    EXPECT_EQ(std::vector<int64_t>(expect.begin(), expect.end()), got);
    const int64_t node = trie.find(prefix.data(), len);
    EXPECT_EQ(node >= 0, !expect.empty() || len == 0);
    if (node >= 0) {
      EXPECT_EQ(trie.depth(node), len);
      for (int64_t c = 0; c <= k; ++c) EXPECT_EQ(trie.child(node, c) >= 0, expect.count(c) == 1);
    }
  }
  for (int64_t i = 0; i < n; ++i) {
    const int64_t leaf = trie.find(codes.data() + i * levels, levels);
    ASSERT_GE(leaf, 0);
    EXPECT_EQ(trie.item(leaf), i);
    EXPECT_EQ(trie.depth(leaf), levels);
    EXPECT_TRUE(trie.next_codes(leaf).empty());
  }
  EXPECT_EQ(trie.item(PrefixTrie::kRoot), -1);
}

TEST(PrefixTrie, MasksAllowExactlyTheNextTokens) {
  const int64_t n = 40, levels = 2, k = 8;
  const auto codes = random_unique_codes(n, levels, k, 3);
  const auto trie = PrefixTrie::build(codes, n, levels);
  // Vocabulary: 10 ordinary tokens, then level 0 codes, then level 1 codes.
  std::vector<std::vector<int64_t>> token_ids(levels, std::vector<int64_t>(k));
  for (int64_t l = 0; l < levels; ++l)
    for (int64_t c = 0; c < k; ++c) token_ids[l][c] = 10 + l * k + c;
  const int64_t vocab = 10 + levels * k;
  std::vector<int64_t> nodes = {PrefixTrie::kRoot, trie.child(PrefixTrie::kRoot, codes[0]),
                                trie.find(codes.data(), levels), -1};
  const auto m = trie.masks(nodes, token_ids, vocab);
  ASSERT_EQ(m.size(0), 4);
  ASSERT_EQ(m.size(1), vocab);
  for (int64_t b = 0; b < 2; ++b) {
    std::set<int64_t> allowed;
    for (int64_t c : trie.next_codes(nodes[b])) allowed.insert(token_ids[b][c]);
    for (int64_t t = 0; t < vocab; ++t) {
      const float v = m[b][t].item<float>();
      if (allowed.count(t)) EXPECT_EQ(v, 0.0f);
      else EXPECT_TRUE(std::isinf(v) && v < 0);
    }
  }
  EXPECT_TRUE(torch::isinf(m[2]).all().item<bool>());  // a leaf allows nothing
  EXPECT_TRUE(torch::isinf(m[3]).all().item<bool>());
}

TEST(PrefixTrie, SerialiseRoundTripAndCorruption) {
  const int64_t n = 300, levels = 4, k = 9;
  const auto codes = random_unique_codes(n, levels, k, 9);
  const auto trie = PrefixTrie::build(codes, n, levels);
  const std::string bytes = trie.serialize();
  const auto back = PrefixTrie::deserialize(bytes);
  EXPECT_EQ(back.num_nodes(), trie.num_nodes());
  EXPECT_EQ(back.serialize(), bytes);
  for (int64_t node = 0; node < trie.num_nodes(); ++node) {
    EXPECT_EQ(back.next_codes(node), trie.next_codes(node));
    EXPECT_EQ(back.next_nodes(node), trie.next_nodes(node));
    EXPECT_EQ(back.item(node), trie.item(node));
  }
  for (size_t pos : {size_t{0}, size_t{9}, size_t{20}, bytes.size() / 2, bytes.size() - 1}) {
    std::string bad = bytes;
    bad[pos] ^= 0x5A;
    EXPECT_THROW(PrefixTrie::deserialize(bad), UserError) << "flipped byte " << pos;
  }
  EXPECT_THROW(PrefixTrie::deserialize(bytes.substr(0, bytes.size() - 3)), UserError);
  EXPECT_THROW(PrefixTrie::deserialize(""), UserError);
}

TEST(PrefixTrie, DuplicateTupleNamesBothItems) {
  std::vector<int64_t> codes = {0, 1, 2, 3, 4, 5, 0, 1, 2};
  try {
    PrefixTrie::build(codes, 3, 3);
    FAIL() << "expected a UserError";
  } catch (const UserError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("items 0 and 2"), std::string::npos) << msg;
    EXPECT_NE(msg.find("(0,1,2)"), std::string::npos) << msg;
  }
  EXPECT_THROW(PrefixTrie::build({0, -1}, 1, 2), UserError);
}

TEST(PrefixTrie, SemanticTokens) {
  EXPECT_EQ(semantic_token(0, 12), "<a_12>");
  EXPECT_EQ(semantic_token(1, 3), "<b_3>");
  EXPECT_EQ(semantic_token(3, 0), "<d_0>");
}

}  // namespace
}  // namespace grec::tok
