// Trie-constrained beam search (tokenizer/constrained_decoding.h) on a tiny random CausalLM:
// never yields a non-item or a duplicate, equals brute-force enumeration of every item's sequence
// log-probability when no prefix is pruned, and batched (left-padded) equals one-by-one.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>
#include <vector>

#include "model/causal_lm.h"
#include "tests/model/llm_test_util.h"
#include "tokenizer/constrained_decoding.h"
#include "tokenizer/prefix_trie.h"

namespace grec::model {
namespace {

using tok::constrained_beam_search;

constexpr int64_t kVocab = 64;

CausalLM tiny_lm(uint64_t seed) { return test::peaked_lm(seed, kVocab); }

// Level l, code c -> token 30 + 8 * l + c (codes < 8, three levels: tokens 30..53).
std::vector<std::vector<int64_t>> token_table(int64_t levels, int64_t codes) {
  std::vector<std::vector<int64_t>> t(levels);
  for (int64_t l = 0; l < levels; ++l)
    for (int64_t c = 0; c < codes; ++c) t[l].push_back(30 + 8 * l + c);
  return t;
}

// `n` distinct random tuples with code ranges `sizes` (row-major codes).
std::vector<int64_t> random_items(const std::vector<int64_t>& sizes, int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::set<std::vector<int64_t>> seen;
  std::vector<int64_t> codes;
  while (static_cast<int64_t>(seen.size()) < n) {
    std::vector<int64_t> t;
    for (auto k : sizes) t.push_back(static_cast<int64_t>(rng() % k));
    if (seen.insert(t).second) codes.insert(codes.end(), t.begin(), t.end());
  }
  return codes;
}

torch::Tensor row(const std::vector<int64_t>& v) {
  return torch::tensor(v, torch::kLong).view({1, -1});
}

struct Scored {
  int64_t item;
  double score;
};

// Every item's log P(item tokens | prompt) from one full forward each, best first.
std::vector<Scored> brute_force(CausalLM& lm, const std::vector<int64_t>& prompt,
                                const std::vector<int64_t>& codes, int64_t levels,
                                const std::vector<std::vector<int64_t>>& tokens) {
  torch::NoGradGuard g;
  const int64_t n = codes.size() / levels;
  std::vector<Scored> out;
  for (int64_t i = 0; i < n; ++i) {
    auto seq = prompt;
    for (int64_t l = 0; l < levels; ++l) seq.push_back(tokens[l][codes[i * levels + l]]);
    auto logp = torch::log_softmax(lm->forward(row(seq))[0].to(torch::kDouble), -1);
    double s = 0;
    for (int64_t l = 0; l < levels; ++l) {
      s += logp[prompt.size() - 1 + l][seq[prompt.size() + l]].item<double>();
    }
    out.push_back({i, s});
  }
  std::sort(out.begin(), out.end(), [](const Scored& a, const Scored& b) { return a.score > b.score; });
  return out;
}

// Greedy decoding over the items' code tuples: at each level the most likely token among the
// codes that some item with the chosen prefix has next. Returns the item reached.
int64_t greedy_in_trie(CausalLM& lm, const std::vector<int64_t>& prompt,
                       const std::vector<int64_t>& codes, int64_t levels,
                       const std::vector<std::vector<int64_t>>& tokens) {
  torch::NoGradGuard g;
  const int64_t n = static_cast<int64_t>(codes.size()) / levels;
  std::vector<int64_t> seq = prompt, chosen;
  for (int64_t l = 0; l < levels; ++l) {
    const auto logits = lm->forward(row(seq))[0][-1];
    int64_t best = -1;
    for (int64_t i = 0; i < n; ++i) {
      if (!std::equal(chosen.begin(), chosen.end(), codes.begin() + i * levels)) continue;
      const int64_t c = codes[i * levels + l];
      if (best < 0 || logits[tokens[l][c]].item<float>() > logits[tokens[l][best]].item<float>()) {
        best = c;
      }
    }
    chosen.push_back(best);
    seq.push_back(tokens[l][best]);
  }
  for (int64_t i = 0; i < n; ++i) {
    if (std::equal(chosen.begin(), chosen.end(), codes.begin() + i * levels)) return i;
  }
  return -1;
}

const std::vector<std::vector<int64_t>> kPrompts = {{3, 9, 27, 4}, {7, 1}, {5, 5, 2, 18, 13, 21}};

// Checks hits against the brute-force ranking: same items in the same order, same scores.
void expect_matches(const std::vector<BeamHit>& hits, const std::vector<Scored>& want,
                    size_t count) {
  ASSERT_EQ(hits.size(), count);
  for (size_t k = 0; k < count; ++k) {
    EXPECT_EQ(hits[k].item, want[k].item) << "rank " << k;
    EXPECT_NEAR(hits[k].score, want[k].score, 1e-5) << "rank " << k;
  }
}

// 20 items on 4 x 4 x 4 codes: at most 4, 16, 20 nodes per depth, so 20 beams prune nothing
// and the result is the full brute-force ranking.
TEST(ConstrainedDecoding, EqualsBruteForceWhenNothingIsPruned) {
  auto lm = tiny_lm(11);
  const int64_t levels = 3;
  auto codes = random_items({4, 4, 4}, 20, 1);
  auto trie = tok::PrefixTrie::build(codes, 20, levels);
  auto tokens = token_table(levels, 8);
  for (const auto& p : kPrompts) {
    auto hits = constrained_beam_search(lm, row(p), {}, trie, tokens, 20);
    expect_matches(hits[0], brute_force(lm, p, codes, levels, tokens), 20);
  }
}

// 2 x 4 first-two-level prefixes (8 nodes at depth 2) with 25 items: 8 beams keep every prefix,
// so the top-8 is exact although the last step prunes.
TEST(ConstrainedDecoding, TopBExactWhenBeamCoversEveryPrefix) {
  auto lm = tiny_lm(12);
  const int64_t levels = 3;
  auto codes = random_items({2, 4, 8}, 25, 2);
  auto trie = tok::PrefixTrie::build(codes, 25, levels);
  auto tokens = token_table(levels, 8);
  for (const auto& p : kPrompts) {
    auto hits = constrained_beam_search(lm, row(p), {}, trie, tokens, 8);
    expect_matches(hits[0], brute_force(lm, p, codes, levels, tokens), 8);
  }
}

// Small beams over a larger trie: approximate, but every hit is an existing item whose tokens
// are its codes, hits are distinct, sorted, and their scores are the true log-probabilities.
TEST(ConstrainedDecoding, NeverYieldsANonItemOrDuplicate) {
  auto lm = tiny_lm(13);
  const int64_t levels = 3;
  const int64_t n = 300;
  auto codes = random_items({8, 8, 8}, n, 3);
  auto trie = tok::PrefixTrie::build(codes, n, levels);
  auto tokens = token_table(levels, 8);
  for (int64_t beams : {1, 3, 10}) {
    for (const auto& p : kPrompts) {
      auto hits = constrained_beam_search(lm, row(p), {}, trie, tokens, beams)[0];
      ASSERT_EQ(static_cast<int64_t>(hits.size()), beams);
      std::set<int64_t> items;
      auto all = brute_force(lm, p, codes, levels, tokens);
      for (size_t k = 0; k < hits.size(); ++k) {
        const auto& h = hits[k];
        ASSERT_GE(h.item, 0);
        ASSERT_LT(h.item, n);
        EXPECT_TRUE(items.insert(h.item).second) << "duplicate item " << h.item;
        ASSERT_EQ(static_cast<int64_t>(h.tokens.size()), levels);
        for (int64_t l = 0; l < levels; ++l) {
          EXPECT_EQ(h.tokens[l], tokens[l][codes[h.item * levels + l]]);
        }
        auto ref = std::find_if(all.begin(), all.end(), [&](const Scored& s) { return s.item == h.item; });
        EXPECT_NEAR(h.score, ref->score, 1e-5);
        if (k > 0) {
          EXPECT_GE(hits[k - 1].score, h.score);
        }
      }
      // One beam is greedy decoding restricted to the trie, derived here from the codes alone.
      if (beams == 1) {
        EXPECT_EQ(hits[0].item, greedy_in_trie(lm, p, codes, levels, tokens));
      }
    }
  }
}

TEST(ConstrainedDecoding, FewerItemsThanBeams) {
  auto lm = tiny_lm(14);
  const std::vector<int64_t> codes = {0, 1, 2, 3, 1, 0, 3, 3, 3};
  auto trie = tok::PrefixTrie::build(codes, 3, 3);
  auto tokens = token_table(3, 8);
  auto hits = constrained_beam_search(lm, row(kPrompts[0]), {}, trie, tokens, 20)[0];
  expect_matches(hits, brute_force(lm, kPrompts[0], codes, 3, tokens), 3);
}

TEST(ConstrainedDecoding, BatchedEqualsOneByOne) {
  auto lm = tiny_lm(15);
  const int64_t levels = 3, n = 200;
  auto codes = random_items({8, 8, 8}, n, 4);
  auto trie = tok::PrefixTrie::build(codes, n, levels);
  auto tokens = token_table(levels, 8);
  int64_t len = 0;
  for (const auto& p : kPrompts) len = std::max<int64_t>(len, p.size());
  auto ids = torch::zeros({3, len}, torch::kLong);
  auto mask = torch::zeros({3, len}, torch::kLong);
  for (int64_t b = 0; b < 3; ++b) {
    const int64_t off = len - static_cast<int64_t>(kPrompts[b].size());
    for (size_t t = 0; t < kPrompts[b].size(); ++t) {
      ids[b][off + t] = kPrompts[b][t];
      mask[b][off + t] = 1;
    }
  }
  auto batched = constrained_beam_search(lm, ids, mask, trie, tokens, 10);
  ASSERT_EQ(batched.size(), 3u);
  for (int64_t b = 0; b < 3; ++b) {
    auto single = constrained_beam_search(lm, row(kPrompts[b]), {}, trie, tokens, 10)[0];
    ASSERT_EQ(batched[b].size(), single.size());
    for (size_t k = 0; k < single.size(); ++k) {
      EXPECT_EQ(batched[b][k].item, single[k].item);
      EXPECT_NEAR(batched[b][k].score, single[k].score, 1e-5);
    }
  }
}

TEST(ConstrainedDecoding, RejectsBadTokenTable) {
  auto lm = tiny_lm(16);
  auto trie = tok::PrefixTrie::build({0, 1, 1, 0}, 2, 2);
  EXPECT_ANY_THROW(constrained_beam_search(lm, row(kPrompts[0]), {}, trie, token_table(1, 8), 2));
  EXPECT_ANY_THROW(constrained_beam_search(lm, row(kPrompts[0]), {}, trie, {{0, 1}, {kVocab, 2}}, 2));
}

}  // namespace
}  // namespace grec::model
