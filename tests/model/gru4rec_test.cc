// GRU4Rec: the forward against the independent reference (tests/reference/gru4rec_reference.py,
// the GRU equations in plain PyTorch over each sequence's real items), padding invariance,
// causality, packed rows = full forward, and one training step of the shared loss moving it.
#include "model/gru4rec.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/safetensors.h"
#include "model/hf_io.h"
#include "model/sasrec_loss.h"
#include "tests/model/llm_test_util.h"
#include "tests/test_util/temp_dir.h"

namespace grec::model {
namespace {

GRU4Rec small_model(int64_t layers = 1, double dropout = 0.0) {
  torch::manual_seed(11);
  GRU4Rec m(GRU4RecOptions(30).max_len(8).hidden(16).layers(layers).dropout(dropout));
  m->eval();
  return m;
}

void write_weights(GRU4Rec& m, const std::string& path) {
  safetensors::Writer w;
  for (const auto& p : m->named_parameters()) add_tensor(w, p.key(), p.value().detach().contiguous());
  w.write(path);
}

class GRU4RecReference : public ::testing::TestWithParam<int64_t> {};

TEST_P(GRU4RecReference, ForwardMatchesTheReference) {
  if (!test::python_torch_available()) GTEST_SKIP() << "/usr/bin/python3 with torch not found";
  test::TempDir tmp("gru4rec_ref");
  GRU4Rec m = small_model(GetParam());
  const std::string path = tmp.str() + "/model.safetensors";
  write_weights(m, path);
  // Lengths 2, 6 and the full width 8: the left padding differs per row.
  const torch::Tensor seq = torch::tensor({0, 0, 0, 0, 0, 0, 3, 4,
                                           0, 0, 7, 1, 30, 2, 2, 9,
                                           5, 6, 7, 8, 9, 10, 11, 12}, torch::kLong).view({3, 8});
  const std::string cmd = "/usr/bin/python3 " + std::string(GREC_SOURCE_DIR) +
                          "/tests/reference/gru4rec_reference.py forward '" + path + "' --seq '" +
                          test::json_2d(seq) + "'";
  const auto ref = nlohmann::json::parse(test::run_capture(cmd));
  torch::NoGradGuard no_grad;
  const torch::Tensor h = m->forward(seq);
  const torch::Tensor scores = m->score_all(seq);
  double worst = 0;
  for (int64_t b = 0; b < 3; ++b) {
    const auto& rows = ref.at("hidden")[b];
    const int64_t n = static_cast<int64_t>(rows.size());
    ASSERT_EQ(n, (seq[b] > 0).sum().item<int64_t>());
    for (int64_t j = 0; j < n; ++j) {
      for (int64_t k = 0; k < 16; ++k) {
        worst = std::max(worst, std::abs(h[b][8 - n + j][k].item<double>() - rows[j][k].get<double>()));
      }
    }
    for (int64_t i = 0; i < 30; ++i) {
      worst = std::max(worst, std::abs(scores[b][i].item<double>() - ref.at("scores")[b][i].get<double>()));
    }
    // Outputs at padding are zero.
    if (n < 8) EXPECT_EQ(h[b].slice(0, 0, 8 - n).abs().sum().item<double>(), 0.0);
  }
  EXPECT_LE(worst, 1e-5);
}

INSTANTIATE_TEST_SUITE_P(Layers, GRU4RecReference, ::testing::Values(1, 2));

TEST(GRU4Rec, PaddingInvarianceAndCausality) {
  GRU4Rec m = small_model();
  torch::NoGradGuard no_grad;
  const torch::Tensor narrow = torch::tensor({{4, 5, 6}}, torch::kLong);
  const torch::Tensor wide = torch::tensor({{0, 0, 0, 0, 4, 5, 6}}, torch::kLong);
  EXPECT_TRUE(torch::allclose(m->forward(narrow)[0], m->forward(wide)[0].slice(0, 4), 1e-6, 1e-6));
  // A later item does not change earlier outputs; it changes its own.
  const torch::Tensor other = torch::tensor({{4, 5, 9}}, torch::kLong);
  const torch::Tensor a = m->forward(narrow), b = m->forward(other);
  EXPECT_TRUE(torch::equal(a[0].slice(0, 0, 2), b[0].slice(0, 0, 2)));
  EXPECT_FALSE(torch::allclose(a[0][2], b[0][2], 1e-4, 1e-4));
  EXPECT_THROW(m->forward(torch::ones({1, 9}, torch::kLong)), std::exception);  // > max_len
}

TEST(GRU4Rec, PackedRowsAreTheFullForwardsRows) {
  GRU4Rec m = small_model();
  torch::NoGradGuard no_grad;
  const torch::Tensor seq = torch::tensor({0, 0, 3, 4, 1, 2, 3, 4, 0, 0, 0, 7}, torch::kLong).view({3, 4});
  const PackedHidden p = m->forward_packed(seq);
  EXPECT_EQ(p.hidden.size(0), 7);
  const torch::Tensor full = m->forward(seq).reshape({12, 16});
  EXPECT_TRUE(torch::equal(full.index_select(0, p.index), p.hidden));
  EXPECT_TRUE(torch::equal(seq.reshape({-1}).index_select(0, p.index) > 0,
                           torch::ones({7}, torch::kBool)));
  EXPECT_TRUE(torch::equal(last_rows(p), m->forward(seq).select(1, 3)));
}

TEST(GRU4Rec, TrainsUnderTheSharedLoss) {
  GRU4Rec m = small_model(1, 0.25);
  m->train();
  torch::optim::Adam opt(m->parameters(), torch::optim::AdamOptions(1e-2));
  const torch::Tensor seq = torch::tensor({{1, 2, 3, 4}, {0, 5, 6, 7}}, torch::kLong);
  const torch::Tensor target = torch::tensor({{2, 3, 4, 5}, {0, 6, 7, 8}}, torch::kLong);
  double first = 0, last = 0;
  for (int step = 0; step < 30; ++step) {
    const PackedHidden p = m->forward_packed(seq);
    const torch::Tensor t = target.reshape({-1}).index_select(0, p.index);
    torch::Tensor loss = sasrec_loss_sum(*m, p.hidden, t, {}, SASRecLoss::kCe) / t.size(0);
    if (step == 0) first = loss.item<double>();
    last = loss.item<double>();
    opt.zero_grad();
    loss.backward();
    opt.step();
  }
  EXPECT_LT(last, 0.5 * first);
  EXPECT_EQ(m->item_emb->weight[0].abs().sum().item<double>(), 0.0);  // padding row stays zero
}

}  // namespace
}  // namespace grec::model
