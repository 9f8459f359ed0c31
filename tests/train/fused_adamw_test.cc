// train/fused_adamw: the one-pass AdamW against torch::optim::AdamW (the independent reference)
// over many steps, two parameter groups, the folded gradient scale, the op-by-op fallback
// (double, strided, amsgrad) and state interchange with torch::optim::AdamW.
#include "train/fused_adamw.h"

#include <gtest/gtest.h>

#include "train/optim.h"

namespace gt = grec::train;
namespace optim = torch::optim;

namespace {

struct Pair {
  std::vector<torch::Tensor> fused, ref;
};

// Parameters of several shapes (one smaller than a vector register, one large enough to be
// split across threads), identical copies for both optimizers.
Pair make_params(torch::Dtype dtype, bool strided = false) {
  torch::manual_seed(11);
  Pair p;
  for (const std::vector<int64_t>& shape :
       std::vector<std::vector<int64_t>>{{3}, {17, 5}, {70000}, {64, 33}}) {
    torch::Tensor t = torch::randn(shape, torch::TensorOptions().dtype(dtype));
    if (strided && t.dim() == 2) t = t.t();  // clone() keeps the strides: non-contiguous leaves
    p.fused.push_back(t.clone().set_requires_grad(true));
    p.ref.push_back(t.clone().set_requires_grad(true));
  }
  return p;
}

std::vector<optim::OptimizerParamGroup> groups(const std::vector<torch::Tensor>& ps,
                                               const optim::AdamWOptions& o) {
  // Group 0 decays, group 1 does not (as make_optimizer builds them).
  optim::AdamWOptions no_decay = o;
  no_decay.weight_decay(0.0);
  std::vector<optim::OptimizerParamGroup> g;
  g.emplace_back(std::vector<torch::Tensor>{ps[0], ps[2]}, std::make_unique<optim::AdamWOptions>(o));
  g.emplace_back(std::vector<torch::Tensor>{ps[1], ps[3]},
                 std::make_unique<optim::AdamWOptions>(no_decay));
  return g;
}

void set_grads(Pair& p, int step, double scale_ref = 1.0) {
  torch::manual_seed(100 + step);
  for (size_t i = 0; i < p.fused.size(); ++i) {
    const torch::Tensor g = torch::randn(p.fused[i].sizes(), p.fused[i].options()) * 0.1;
    p.fused[i].mutable_grad() = g.clone();
    p.ref[i].mutable_grad() = g.clone() * scale_ref;
  }
}

void expect_close(const Pair& p, double rtol, double atol, const std::string& what) {
  for (size_t i = 0; i < p.fused.size(); ++i) {
    EXPECT_TRUE(torch::allclose(p.fused[i], p.ref[i], rtol, atol))
        << what << " param " << i << " max diff "
        << (p.fused[i] - p.ref[i]).abs().max().item<double>();
  }
}

optim::AdamWOptions options() {
  return optim::AdamWOptions(3e-3).betas({0.85, 0.99}).eps(1e-7).weight_decay(0.05);
}

}  // namespace

TEST(FusedAdamW, MatchesTorchAdamWOverManySteps) {
  Pair p = make_params(torch::kFloat);
  gt::FusedAdamW fused(groups(p.fused, options()), options());
  optim::AdamW ref(groups(p.ref, options()), options());
  for (int s = 0; s < 50; ++s) {
    set_grads(p, s);
    fused.step();
    ref.step();
  }
  // Float rounding only: the update is the same expression evaluated in one pass.
  expect_close(p, 1e-5, 1e-6, "float");
  // The parameters really moved (a no-op optimizer would fail here).
  const Pair start = make_params(torch::kFloat);
  EXPECT_GT((p.fused[2] - start.fused[2]).abs().max().item<double>(), 0.05);
  // Weight decay reached group 0 only: with zero gradients, group 1 parameters stay put.
  for (auto* t : {&p.fused[0], &p.fused[1]}) t->mutable_grad() = torch::zeros_like(*t);
  const torch::Tensor before0 = p.fused[0].detach().clone(), before1 = p.fused[1].detach().clone();
  p.fused[2].mutable_grad() = torch::Tensor();
  p.fused[3].mutable_grad() = torch::Tensor();
  gt::FusedAdamW fresh(groups(p.fused, options()), options());
  fresh.step();
  EXPECT_TRUE(torch::allclose(p.fused[0], before0 * (1 - 3e-3 * 0.05), 1e-6, 0));
  EXPECT_TRUE(torch::equal(p.fused[1], before1));
}

TEST(FusedAdamW, GradScaleEqualsScaledGradientsForOneStep) {
  Pair p = make_params(torch::kFloat);
  gt::FusedAdamW fused(groups(p.fused, options()), options());
  optim::AdamW ref(groups(p.ref, options()), options());
  for (int s = 0; s < 6; ++s) {
    const double scale = s % 2 ? 0.25 : 1.0;
    set_grads(p, s, scale);
    const torch::Tensor g_before = p.fused[2].grad().clone();
    if (scale != 1.0) fused.scale_next_step_grads(scale);
    fused.step();
    ref.step();
    EXPECT_TRUE(torch::equal(p.fused[2].grad(), g_before)) << "the .grad tensors are not touched";
  }
  expect_close(p, 1e-5, 1e-6, "scaled");
}

TEST(FusedAdamW, FallbackPathsMatchTorch) {
  // Double parameters and non-contiguous parameters take the op-by-op path; so does amsgrad.
  for (const auto& [dtype, strided, amsgrad] :
       std::vector<std::tuple<torch::Dtype, bool, bool>>{{torch::kDouble, false, false},
                                                         {torch::kFloat, true, false},
                                                         {torch::kFloat, false, true}}) {
    Pair p = make_params(dtype, strided);
    if (strided) ASSERT_FALSE(p.fused[1].is_contiguous());
    optim::AdamWOptions o = options();
    o.amsgrad(amsgrad);
    gt::FusedAdamW fused(groups(p.fused, o), o);
    optim::AdamW ref(groups(p.ref, o), o);
    for (int s = 0; s < 10; ++s) {
      set_grads(p, s);
      fused.step();
      ref.step();
    }
    expect_close(p, dtype == torch::kDouble ? 1e-12 : 1e-5, dtype == torch::kDouble ? 1e-14 : 1e-6,
                 "fallback");
  }
}

TEST(FusedAdamW, StateInterchangesWithTorchAdamW) {
  // make_optimizer builds the fused one; its saved state continues in torch::optim::AdamW.
  torch::manual_seed(5);
  torch::nn::Linear a(8, 300), b(8, 300);
  gt::TrainOptions o;
  o.weight_decay = 0.01;
  auto opt_a = gt::make_optimizer(*a, o);
  ASSERT_NE(dynamic_cast<gt::FusedAdamW*>(opt_a.get()), nullptr);
  o.fused = false;
  auto opt_plain = gt::make_optimizer(*a, o);
  EXPECT_EQ(dynamic_cast<gt::FusedAdamW*>(opt_plain.get()), nullptr);

  const torch::Tensor x = torch::randn({4, 8});
  const auto step = [&](torch::nn::Linear& n, torch::optim::Optimizer& opt) {
    for (auto& q : n->parameters()) q.mutable_grad() = torch::Tensor();
    n(x).pow(2).sum().backward();
    opt.step();
  };
  for (int i = 0; i < 3; ++i) step(a, *opt_a);
  nlohmann::json scalars;
  const gt::NamedTensors saved = gt::optimizer_state(*opt_a, &scalars);
  {
    torch::NoGradGuard ng;
    for (size_t i = 0; i < a->parameters().size(); ++i) b->parameters()[i].copy_(a->parameters()[i]);
  }
  auto opt_b = gt::make_optimizer(*b, o);  // torch::optim::AdamW
  gt::load_optimizer_state(*opt_b, saved, scalars, "test");
  for (int i = 0; i < 3; ++i) {
    step(a, *opt_a);
    step(b, *opt_b);
  }
  for (size_t i = 0; i < a->parameters().size(); ++i) {
    EXPECT_TRUE(torch::allclose(a->parameters()[i], b->parameters()[i], 1e-5, 1e-7));
  }
}
