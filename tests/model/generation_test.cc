// Greedy and beam search (model/generation.h) on a tiny random CausalLM: KV-cache decoding equals
// full recomputation, batched left-padded prompts equal one-by-one decoding, one beam equals
// greedy, and an exhaustive beam equals brute-force enumeration of all continuations.
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "model/causal_lm.h"
#include "model/generation.h"
#include "tests/model/llm_test_util.h"

namespace grec::model {
namespace {

CausalLM tiny_lm(uint64_t seed, int64_t vocab = 40) { return test::peaked_lm(seed, vocab); }

const std::vector<std::vector<int64_t>> kPrompts = {{3, 9, 27, 4, 11}, {7, 1, 30}, {5, 5, 2, 18, 33, 21, 8}};

// Left-pads the prompts into input_ids and attention_mask (padding id 0).
std::pair<torch::Tensor, torch::Tensor> left_pad(const std::vector<std::vector<int64_t>>& prompts) {
  int64_t len = 0;
  for (const auto& p : prompts) len = std::max<int64_t>(len, p.size());
  const int64_t n = prompts.size();
  auto ids = torch::zeros({n, len}, torch::kLong);
  auto mask = torch::zeros({n, len}, torch::kLong);
  for (int64_t b = 0; b < n; ++b) {
    const int64_t off = len - static_cast<int64_t>(prompts[b].size());
    for (size_t t = 0; t < prompts[b].size(); ++t) {
      ids[b][off + t] = prompts[b][t];
      mask[b][off + t] = 1;
    }
  }
  return {ids, mask};
}

torch::Tensor row(const std::vector<int64_t>& v) {
  return torch::tensor(v, torch::kLong).view({1, -1});
}

// Greedy decoding by recomputing the unpadded sequence from scratch each step (no cache, no
// generation.h code).
std::vector<int64_t> reference_greedy(CausalLM& lm, std::vector<int64_t> seq, int64_t steps) {
  torch::NoGradGuard g;
  std::vector<int64_t> out;
  for (int64_t i = 0; i < steps; ++i) {
    auto logits = lm->forward(row(seq)).select(1, -1);
    const int64_t next = logits.argmax(-1).item<int64_t>();
    out.push_back(next);
    seq.push_back(next);
  }
  return out;
}

// log P(continuation | prompt) by one full forward.
double sequence_logprob(CausalLM& lm, const std::vector<int64_t>& prompt,
                        const std::vector<int64_t>& cont) {
  torch::NoGradGuard g;
  auto seq = prompt;
  seq.insert(seq.end(), cont.begin(), cont.end());
  auto logp = torch::log_softmax(lm->forward(row(seq))[0].to(torch::kDouble), -1);
  double s = 0;
  for (size_t i = 0; i < cont.size(); ++i) {
    s += logp[prompt.size() - 1 + i][cont[i]].item<double>();
  }
  return s;
}

TEST(Generation, GreedyWithCacheEqualsRecomputationBatched) {
  auto lm = tiny_lm(1);
  auto [ids, mask] = left_pad(kPrompts);
  GenerationOptions o;
  o.max_new_tokens = 12;
  auto cached = greedy(lm, ids, mask, o);
  o.use_cache = false;
  auto recomputed = greedy(lm, ids, mask, o);
  ASSERT_EQ(cached.sizes(), torch::IntArrayRef({3, 12}));
  EXPECT_TRUE(torch::equal(cached, recomputed));
  for (size_t b = 0; b < kPrompts.size(); ++b) {
    auto ref = reference_greedy(lm, kPrompts[b], 12);
    std::vector<int64_t> got(cached[b].data_ptr<int64_t>(), cached[b].data_ptr<int64_t>() + 12);
    EXPECT_EQ(got, ref) << "prompt " << b;
  }
}

TEST(Generation, GreedyStopsAtEos) {
  auto lm = tiny_lm(2);
  auto ref = reference_greedy(lm, kPrompts[0], 6);
  GenerationOptions o;
  o.max_new_tokens = 6;
  o.eos_token_id = ref[2];
  const auto first = std::find(ref.begin(), ref.end(), ref[2]) - ref.begin();
  auto out = greedy(lm, row(kPrompts[0]), {}, o);
  // Only one row: generation stops right after its eos.
  ASSERT_EQ(out.size(1), first + 1);
  for (int64_t i = 0; i <= first; ++i) EXPECT_EQ(out[0][i].item<int64_t>(), ref[i]);
  // With a second row still running, the finished row is filled with eos.
  auto [ids, mask] = left_pad({kPrompts[0], kPrompts[1]});
  auto both = greedy(lm, ids, mask, o);
  for (int64_t i = first; i < both.size(1); ++i) EXPECT_EQ(both[0][i].item<int64_t>(), ref[2]);
}

TEST(Generation, GreedyWithoutTokensAndBadInput) {
  auto lm = tiny_lm(3);
  GenerationOptions o;
  o.max_new_tokens = 0;
  EXPECT_EQ(greedy(lm, row(kPrompts[0]), {}, o).size(1), 0);
  o.max_new_tokens = 2;
  EXPECT_ANY_THROW(greedy(lm, torch::tensor({1, 2, 3}, torch::kLong), {}, o));
  EXPECT_ANY_THROW(greedy(lm, row(kPrompts[0]), torch::ones({1, 2}, torch::kLong), o));
}

TEST(Generation, OneBeamEqualsGreedy) {
  auto lm = tiny_lm(4);
  auto [ids, mask] = left_pad(kPrompts);
  GenerationOptions o;
  o.max_new_tokens = 8;
  auto g = greedy(lm, ids, mask, o);
  auto beams = beam_search(lm, ids, mask, o);
  ASSERT_EQ(beams.size(), 3u);
  for (int64_t b = 0; b < 3; ++b) {
    ASSERT_EQ(beams[b].size(), 1u);
    std::vector<int64_t> want(g[b].data_ptr<int64_t>(), g[b].data_ptr<int64_t>() + 8);
    EXPECT_EQ(beams[b][0].tokens, want);
    EXPECT_NEAR(beams[b][0].score, sequence_logprob(lm, kPrompts[b], want), 1e-5);
  }
}

// With num_beams >= vocab no prefix is pruned after the first step, so a 2-step beam search
// returns exactly the top-B of all vocab^2 continuations.
TEST(Generation, ExhaustiveBeamEqualsBruteForce) {
  const int64_t vocab = 36;  // > every prompt id
  auto lm = tiny_lm(5, vocab);
  auto [ids, mask] = left_pad(kPrompts);
  GenerationOptions o;
  o.max_new_tokens = 2;
  o.num_beams = vocab;
  auto cached = beam_search(lm, ids, mask, o);
  o.use_cache = false;
  auto recomputed = beam_search(lm, ids, mask, o);
  for (size_t b = 0; b < kPrompts.size(); ++b) {
    std::vector<std::pair<double, std::vector<int64_t>>> all;
    for (int64_t x = 0; x < vocab; ++x) {
      for (int64_t y = 0; y < vocab; ++y) {
        all.push_back({sequence_logprob(lm, kPrompts[b], {x, y}), {x, y}});
      }
    }
    std::sort(all.begin(), all.end(), [](const auto& a, const auto& c) { return a.first > c.first; });
    ASSERT_EQ(cached[b].size(), static_cast<size_t>(vocab));
    for (int64_t k = 0; k < vocab; ++k) {
      EXPECT_EQ(cached[b][k].tokens, all[k].second) << "prompt " << b << " rank " << k;
      EXPECT_NEAR(cached[b][k].score, all[k].first, 1e-5);
      EXPECT_EQ(recomputed[b][k].tokens, cached[b][k].tokens);
      EXPECT_NEAR(recomputed[b][k].score, cached[b][k].score, 1e-5);
    }
  }
}

// A constraint that only allows even tokens while the state counts the emitted tokens: results
// respect it, are distinct, and batched equals one-by-one.
TEST(Generation, ConstrainedBeamBatchedEqualsOneByOne) {
  const int64_t vocab = 40;
  auto lm = tiny_lm(6, vocab);
  BeamConstraint c;
  c.initial_state = 100;
  c.allowed = [&](const std::vector<int64_t>& states) {
    auto m = torch::full({static_cast<int64_t>(states.size()), vocab},
                         -std::numeric_limits<float>::infinity());
    m.index_put_({torch::indexing::Slice(), torch::indexing::Slice(0, vocab, 2)}, 0.0f);
    return m;
  };
  c.advance = [](int64_t state, int64_t token) { return state + 1; };
  GenerationOptions o;
  o.max_new_tokens = 3;
  o.num_beams = 6;
  auto [ids, mask] = left_pad(kPrompts);
  auto batched = beam_search(lm, ids, mask, o, &c);
  for (size_t b = 0; b < kPrompts.size(); ++b) {
    auto single = beam_search(lm, row(kPrompts[b]), {}, o, &c);
    ASSERT_EQ(batched[b].size(), 6u);
    ASSERT_EQ(single[0].size(), 6u);
    for (size_t k = 0; k < 6; ++k) {
      EXPECT_EQ(batched[b][k].tokens, single[0][k].tokens);
      EXPECT_NEAR(batched[b][k].score, single[0][k].score, 1e-5);
      EXPECT_EQ(batched[b][k].state, 103);
      for (auto t : batched[b][k].tokens) EXPECT_EQ(t % 2, 0);
      EXPECT_NEAR(batched[b][k].score, sequence_logprob(lm, kPrompts[b], batched[b][k].tokens),
                  1e-5);
      if (k > 0) {
        EXPECT_GE(batched[b][k - 1].score, batched[b][k].score);
        for (size_t j = 0; j < k; ++j) EXPECT_NE(batched[b][j].tokens, batched[b][k].tokens);
      }
    }
  }
}

// A finished hypothesis (eos) keeps its score and stops growing.
TEST(Generation, BeamSearchEos) {
  auto lm = tiny_lm(7);
  GenerationOptions o;
  o.max_new_tokens = 5;
  o.num_beams = 4;
  auto plain = beam_search(lm, row(kPrompts[1]), {}, o);
  o.eos_token_id = plain[0][0].tokens[1];  // the best hypothesis finishes at step 2
  auto with_eos = beam_search(lm, row(kPrompts[1]), {}, o);
  bool saw_finished = false;
  for (const auto& s : with_eos[0]) {
    auto it = std::find(s.tokens.begin(), s.tokens.end(), o.eos_token_id);
    EXPECT_EQ(s.finished, it != s.tokens.end());
    if (s.finished) {
      saw_finished = true;
      EXPECT_EQ(it + 1, s.tokens.end());  // nothing after eos
    } else {
      EXPECT_EQ(s.tokens.size(), 5u);
    }
    EXPECT_NEAR(s.score, sequence_logprob(lm, kPrompts[1], s.tokens), 1e-5);
  }
  EXPECT_TRUE(saw_finished);
}

}  // namespace
}  // namespace grec::model
