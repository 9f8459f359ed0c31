// SASRec: shapes, causality, padding invariance, the three losses against direct computations,
// and the batches' layout and per-sample determinism of negatives.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "data_pipeline/dataset.h"
#include "data_pipeline/sequence_batches.h"
#include "model/sasrec.h"
#include "model/sasrec_loss.h"

namespace grec::model {
namespace {

SASRec small_model(double dropout = 0.0) {
  torch::manual_seed(7);
  SASRec m(SASRecOptions(30).max_len(12).hidden(16).blocks(2).heads(2).dropout(dropout));
  m->eval();
  return m;
}

TEST(SASRec, ShapesAndZeroPadding) {
  SASRec m = small_model();
  torch::Tensor seq = torch::tensor({0, 0, 3, 4, 5, 1, 2, 3, 4, 5}, torch::kLong).view({2, 5});
  torch::Tensor h = m->forward(seq);
  EXPECT_EQ(h.sizes(), torch::IntArrayRef({2, 5, 16}));
  EXPECT_EQ(h[0][0].abs().sum().item<float>(), 0.0f);
  EXPECT_GT(h[0][2].abs().sum().item<float>(), 0.0f);
  EXPECT_EQ(m->score_all(seq).sizes(), torch::IntArrayRef({2, 30}));
  EXPECT_THROW(m->forward(torch::ones({1, 13}, torch::kLong)), std::exception);  // > max_len
}

TEST(SASRec, Causality) {
  SASRec m = small_model();
  torch::Tensor a = torch::tensor({{0, 1, 2, 3, 4, 5}}, torch::kLong);
  torch::Tensor b = a.clone();
  b[0][5] = 9;
  b[0][4] = 7;
  torch::Tensor ha = m->forward(a), hb = m->forward(b);
  EXPECT_TRUE(torch::allclose(ha.slice(1, 0, 4), hb.slice(1, 0, 4), 1e-6, 1e-6));
  EXPECT_FALSE(torch::allclose(ha.select(1, 5), hb.select(1, 5), 1e-4, 1e-4));
}

TEST(SASRec, PaddingInvariance) {
  SASRec m = small_model();
  // The same 3-item sequence in a batch of width 3, of width 12 (= max_len), and next to a
  // longer sequence: identical outputs at its positions.
  torch::Tensor narrow = torch::tensor({{4, 8, 15}}, torch::kLong);
  torch::Tensor wide = torch::zeros({2, 12}, torch::kLong);
  wide[0].slice(0, 9, 12).copy_(narrow[0]);
  wide[1].copy_(torch::arange(1, 13));
  torch::Tensor hn = m->forward(narrow)[0];
  torch::Tensor hw = m->forward(wide)[0].slice(0, 9, 12);
  EXPECT_TRUE(torch::allclose(hn, hw, 1e-5, 1e-5)) << (hn - hw).abs().max();
  torch::Tensor alone = m->forward(wide.slice(0, 1, 2))[0];
  EXPECT_TRUE(torch::allclose(alone, m->forward(wide)[1], 1e-5, 1e-5));
}

// Direct per-position references, from the padded [B, W, d] output and the full table.
struct LossFixture {
  SASRec m = small_model();
  torch::Tensor seq = torch::tensor({0, 0, 3, 4, 5, 1, 2, 3, 4, 5}, torch::kLong).view({2, 5});
  torch::Tensor target = torch::tensor({0, 0, 4, 5, 6, 2, 3, 4, 5, 6}, torch::kLong);
  torch::Tensor negatives;  // [10, 3]
  PackedHidden packed;
  torch::Tensor t, neg;
  LossFixture() {
    negatives = (torch::arange(30, torch::kLong).view({10, 3}) % 29) + 1;
    packed = m->forward_packed(seq);
    t = target.index_select(0, packed.index);
    neg = negatives.index_select(0, packed.index);
  }
  // Real positions in row-major order, with hidden from forward() and table rows.
  std::vector<std::pair<torch::Tensor, int64_t>> positions() {
    torch::Tensor h = m->forward(seq).view({10, 16});
    std::vector<std::pair<torch::Tensor, int64_t>> out;
    for (int64_t i = 0; i < 10; ++i) {
      if (seq.view({-1})[i].item<int64_t>() != 0) out.push_back({h[i], i});
    }
    return out;
  }
};

TEST(SASRecLoss, FullSoftmaxMatchesDirect) {
  LossFixture f;
  torch::Tensor loss = sasrec_loss_sum(*f.m, f.packed.hidden, f.t, {}, SASRecLoss::kCe);
  double ref = 0;
  torch::Tensor table = f.m->item_emb->weight;
  for (auto& [h, i] : f.positions()) {
    torch::Tensor logits = table.slice(0, 1).matmul(h);  // items 0..29
    ref += -torch::log_softmax(logits, 0)[f.target[i].item<int64_t>() - 1].item<double>();
  }
  EXPECT_EQ(f.packed.index.numel(), 8);
  EXPECT_NEAR(loss.item<double>(), ref, 1e-4);
}

TEST(SASRecLoss, BceAndSampledSoftmaxMatchDirect) {
  LossFixture f;
  torch::Tensor table = f.m->item_emb->weight;
  double ref_bce = 0, ref_ss = 0;
  for (auto& [h, i] : f.positions()) {
    const double pos = table[f.target[i].item<int64_t>()].dot(h).item<double>();
    std::vector<double> logits = {pos};
    ref_bce += -std::log(1.0 / (1.0 + std::exp(-pos)));
    for (int64_t k = 0; k < 3; ++k) {
      const double s = table[f.negatives[i][k].item<int64_t>()].dot(h).item<double>();
      ref_bce += -std::log(1.0 - 1.0 / (1.0 + std::exp(-s)));
      logits.push_back(s);
    }
    double z = 0;
    for (double l : logits) z += std::exp(l);
    ref_ss += std::log(z) - pos;
  }
  EXPECT_NEAR(sasrec_loss_sum(*f.m, f.packed.hidden, f.t, f.neg, SASRecLoss::kBce).item<double>(),
              ref_bce, 1e-4);
  EXPECT_NEAR(sasrec_loss_sum(*f.m, f.packed.hidden, f.t, f.neg, SASRecLoss::kSampledSoftmax)
                  .item<double>(),
              ref_ss, 1e-4);
  EXPECT_THROW(sasrec_loss_sum(*f.m, f.packed.hidden, f.t, {}, SASRecLoss::kBce), std::exception);
  EXPECT_THROW(parse_sasrec_loss("hinge"), std::exception);
}

TEST(SASRecLoss, GradientsReachEveryParameter) {
  SASRec m = small_model(0.1);
  m->train();
  LossFixture f;
  auto p = m->forward_packed(f.seq);
  sasrec_loss_sum(*m, p.hidden, f.target.index_select(0, p.index), {}, SASRecLoss::kCe).backward();
  for (const auto& kv : m->named_parameters()) {
    ASSERT_TRUE(kv.value().grad().defined()) << kv.key();
    EXPECT_GT(kv.value().grad().abs().sum().item<double>(), 0.0) << kv.key();
  }
  EXPECT_EQ(m->item_emb->weight.grad()[0].abs().sum().item<double>(), 0.0);  // padding row
}

data::Dataset toy_dataset() {
  // 3 users over 10 items; split: train = all but the last two.
  data::Dataset d;
  for (int i = 0; i < 10; ++i) d.item_raw_ids.push_back(std::to_string(i));
  std::vector<std::vector<int64_t>> seqs = {{0, 1, 2, 3, 4, 5}, {6, 7, 8, 9}, {3, 2, 1}};
  d.seq_offsets.push_back(0);
  for (size_t u = 0; u < seqs.size(); ++u) {
    d.user_raw_ids.push_back("u" + std::to_string(u));
    d.seq_items.insert(d.seq_items.end(), seqs[u].begin(), seqs[u].end());
    d.seq_offsets.push_back(d.seq_items.size());
    d.train_end.push_back(seqs[u].size() - 2);
    d.valid_end.push_back(seqs[u].size() - 1);
  }
  return d;
}

TEST(SequenceBatches, LayoutAndTruncation) {
  data::Dataset d = toy_dataset();
  EXPECT_EQ(data::sasrec_train_users(d), std::vector<int64_t>({0, 1}));  // user 2 has 1 train item
  data::SequenceBatchOptions o;
  o.max_len = 2;
  auto b = data::make_train_batch(d, {0, 1}, {}, o);
  // User 0 train prefix 0 1 2 3: window inputs (1, 2) -> targets (2, 3), as rows +1.
  // User 1 train prefix 6 7: input 6 -> target 7, left-padded.
  EXPECT_EQ(b.width, 2);
  EXPECT_EQ(b.input, std::vector<int64_t>({2, 3, 0, 7}));
  EXPECT_EQ(b.target, std::vector<int64_t>({3, 4, 0, 8}));
  o.max_len = 50;
  b = data::make_train_batch(d, {1}, {}, o);
  EXPECT_EQ(b.width, 1);  // trimmed to the longest sequence
  o.trim = false;
  EXPECT_EQ(data::make_train_batch(d, {1}, {}, o).width, 50);
  std::vector<int64_t> h = {5, 6, 7};
  auto in = data::make_input_batch({&h}, data::SequenceBatchOptions{2, 0, true});
  EXPECT_EQ(in.input, std::vector<int64_t>({7, 8}));
}

TEST(SequenceBatches, NegativesDeterministicPerSample) {
  data::Dataset d = toy_dataset();
  data::SequenceBatchOptions o;
  o.num_negatives = 4;
  auto a = data::make_train_batch(d, {0, 1}, {11, 12}, o);
  auto b = data::make_train_batch(d, {0, 1}, {11, 12}, o);
  EXPECT_EQ(a.negatives, b.negatives);
  // User 1 alone with the same seed gets the same negatives (batch composition does not matter).
  auto c = data::make_train_batch(d, {1}, {12}, o);
  const int64_t w = a.width, k = 4;
  std::vector<int64_t> a_user1(a.negatives.begin() + w * k + (w - 1) * k, a.negatives.end());
  EXPECT_EQ(a_user1, std::vector<int64_t>(c.negatives.end() - k, c.negatives.end()));
  auto e = data::make_train_batch(d, {0, 1}, {11, 99}, o);
  EXPECT_NE(a.negatives, e.negatives);
  // Negatives avoid the user's training items; padding positions carry none.
  for (int64_t j = 0; j < w; ++j) {
    for (int64_t s = 0; s < k; ++s) {
      const int64_t row = a.negatives[(0 * w + j) * k + s];
      if (a.input[j] == 0) {
        EXPECT_EQ(row, 0);
      } else {
        EXPECT_GE(row - 1, 4);  // user 0's training items are 0..3
      }
    }
  }
}

}  // namespace
}  // namespace grec::model

namespace grec::model {
namespace {

TEST(SASRecLoss, FusedCeGradientsMatchAutograd) {
  torch::manual_seed(1);
  SASRec m = small_model();
  torch::Tensor h = torch::randn({6, 16}, torch::requires_grad());
  torch::Tensor t = torch::tensor({1, 5, 30, 2, 2, 17}, torch::kLong);
  (sasrec_loss_sum(*m, h, t, {}, SASRecLoss::kCe) * 3.0).backward();
  torch::Tensor gh = h.grad().clone(), gw = m->item_emb->weight.grad().clone();
  h.grad().zero_();
  m->item_emb->weight.grad().zero_();
  torch::Tensor logits = h.matmul(m->item_table().t());
  (torch::nn::functional::cross_entropy(
       logits, t - 1, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum)) *
   3.0)
      .backward();
  EXPECT_TRUE(torch::allclose(gh, h.grad(), 1e-5, 1e-5));
  EXPECT_TRUE(torch::allclose(gw, m->item_emb->weight.grad(), 1e-5, 1e-5));
}

}  // namespace
}  // namespace grec::model
