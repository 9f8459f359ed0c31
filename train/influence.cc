// Influence-function machinery (train/influence.h).
#include "train/influence.h"

#include <cmath>

#include "core/error.h"

namespace grec::train {
namespace {

void check_same_shapes(const ParamVec& params, const ParamVec& v, const char* what) {
  GREC_CHECK(v.size() == params.size(), "{}: {} tensors for {} parameters", what, v.size(),
             params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    GREC_CHECK(params[i].defined() && v[i].defined(), "{}: tensor {} is undefined", what, i);
    GREC_CHECK(v[i].sizes() == params[i].sizes(), "{}: tensor {} has shape {} but parameter {}",
               what, i, c10::str(v[i].sizes()), c10::str(params[i].sizes()));
  }
}

ParamVec zeros_like_all(const ParamVec& like) {
  torch::NoGradGuard no_grad;
  ParamVec out;
  out.reserve(like.size());
  for (const auto& t : like) out.push_back(torch::zeros_like(t));
  return out;
}

}  // namespace

double dot(const ParamVec& a, const ParamVec& b) {
  GREC_CHECK(a.size() == b.size(), "dot: {} tensors against {}", a.size(), b.size());
  torch::NoGradGuard no_grad;
  torch::Tensor total;
  for (size_t i = 0; i < a.size(); ++i) {
    GREC_CHECK(a[i].defined() && b[i].defined(), "dot: tensor {} is undefined", i);
    GREC_CHECK(a[i].numel() == b[i].numel(), "dot: tensor {} has {} elements against {}", i,
               a[i].numel(), b[i].numel());
    const torch::Tensor d = torch::dot(a[i].reshape({-1}).to(torch::kDouble),
                                       b[i].reshape({-1}).to(a[i].device(), torch::kDouble));
    total = total.defined() ? total + d : d;
  }
  return total.defined() ? total.item<double>() : 0.0;
}

ParamVec hessian_vector_product(const torch::Tensor& loss, const ParamVec& params,
                                const ParamVec& v) {
  check_same_shapes(params, v, "hessian_vector_product");
  GREC_CHECK(loss.defined() && loss.numel() == 1,
             "hessian_vector_product: the loss must be a scalar");
  for (size_t i = 0; i < params.size(); ++i) {
    GREC_CHECK(params[i].requires_grad(),
               "hessian_vector_product: parameter {} does not require grad", i);
  }
  ParamVec out = zeros_like_all(params);
  if (params.empty() || !loss.requires_grad()) return out;

  // First backward keeps its graph so the gradient can be differentiated again.
  const ParamVec g = torch::autograd::grad({loss}, params, {}, /*retain_graph=*/true,
                                           /*create_graph=*/true, /*allow_unused=*/true);
  // <g, v> over the gradients that still depend on the parameters; the others (undefined: loss
  // independent of the parameter; constant: loss linear in it) contribute zero to H v.
  torch::Tensor inner;
  for (size_t i = 0; i < g.size(); ++i) {
    if (!g[i].defined() || !g[i].requires_grad()) continue;
    const torch::Tensor term = (g[i] * v[i].detach().to(g[i].options())).sum();
    inner = inner.defined() ? inner + term : term;
  }
  if (!inner.defined()) return out;

  // retain_graph so the caller may still differentiate the loss (freed with the loss).
  const ParamVec hv = torch::autograd::grad({inner}, params, {}, /*retain_graph=*/true,
                                            /*create_graph=*/false, /*allow_unused=*/true);
  for (size_t i = 0; i < hv.size(); ++i) {
    if (hv[i].defined()) out[i] = hv[i].detach();
  }
  return out;
}

ParamVec lissa_inverse_hvp_sum(
    const std::function<torch::Tensor(int64_t repeat, int64_t step)>& loss_at,
    const ParamVec& params, const ParamVec& v, const LissaOptions& o,
    const std::vector<int64_t>& repeats_to_run) {
  GREC_CHECK(o.damping >= 0 && o.damping < 1, "LiSSA damping {} is not in [0, 1)", o.damping);
  GREC_CHECK(o.scale > 0, "LiSSA scale {} is not > 0", o.scale);
  GREC_CHECK(o.depth >= 1, "LiSSA depth {} is not >= 1", o.depth);
  GREC_CHECK(o.repeats >= 1, "LiSSA repeats {} is not >= 1", o.repeats);
  check_same_shapes(params, v, "lissa_inverse_hvp_sum");
  for (int64_t r : repeats_to_run) {
    GREC_CHECK(r >= 0 && r < o.repeats, "LiSSA repeat {} is not in [0, {})", r, o.repeats);
  }

  ParamVec vd;
  vd.reserve(v.size());
  for (const auto& t : v) vd.push_back(t.detach());
  const double v_norm = std::sqrt(dot(vd, vd));
  const double limit = 1e6 * v_norm;

  ParamVec total = zeros_like_all(vd);
  for (int64_t r : repeats_to_run) {
    ParamVec h;
    h.reserve(vd.size());
    for (const auto& t : vd) h.push_back(t.clone());
    for (int64_t j = 0; j < o.depth; ++j) {
      const ParamVec hv = hessian_vector_product(loss_at(r, j), params, h);
      {
        torch::NoGradGuard no_grad;
        for (size_t i = 0; i < h.size(); ++i) {
          h[i] = (vd[i] + (1.0 - o.damping) * h[i] - hv[i].to(h[i].options()) / o.scale).detach();
        }
      }
      const double h_norm = std::sqrt(dot(h, h));
      if (!std::isfinite(h_norm) || h_norm > limit) {
        user_error(
            "the LiSSA inverse-Hessian recursion diverged at repeat {} step {} (|h| = {:.3g}, "
            "|v| = {:.3g}): it needs the Hessian's eigenvalues within (-damping, 2 - damping) x "
            "prune.influence.scale ({}); raise prune.influence.scale (or prune.influence.damping, "
            "now {})",
            r, j + 1, h_norm, v_norm, o.scale, o.damping);
      }
    }
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < total.size(); ++i) total[i] += h[i] / o.scale;
  }
  return total;
}

}  // namespace grec::train
