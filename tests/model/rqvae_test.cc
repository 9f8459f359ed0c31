// RQ-VAE: loss formula vs a direct computation, straight-through gradient to the encoder,
// determinism from the seed, k-means initialisation, EMA update math, quantize() consistency,
// and clear errors for NaN/Inf or wrong-shape embeddings.
#include <gtest/gtest.h>

#include "core/error.h"
#include "dist/communicator.h"
#include "model/rqvae.h"
#include "tests/mpi/trainer_test_task.h"
#include "train/precision.h"
#include "stages/rqvae_task.h"

namespace gm = grec::model;
namespace gt = grec::train;
namespace gs = grec::stages;

namespace {

gm::RQVAEOptions small(bool ema = false) {
  return gm::RQVAEOptions(6).encoder_dims({10}).latent_dim(4).levels(3).codebook_size(5).beta(0.25).ema(ema);
}

TEST(RQVAE, LossMatchesDirectComputation) {
  torch::manual_seed(1);
  gm::RQVAE m(small());
  const torch::Tensor x = torch::randn({9, 6});
  const gm::RQVAEOutput out = m->forward(x);
  // Direct: encode, walk the levels by brute-force nearest code, decode Σc.
  torch::NoGradGuard ng;
  const torch::Tensor z = m->encoder->forward(x);
  torch::Tensor r = z.clone(), q = torch::zeros_like(z);
  double quant = 0;
  for (int64_t l = 0; l < 3; ++l) {
    const torch::Tensor book = m->codebooks()[l];
    for (int64_t i = 0; i < 9; ++i) {
      const int64_t k = (book - r[i]).pow(2).sum(1).argmin().item<int64_t>();
      EXPECT_EQ(out.codes[i][l].item<int64_t>(), k);
      const double e = (r[i] - book[k]).pow(2).sum().item<double>();
      quant += (1.0 + 0.25) * e / 3.0;
      q[i] += book[k];
      r[i] -= book[k];
    }
  }
  const double recon = (m->decoder->forward(q) - x).pow(2).sum().item<double>();
  EXPECT_NEAR(out.recon_loss_sum.item<double>(), recon, 1e-4 * recon);
  EXPECT_NEAR(out.quant_loss_sum.item<double>(), quant, 1e-4 * quant);
  EXPECT_TRUE(torch::allclose(m->lookup(out.codes), q, 1e-5, 1e-6));
}

TEST(RQVAE, Bf16AutocastKeepsQuantisationInFp32) {
  // Under bf16 autocast the MLPs run in bf16, but codes must be the fp32 nearest codes of the
  // (bf16-computed) latent: assigning by bf16 distances flips near-ties.
  torch::manual_seed(4);
  gm::RQVAE m(gm::RQVAEOptions(16).encoder_dims({32}).latent_dim(8).levels(2).codebook_size(64));
  const torch::Tensor x = torch::randn({512, 16});
  m->init_codebooks_kmeans(x, 10, 0);
  gm::RQVAEOutput out;
  torch::Tensor z, q_autocast;
  {
    gt::precision::Autocast bf16(gt::precision::Precision::kBf16);
    // quantize() runs in fp32 (dead-code re-seeding calls it inside the training step's autocast
    // scope): the same codes as outside autocast, and the forward() after it still trains the
    // encoder (autocast must not cache gradient-less bf16 weights made under no_grad).
    const torch::Tensor q = m->quantize(x).codes;
    out = m->forward(x);
    z = m->encode(x);
    out.recon_loss_sum.backward();
    q_autocast = q;
  }
  EXPECT_TRUE(torch::equal(q_autocast, m->quantize(x).codes));
  ASSERT_TRUE(m->encoder->parameters()[0].grad().defined());
  EXPECT_GT(m->encoder->parameters()[0].grad().abs().sum().item<double>(), 0.0);
  EXPECT_EQ(z.scalar_type(), torch::kBFloat16);  // the encoder did run in bf16
  EXPECT_EQ(out.reconstruction.scalar_type(), torch::kFloat);
  EXPECT_EQ(out.recon_loss_sum.scalar_type(), torch::kFloat);
  EXPECT_EQ(out.quant_loss_sum.scalar_type(), torch::kFloat);
  torch::NoGradGuard ng;
  const torch::Tensor book = m->codebooks()[0].detach();
  const torch::Tensor zf = z.to(torch::kFloat);
  const torch::Tensor exact =
      (zf.to(torch::kDouble).unsqueeze(1) - book.to(torch::kDouble).unsqueeze(0)).pow(2).sum(2).argmin(1);
  EXPECT_TRUE(torch::equal(out.codes.select(1, 0), exact));
  // The test can tell: bf16 distances do assign some items differently.
  const torch::Tensor zb = zf.to(torch::kBFloat16), bb = book.to(torch::kBFloat16);
  const torch::Tensor d16 = zb.pow(2).sum(1, true) + bb.pow(2).sum(1).unsqueeze(0) - 2 * zb.mm(bb.t());
  EXPECT_FALSE(torch::equal(d16.argmin(1), exact));
}

TEST(RQVAE, StraightThroughGradientReachesEncoder) {
  torch::manual_seed(2);
  gm::RQVAE m(small());
  const torch::Tensor x = torch::randn({8, 6});
  // Reconstruction alone: without the straight-through path the encoder would get no gradient.
  m->forward(x).recon_loss_sum.backward();
  const auto params = m->encoder->parameters();
  double g = 0;
  for (const auto& p : params) g += p.grad().abs().sum().item<double>();
  EXPECT_GT(g, 0.0);
  // ...and the codebooks get none from the reconstruction (their gradient comes from the
  // codebook loss only).
  const torch::Tensor cg = m->codebooks().grad();
  EXPECT_TRUE(!cg.defined() || cg.abs().sum().item<double>() == 0.0);
  // With the full loss the encoder gradient equals d(recon)/dz + commitment through z exactly:
  // check the decoder-input gradient equals dL/dz for the reconstruction part.
  m->zero_grad();
  const torch::Tensor z = m->encode(x).detach().requires_grad_(true);
  const gm::Quantized qz = m->quantize(x);
  const torch::Tensor zq = z + (m->lookup(qz.codes).detach() - z).detach();
  const torch::Tensor rec = (m->decode(zq) - x).pow(2).sum();
  const torch::Tensor gz = torch::autograd::grad({rec}, {z})[0];
  const torch::Tensor qd = m->lookup(qz.codes).detach().requires_grad_(true);
  const torch::Tensor gq = torch::autograd::grad({(m->decode(qd) - x).pow(2).sum()}, {qd})[0];
  EXPECT_TRUE(torch::allclose(gz, gq, 1e-5, 1e-6));
}

TEST(RQVAE, SameSeedSameModelAndCodes) {
  auto build = [] {
    torch::manual_seed(3);
    gm::RQVAE m(small());
    torch::manual_seed(99);
    const torch::Tensor x = torch::randn({40, 6});
    m->init_codebooks_kmeans(x, 20, 7);
    return std::make_pair(m, x);
  };
  auto [a, xa] = build();
  auto [b, xb] = build();
  EXPECT_TRUE(torch::equal(a->codebooks(), b->codebooks()));
  EXPECT_TRUE(torch::equal(a->quantize(xa).codes, b->quantize(xb).codes));
}

TEST(RQVAE, KMeansInitUsesAllCodesOnFirstLevel) {
  torch::manual_seed(4);
  gm::RQVAE m(small());
  const torch::Tensor x = torch::randn({60, 6});
  m->init_codebooks_kmeans(x, 30, 1);
  const gm::Quantized q = m->quantize(x);
  // k-means centroids are means of non-empty clusters: every level-0 code is someone's nearest.
  EXPECT_EQ(std::get<0>(at::_unique(q.codes.select(1, 0))).size(0), 5);
  EXPECT_EQ(q.last_distances.size(0), 60);
  EXPECT_EQ(q.last_distances.size(1), 5);
  // last_distances are the squared distances of the last residual to the last level's codes.
  const torch::Tensor r = q.residuals[2];
  const torch::Tensor book = m->codebooks()[2];
  EXPECT_NEAR(q.last_distances[7][3].item<double>(), (r[7] - book[3]).pow(2).sum().item<double>(), 1e-4);
}

TEST(RQVAE, EmaUpdateMath) {
  torch::manual_seed(5);
  gm::RQVAE m(small(true).ema_decay(0.9));
  ASSERT_TRUE(m->named_parameters().find("codebooks") == nullptr);  // a buffer with EMA
  const torch::Tensor before = m->codebooks().clone();
  const torch::Tensor x = torch::randn({12, 6});
  const gm::RQVAEOutput out = m->forward(x);
  ASSERT_TRUE(out.ema_counts.defined());
  EXPECT_EQ(out.ema_counts.sum().item<double>(), 12.0 * 3);
  // Reference: N0 = 1, S0 = initial codes (constructor state).
  const torch::Tensor N = 0.9 * torch::ones({3, 5}) + 0.1 * out.ema_counts;
  const torch::Tensor S = 0.9 * before + 0.1 * out.ema_sums;
  const torch::Tensor tot = N.sum(1, true);
  const torch::Tensor Ns = (N + 1e-5) / (tot + 5 * 1e-5) * tot;
  const torch::Tensor expect = S / Ns.unsqueeze(2);
  m->ema_update(out.ema_counts, out.ema_sums);
  EXPECT_TRUE(torch::allclose(m->codebooks(), expect, 1e-5, 1e-6));
  // Level-0 sums are the encoder outputs grouped by their code.
  const torch::Tensor z = m->encode(x).detach();
  const torch::Tensor s0 = torch::zeros({5, 4}).index_add_(0, out.codes.select(1, 0), z);
  EXPECT_TRUE(torch::allclose(out.ema_sums[0], s0, 1e-5, 1e-5));
  // The EMA loss has no codebook term: quant = beta * commitment only.
  torch::Tensor r = z.clone();
  double commit = 0;
  for (int64_t l = 0; l < 3; ++l) {
    const torch::Tensor c = before[l].index_select(0, out.codes.select(1, l));
    commit += (r - c).pow(2).sum().item<double>();
    r = r - c;
  }
  EXPECT_NEAR(out.quant_loss_sum.item<double>(), 0.25 * commit / 3, 1e-4 * commit);
}

TEST(RQVAE, WrongInputShapeFails) {
  gm::RQVAE m(small());
  EXPECT_THROW(m->forward(torch::randn({3, 7})), c10::Error);
}

TEST(RQVAETask, BadEmbeddingsFailClearly) {
  torch::Tensor x = torch::randn({10, 4});
  EXPECT_NO_THROW(gs::check_embeddings(x, 10, "e.h5"));
  try {
    gs::check_embeddings(x, 11, "e.h5");
    FAIL();
  } catch (const grec::UserError& e) {
    EXPECT_NE(std::string(e.what()).find("10 rows but the dataset has 11"), std::string::npos);
  }
  x[4][2] = std::numeric_limits<float>::quiet_NaN();
  try {
    gs::check_embeddings(x, 10, "e.h5");
    FAIL();
  } catch (const grec::UserError& e) {
    EXPECT_NE(std::string(e.what()).find("row 4"), std::string::npos);
  }
  x[4][2] = 0;
  x[7][0] = std::numeric_limits<float>::infinity();
  EXPECT_THROW(gs::check_embeddings(x, 10, "e.h5"), grec::UserError);
  EXPECT_THROW(gs::check_embeddings(torch::randn({10}), -1, "e.h5"), grec::UserError);
  EXPECT_THROW(gs::check_embeddings(torch::randn({3, 4, 2}), -1, "e.h5"), grec::UserError);
}

TEST(RQVAETask, DeadCodesAreReseeded) {
  grec::testing::LocalCommunicator comm;
  torch::manual_seed(6);
  const torch::Tensor x = torch::randn({50, 6});
  gs::RQVAETaskOptions o;
  o.kmeans_init = false;  // random tiny codes: most are dead
  o.global_batch_size = 50;
  gs::RQVAETask task(x, small(), o, comm);
  const auto used = [&] {
    return std::get<0>(at::_unique(task.model()->quantize(x).codes.select(1, 0))).size(0);
  };
  const int64_t before = used();
  const int64_t n = task.reseed_dead_codes();
  EXPECT_GT(n, 0);
  EXPECT_GT(used(), before);
}

TEST(RQVAETask, CodeUsage) {
  const gs::CodeUsage u = gs::code_usage(torch::tensor({0, 0, 1, 1}, torch::kLong), 4);
  EXPECT_DOUBLE_EQ(u.utilisation, 0.5);
  EXPECT_NEAR(u.perplexity, 2.0, 1e-12);
}

}  // namespace
