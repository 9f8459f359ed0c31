// FusedAdamW (train/fused_adamw.h).
#include "train/fused_adamw.h"

#include <ATen/Parallel.h>

#include <cmath>

#include "train/optim_state_key.h"

namespace grec::train {
namespace {

// The per-step constants of one parameter, in float as the tensor ops would use them.
struct Coefficients {
  float decay;      // 1 - lr * weight_decay
  float beta1, one_minus_beta1, beta2, one_minus_beta2;
  float sqrt_bias_correction2, eps;
  float neg_step_size;  // -lr / bias_correction1
  float grad_scale;
};

// One pass: decoupled decay, both moments, bias-corrected update. Plain loops over restrict
// pointers that the compiler vectorises (this file is built with -O3 -fno-math-errno).
void adamw_pass(float* __restrict p, const float* __restrict g, float* __restrict m,
                float* __restrict v, int64_t n, const Coefficients& c) {
  for (int64_t i = 0; i < n; ++i) {
    const float gi = g[i] * c.grad_scale;
    const float mi = m[i] * c.beta1 + c.one_minus_beta1 * gi;
    const float vi = v[i] * c.beta2 + c.one_minus_beta2 * (gi * gi);
    m[i] = mi;
    v[i] = vi;
    const float denom = std::sqrt(vi) / c.sqrt_bias_correction2 + c.eps;
    p[i] = p[i] * c.decay + c.neg_step_size * mi / denom;
  }
}

bool fusable(const torch::Tensor& p, const torch::Tensor& g, const torch::Tensor& m,
             const torch::Tensor& v) {
  for (const torch::Tensor* t : {&p, &g, &m, &v}) {
    if (!t->device().is_cpu() || t->scalar_type() != torch::kFloat || t->is_sparse() ||
        !t->is_contiguous()) {
      return false;
    }
  }
  return true;
}

}  // namespace

torch::Tensor FusedAdamW::step(LossClosure closure) {
  torch::NoGradGuard no_grad;
  torch::Tensor loss;
  if (closure != nullptr) {
    at::AutoGradMode enable_grad(true);
    loss = closure();
  }
  const double scale = grad_scale_;
  grad_scale_ = 1.0;
  auto& states = state();
  using Map = std::decay_t<decltype(states)>;
  for (auto& group : param_groups()) {
    const auto& o = static_cast<const torch::optim::AdamWOptions&>(group.options());
    const double lr = o.lr(), wd = o.weight_decay(), eps = o.eps();
    const double beta1 = std::get<0>(o.betas()), beta2 = std::get<1>(o.betas());
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      const torch::Tensor& grad = p.grad();
      TORCH_CHECK(!grad.is_sparse(), "AdamW does not support sparse gradients");
      const auto key = optim_state_key<Map>(p);
      auto it = states.find(key);
      if (it == states.end()) {
        auto s = std::make_unique<torch::optim::AdamWParamState>();
        s->step(0);
        s->exp_avg(torch::zeros_like(p, at::MemoryFormat::Preserve));
        s->exp_avg_sq(torch::zeros_like(p, at::MemoryFormat::Preserve));
        if (o.amsgrad()) s->max_exp_avg_sq(torch::zeros_like(p, at::MemoryFormat::Preserve));
        it = states.emplace(key, std::move(s)).first;
      }
      auto& s = static_cast<torch::optim::AdamWParamState&>(*it->second);
      s.step(s.step() + 1);
      const double bias_correction1 = 1.0 - std::pow(beta1, static_cast<double>(s.step()));
      const double bias_correction2 = 1.0 - std::pow(beta2, static_cast<double>(s.step()));
      torch::Tensor& m = s.exp_avg();
      torch::Tensor& v = s.exp_avg_sq();

      if (!o.amsgrad() && fusable(p, grad, m, v)) {
        const Coefficients c{static_cast<float>(1.0 - lr * wd),
                             static_cast<float>(beta1),
                             static_cast<float>(1.0 - beta1),
                             static_cast<float>(beta2),
                             static_cast<float>(1.0 - beta2),
                             static_cast<float>(std::sqrt(bias_correction2)),
                             static_cast<float>(eps),
                             static_cast<float>(-lr / bias_correction1),
                             static_cast<float>(scale)};
        float* pp = p.data_ptr<float>();
        const float* gp = grad.data_ptr<float>();
        float* mp = m.data_ptr<float>();
        float* vp = v.data_ptr<float>();
        at::parallel_for(0, p.numel(), 1 << 15, [&](int64_t begin, int64_t end) {
          adamw_pass(pp + begin, gp + begin, mp + begin, vp + begin, end - begin, c);
        });
        continue;
      }

      // Op by op (any device, dtype or layout; amsgrad).
      const torch::Tensor g = scale == 1.0 ? grad : grad * scale;
      if (wd != 0) p.mul_(1.0 - lr * wd);
      m.mul_(beta1).add_(g, 1.0 - beta1);
      v.mul_(beta2).addcmul_(g, g, 1.0 - beta2);
      torch::Tensor second = v;
      if (o.amsgrad()) {
        torch::Tensor& vmax = s.max_exp_avg_sq();
        if (!vmax.defined()) vmax = torch::zeros_like(p, at::MemoryFormat::Preserve);
        torch::max_out(vmax, vmax, v);
        second = vmax;
      }
      const torch::Tensor denom = (second.sqrt() / std::sqrt(bias_correction2)).add_(eps);
      p.addcdiv_(m, denom, -lr / bias_correction1);
    }
  }
  return loss;
}

}  // namespace grec::train
