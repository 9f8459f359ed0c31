// Influence-function machinery (DEALRec, ALGORITHMS.md section 3): inner products of parameter-
// space vectors, exact Hessian-vector products by double backward, and the LiSSA estimate of the
// inverse-Hessian-vector product H^-1 v used in I(s) = <H^-1 v, grad L(s)>.
//
// A "vector" in parameter space is a list of tensors with the shapes of the parameter list
// (ParamVec). Nothing here samples or seeds: the caller builds each loss (so a repeat's result
// does not depend on which rank runs it) and sums results over ranks.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include <torch/torch.h>

namespace grec::train {

using ParamVec = std::vector<torch::Tensor>;

// <a, b> summed over the list, accumulated in double (one host sync).
double dot(const ParamVec& a, const ParamVec& b);

// H v for the Hessian H of the scalar `loss` (built from `params` with autograd) with respect to
// `params`, by double backward: g = grad(loss, params, create_graph); H v = grad(<g, v>, params).
// Parameters the loss does not depend on (or depends on only linearly) get zeros, no error; a
// loss that needs no gradient at all gives all zeros. Every param must require grad; v must have
// the params' shapes. The result is detached. The loss's graph is retained, so the same loss may
// be differentiated again (it is freed with the loss).
ParamVec hessian_vector_product(const torch::Tensor& loss, const ParamVec& params,
                                const ParamVec& v);

struct LissaOptions {
  double damping = 0.01;
  double scale = 25.0;
  int64_t depth = 5000;  // recursion steps per repeat
  int64_t repeats = 1;   // independent recursions, averaged (by the caller)
};

// LiSSA estimate of H^-1 v (Agarwal et al. 2017, as in Koh & Liang's and DEALRec's code):
//   h_0 = v;  h_{j+1} = v + (1 - damping) h_j - (H_j h_j) / scale;  estimate = h_depth / scale,
// where H_j is the Hessian of loss_at(repeat, j), the caller's loss on the j-th step's random
// sample(s) of that repeat (j = 0 .. depth-1). The fixed point is (H + damping*scale*I)^-1 v,
// reached when the spectral radius of (1 - damping) I - H / scale is below 1 (the eigenvalues of
// H lie in (-damping*scale, (2 - damping)*scale)).
//
// `repeats_to_run` lists the repeats (each in [0, o.repeats)) this caller runs, so ranks can
// split them; the result is the SUM of those repeats' estimates (the caller sums over ranks and
// divides by o.repeats). No repeats: zeros. The h update runs without autograd and h is detached
// every step, so the graph never grows.
//
// Throws grec::UserError naming prune.influence.scale when h becomes non-finite or its norm
// exceeds 1e6 x norm(v) (the recursion diverges), with the hint to raise the scale or damping.
ParamVec lissa_inverse_hvp_sum(
    const std::function<torch::Tensor(int64_t repeat, int64_t step)>& loss_at,
    const ParamVec& params, const ParamVec& v, const LissaOptions& o,
    const std::vector<int64_t>& repeats_to_run);

}  // namespace grec::train
