// train/influence: dot on hand values, Hessian-vector products against finite differences of the
// gradient (a small tanh MLP) and against A v on an explicit quadratic, and LiSSA against the
// exact damped inverse (H + damping*scale*I)^-1 v: one step of the recursion, convergence with
// scale 1 and 10, stochastic Hessians that average to H, repeat splitting, and divergence.
#include "train/influence.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.h"

namespace gt = grec::train;

namespace {

const torch::TensorOptions kD = torch::TensorOptions().dtype(torch::kDouble);

gt::ParamVec leaves(const std::vector<torch::Tensor>& ts) {
  gt::ParamVec out;
  for (const auto& t : ts) out.push_back(t.detach().clone().requires_grad_(true));
  return out;
}

gt::ParamVec randn_like_all(const gt::ParamVec& like) {
  gt::ParamVec out;
  for (const auto& t : like) out.push_back(torch::randn(t.sizes(), kD));
  return out;
}

torch::Tensor flat(const gt::ParamVec& p) {
  std::vector<torch::Tensor> f;
  for (const auto& t : p) f.push_back(t.reshape({-1}));
  return torch::cat(f);
}

gt::ParamVec split_like(const torch::Tensor& f, const gt::ParamVec& like) {
  gt::ParamVec out;
  int64_t at = 0;
  for (const auto& t : like) {
    out.push_back(f.slice(0, at, at + t.numel()).reshape(t.sizes()));
    at += t.numel();
  }
  return out;
}

double max_abs_diff(const gt::ParamVec& a, const gt::ParamVec& b) {
  EXPECT_EQ(a.size(), b.size());
  double m = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    EXPECT_EQ(a[i].sizes(), b[i].sizes()) << "tensor " << i;
    m = std::max(m, (a[i].detach() - b[i].detach()).abs().max().item<double>());
  }
  return m;
}

double norm(const gt::ParamVec& a) { return std::sqrt(gt::dot(a, a)); }

// Symmetric A = Q diag(lambda) Q^T with Q the product of two random Householder reflections, so
// its spectrum is exactly `lambda`.
torch::Tensor with_eigenvalues(const std::vector<double>& lambda) {
  const int64_t n = static_cast<int64_t>(lambda.size());
  auto householder = [&] {
    const torch::Tensor u = torch::randn({n, 1}, kD);
    return torch::eye(n, kD) - 2.0 * u.matmul(u.t()) / (u * u).sum();
  };
  const torch::Tensor q = householder().matmul(householder());
  const torch::Tensor a = q.matmul(torch::diag(torch::tensor(lambda, kD))).matmul(q.t());
  return 0.5 * (a + a.t());
}

std::vector<double> linspace(double lo, double hi, int n) {
  std::vector<double> out;
  for (int i = 0; i < n; ++i) out.push_back(lo + (hi - lo) * i / (n - 1));
  return out;
}

// Parameters of a 10-dimensional quadratic, in two tensors of different shapes.
gt::ParamVec quadratic_params() {
  return leaves({torch::randn({2, 3}, kD), torch::randn({4}, kD)});
}

torch::Tensor quadratic(const torch::Tensor& a, const gt::ParamVec& x) {
  const torch::Tensor z = flat(x);
  return 0.5 * z.dot(a.matmul(z));
}

// (A + c I)^-1 v as a ParamVec shaped like v.
gt::ParamVec damped_inverse(const torch::Tensor& a, double c, const gt::ParamVec& v) {
  const torch::Tensor m = a + c * torch::eye(a.size(0), kD);
  return split_like(torch::inverse(m).matmul(flat(v)), v);
}

uint64_t mix(uint64_t x) {  // splitmix64
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

TEST(Influence, DotOnHandValues) {
  const gt::ParamVec a = {torch::tensor({1.0, 2.0, 3.0}, kD),
                          torch::tensor({{1.0, 2.0}, {3.0, 4.0}}, torch::kFloat)};
  const gt::ParamVec b = {torch::tensor({4.0, 5.0, 6.0}, kD),
                          torch::tensor({{0.5, 0.0}, {0.0, -1.0}}, kD)};
  EXPECT_DOUBLE_EQ(gt::dot(a, b), 4 + 10 + 18 + 0.5 - 4);  // 28.5
  EXPECT_DOUBLE_EQ(gt::dot(a, a), 1 + 4 + 9 + 1 + 4 + 9 + 16);
  EXPECT_DOUBLE_EQ(gt::dot({}, {}), 0.0);
  EXPECT_THROW(gt::dot(a, {b[0]}), grec::Error);
}

TEST(Influence, HvpMatchesFiniteDifferencesOfTheGradient) {
  torch::manual_seed(3);
  const torch::Tensor x = torch::randn({16, 4}, kD);
  const torch::Tensor y = torch::randint(0, 3, {16}, torch::TensorOptions().dtype(torch::kLong));
  const gt::ParamVec params = leaves({torch::randn({5, 4}, kD) * 0.7, torch::randn({5}, kD) * 0.3,
                                      torch::randn({3, 5}, kD) * 0.7, torch::randn({3}, kD) * 0.3});
  auto loss_of = [&](const gt::ParamVec& p) {
    const torch::Tensor h = torch::tanh(x.matmul(p[0].t()) + p[1]);
    const torch::Tensor logits = h.matmul(p[2].t()) + p[3];
    return -torch::log_softmax(logits, 1).gather(1, y.unsqueeze(1)).mean();
  };
  const gt::ParamVec v = randn_like_all(params);

  const gt::ParamVec hv = gt::hessian_vector_product(loss_of(params), params, v);

  const double eps = 1e-5;
  auto grad_at = [&](double sign) {
    gt::ParamVec p;
    for (size_t i = 0; i < params.size(); ++i) {
      p.push_back((params[i].detach() + sign * eps * v[i]).requires_grad_(true));
    }
    return torch::autograd::grad({loss_of(p)}, p);
  };
  const gt::ParamVec plus = grad_at(1.0), minus = grad_at(-1.0);
  gt::ParamVec fd;
  for (size_t i = 0; i < params.size(); ++i) fd.push_back((plus[i] - minus[i]) / (2 * eps));

  const double n = norm(hv);
  EXPECT_GT(n, 1e-3);  // a real curvature, not zeros
  for (const auto& t : hv) EXPECT_FALSE(t.requires_grad());
  EXPECT_LT(max_abs_diff(hv, fd), 1e-6 * std::max(1.0, n));
}

TEST(Influence, HvpOfAQuadraticIsAv) {
  torch::manual_seed(5);
  const torch::Tensor a = with_eigenvalues(linspace(0.5, 4.0, 10));
  gt::ParamVec params = quadratic_params();
  // A parameter entering linearly (constant gradient) and one the loss does not use: zeros.
  params.push_back(torch::randn({2}, kD).requires_grad_(true));
  params.push_back(torch::randn({3}, kD).requires_grad_(true));
  const torch::Tensor c = torch::tensor({2.0, -1.0}, kD);
  const gt::ParamVec x = {params[0], params[1]};
  const torch::Tensor loss = quadratic(a, x) + (params[2] * c).sum();
  const gt::ParamVec v = randn_like_all(params);

  const gt::ParamVec hv = gt::hessian_vector_product(loss, params, v);
  gt::ParamVec want = split_like(a.matmul(flat({v[0], v[1]})), x);
  want.push_back(torch::zeros({2}, kD));
  want.push_back(torch::zeros({3}, kD));
  EXPECT_LT(max_abs_diff(hv, want), 1e-10);

  // The loss's graph survives: a second product on the same loss gives the same result.
  EXPECT_LT(max_abs_diff(gt::hessian_vector_product(loss, params, v), want), 1e-10);

  // A loss that needs no gradient at all: zeros.
  const gt::ParamVec none = gt::hessian_vector_product(torch::scalar_tensor(1.0, kD), params, v);
  EXPECT_EQ(norm(none), 0.0);

  // v must have the parameters' shapes.
  gt::ParamVec bad = v;
  bad[1] = torch::randn({5}, kD);
  EXPECT_THROW(gt::hessian_vector_product(loss, params, bad), grec::Error);
}

TEST(Lissa, OneStepIsTheRecursion) {
  torch::manual_seed(7);
  const torch::Tensor a = with_eigenvalues(linspace(0.5, 2.0, 10));
  const gt::ParamVec params = quadratic_params();
  const gt::ParamVec v = randn_like_all(params);
  gt::LissaOptions o;
  o.damping = 0.1;
  o.scale = 3.0;
  o.depth = 1;
  const gt::ParamVec got = gt::lissa_inverse_hvp_sum(
      [&](int64_t, int64_t) { return quadratic(a, params); }, params, v, o, {0});
  // h_1 = v + (1 - d) v - A v / s; estimate h_1 / s.
  const torch::Tensor fv = flat(v);
  const torch::Tensor h1 = fv + 0.9 * fv - a.matmul(fv) / 3.0;
  EXPECT_LT(max_abs_diff(got, split_like(h1 / 3.0, v)), 1e-12);
}

TEST(Lissa, ConvergesToTheDampedInverse) {
  torch::manual_seed(11);
  const gt::ParamVec params = quadratic_params();
  const gt::ParamVec v = randn_like_all(params);
  {
    // scale 1: (H + damping I)^-1 v.
    const torch::Tensor a = with_eigenvalues(linspace(0.2, 0.9, 10));
    gt::LissaOptions o;
    o.damping = 0.01;
    o.scale = 1.0;
    o.depth = 300;
    const gt::ParamVec got = gt::lissa_inverse_hvp_sum(
        [&](int64_t, int64_t) { return quadratic(a, params); }, params, v, o, {0});
    EXPECT_LT(max_abs_diff(got, damped_inverse(a, 0.01, v)), 1e-6);
  }
  {
    // scale 10: (H + damping * scale * I)^-1 v.
    const torch::Tensor a = with_eigenvalues(linspace(1.0, 8.0, 10));
    gt::LissaOptions o;
    o.damping = 0.01;
    o.scale = 10.0;
    o.depth = 400;
    const gt::ParamVec got = gt::lissa_inverse_hvp_sum(
        [&](int64_t, int64_t) { return quadratic(a, params); }, params, v, o, {0});
    EXPECT_LT(max_abs_diff(got, damped_inverse(a, 0.1, v)), 1e-6);
    EXPECT_GT(max_abs_diff(got, damped_inverse(a, 0.01, v)), 1e-4);  // the scale matters
  }
}

TEST(Lissa, StochasticHessiansAverageToTheInverseAndRepeatsSplit) {
  torch::manual_seed(13);
  const int64_t n = 10;
  const torch::Tensor a = with_eigenvalues(linspace(0.3, 0.7, n));
  // |D_ij| <= 0.2 / n, so A +- D keeps its eigenvalues in [0.1, 0.9] (Gershgorin).
  const torch::Tensor r = (torch::rand({n, n}, kD) * 2 - 1) * (0.2 / n);
  const torch::Tensor d = 0.5 * (r + r.t());
  const torch::Tensor a0 = a + d, a1 = a - d;  // mean A
  const gt::ParamVec params = quadratic_params();
  const gt::ParamVec v = randn_like_all(params);
  int64_t picked[2] = {0, 0};
  auto loss_at = [&](int64_t repeat, int64_t step) {
    const int k = static_cast<int>(mix(mix(0x5eedULL ^ uint64_t(repeat)) ^ uint64_t(step)) & 1);
    ++picked[k];
    return quadratic(k ? a1 : a0, params);
  };
  gt::LissaOptions o;
  o.damping = 0.01;
  o.scale = 1.0;
  o.depth = 150;
  o.repeats = 64;
  std::vector<int64_t> all;
  for (int64_t i = 0; i < o.repeats; ++i) all.push_back(i);
  gt::ParamVec mean = gt::lissa_inverse_hvp_sum(loss_at, params, v, o, all);
  for (auto& t : mean) t = t / double(o.repeats);
  EXPECT_GT(picked[0], 1000);
  EXPECT_GT(picked[1], 1000);

  const gt::ParamVec want = damped_inverse(a, 0.01, v);
  gt::ParamVec diff;
  for (size_t i = 0; i < want.size(); ++i) diff.push_back(mean[i] - want[i]);
  EXPECT_LT(norm(diff), 5e-2 * norm(want));
  // The noise is real: one repeat alone is off by more than rounding.
  const gt::ParamVec one = gt::lissa_inverse_hvp_sum(loss_at, params, v, o, {0});
  EXPECT_GT(max_abs_diff(one, want), 1e-8);

  // Ranks split repeats: the sum over {0, 1} is run {0} + run {1}, bit for bit.
  const gt::ParamVec both = gt::lissa_inverse_hvp_sum(loss_at, params, v, o, {0, 1});
  const gt::ParamVec second = gt::lissa_inverse_hvp_sum(loss_at, params, v, o, {1});
  for (size_t i = 0; i < both.size(); ++i) {
    EXPECT_TRUE(torch::equal(both[i], one[i] + second[i])) << "tensor " << i;
  }
  // No repeats: zeros.
  EXPECT_EQ(norm(gt::lissa_inverse_hvp_sum(loss_at, params, v, o, {})), 0.0);
}

TEST(Lissa, DivergenceNamesTheScale) {
  torch::manual_seed(17);
  const torch::Tensor a = with_eigenvalues(linspace(3.0, 5.0, 10));  // > 2 x scale
  const gt::ParamVec params = quadratic_params();
  const gt::ParamVec v = randn_like_all(params);
  gt::LissaOptions o;
  o.damping = 0.01;
  o.scale = 1.0;
  o.depth = 1000;
  try {
    gt::lissa_inverse_hvp_sum([&](int64_t, int64_t) { return quadratic(a, params); }, params, v,
                              o, {0});
    ADD_FAILURE() << "no error";
  } catch (const grec::UserError& e) {
    EXPECT_NE(std::string(e.what()).find("prune.influence.scale"), std::string::npos) << e.what();
  }
}

TEST(Lissa, ValidatesOptions) {
  const gt::ParamVec params = leaves({torch::zeros({3}, kD)});
  const gt::ParamVec v = {torch::ones({3}, kD)};
  auto loss_at = [&](int64_t, int64_t) { return (params[0] * params[0]).sum(); };
  gt::LissaOptions o;
  o.depth = 2;
  EXPECT_NO_THROW(gt::lissa_inverse_hvp_sum(loss_at, params, v, o, {0}));
  gt::LissaOptions bad = o;
  bad.damping = 1.0;
  EXPECT_THROW(gt::lissa_inverse_hvp_sum(loss_at, params, v, bad, {0}), grec::Error);
  bad = o;
  bad.scale = 0;
  EXPECT_THROW(gt::lissa_inverse_hvp_sum(loss_at, params, v, bad, {0}), grec::Error);
  bad = o;
  bad.depth = 0;
  EXPECT_THROW(gt::lissa_inverse_hvp_sum(loss_at, params, v, bad, {0}), grec::Error);
  EXPECT_THROW(gt::lissa_inverse_hvp_sum(loss_at, params, v, o, {1}), grec::Error);  // repeats 1
  EXPECT_THROW(gt::lissa_inverse_hvp_sum(loss_at, params, {torch::ones({4}, kD)}, o, {0}),
               grec::Error);
}

}  // namespace
