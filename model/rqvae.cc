// RQ-VAE forward, losses, quantisation, k-means and EMA codebook updates; see rqvae.h.
#include "model/rqvae.h"

#include "core/splitmix64.h"
#include "model/kmeans.h"

#include <optional>

#include <c10/core/impl/LocalDispatchKeySet.h>

namespace grec::model {
namespace {

torch::nn::Sequential mlp(const std::vector<int64_t>& dims) {
  torch::nn::Sequential s;
  for (size_t i = 0; i + 1 < dims.size(); ++i) {
    s->push_back(torch::nn::Linear(dims[i], dims[i + 1]));
    // In place: the Linear's output is not needed by its own backward, and ReLU's backward
    // reads only its result, so this saves an [n, width] buffer per hidden layer.
    if (i + 2 < dims.size()) s->push_back(torch::nn::ReLU(torch::nn::ReLUOptions().inplace(true)));
  }
  return s;
}

// Σ (a − b)² with mse_loss's fused kernels, as an autograd function so that the backward writes
// the gradient into an uninitialised buffer: ATen's mse_loss_backward first zero-fills one
// (an extra pass over [n, d_in] for the reconstruction) and then overwrites every element.
// Values and gradients are bit-identical to (a − b).pow(2).sum(): the square is x·x either way and
// the gradient is (2(a − b))·g, with −(2(a − b)g) = 2(b − a)g exactly for b.
struct SquaredErrorSum : torch::autograd::Function<SquaredErrorSum> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& a,
                               const torch::Tensor& b) {
    ctx->save_for_backward({a, b});
    return torch::mse_loss(a, b, at::Reduction::Sum);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor& a = saved[0];
    const torch::Tensor& b = saved[1];
    torch::Tensor ga, gb;
    if (ctx->needs_input_grad(0)) {
      ga = torch::empty_like(a, at::MemoryFormat::Contiguous);
      at::mse_loss_backward_out(ga, grads[0], a, b, at::Reduction::Sum);
    }
    if (ctx->needs_input_grad(1)) {
      gb = torch::empty_like(b, at::MemoryFormat::Contiguous);
      at::mse_loss_backward_out(gb, grads[0], b, a, at::Reduction::Sum);
    }
    return {ga, gb};
  }
};

torch::Tensor squared_error_sum(const torch::Tensor& a, const torch::Tensor& b) {
  return SquaredErrorSum::apply(a, b);
}

}  // namespace

torch::Tensor code_distances(const torch::Tensor& r, const torch::Tensor& c) {
  torch::NoGradGuard no_grad;
  const torch::Tensor rn = r.pow(2).sum(1, true);
  const torch::Tensor cn = c.pow(2).sum(1).unsqueeze(0);
  // In place on ‖r‖² + ‖c‖²: the same GEMM as addmm(rn + cn, …) without copying its [n, K] input.
  return (rn + cn).addmm_(r, c.t(), 1.0, -2.0).clamp_min_(0.0);
}

RQVAEImpl::RQVAEImpl(RQVAEOptions options) : options_(std::move(options)) {
  const auto& o = options_;
  TORCH_CHECK(o.input_dim() >= 1 && o.latent_dim() >= 1 && o.levels() >= 1 &&
                  o.codebook_size() >= 1,
              "RQ-VAE: input_dim, latent_dim, levels and codebook_size must be >= 1");
  std::vector<int64_t> dims{o.input_dim()};
  for (int64_t d : o.encoder_dims()) dims.push_back(d);
  dims.push_back(o.latent_dim());
  encoder = register_module("encoder", mlp(dims));
  std::reverse(dims.begin(), dims.end());
  decoder = register_module("decoder", mlp(dims));
  // Placeholder codes until k-means runs: small uniform values, as in public implementations.
  torch::Tensor init =
      torch::empty({o.levels(), o.codebook_size(), o.latent_dim()})
          .uniform_(-1.0 / o.codebook_size(), 1.0 / o.codebook_size());
  if (o.ema()) {
    codebooks_ = register_buffer("codebooks", init);
    ema_counts_ = register_buffer("ema_counts", torch::ones({o.levels(), o.codebook_size()}));
    ema_sums_ = register_buffer("ema_sums", init.clone());
  } else {
    codebooks_ = register_parameter("codebooks", init);
  }
}

torch::Tensor RQVAEImpl::encode(const torch::Tensor& x) { return encoder->forward(x); }
torch::Tensor RQVAEImpl::decode(const torch::Tensor& z) { return decoder->forward(z); }

torch::Tensor RQVAEImpl::lookup(const torch::Tensor& codes) {
  torch::Tensor q;
  for (int64_t l = 0; l < options_.levels(); ++l) {
    torch::Tensor c = codebooks_[l].index_select(0, codes.select(1, l));
    q = q.defined() ? q + c : c;
  }
  return q;
}

RQVAEOutput RQVAEImpl::forward(const torch::Tensor& x) {
  const auto& o = options_;
  TORCH_CHECK(x.dim() == 2 && x.size(1) == o.input_dim(), "RQ-VAE: input must be [n, ",
              o.input_dim(), "], got ", x.sizes());
  const int64_t n = x.size(0), L = o.levels(), K = o.codebook_size();
  const bool want_ema = o.ema() && is_training();
  // Under autocast (bf16 training) the encoder and decoder MLPs run in bf16, but quantisation stays
  // fp32: nearest-code search decides discrete codes (bf16 distances would flip near-ties) and the
  // codebook losses are small differences of nearby vectors.
  std::optional<c10::impl::ExcludeDispatchKeyGuard> fp32;
  const torch::Tensor z_mixed = encode(x);
  fp32.emplace(c10::autocast_dispatch_keyset);
  const torch::Tensor z = z_mixed.to(codebooks_.scalar_type());  // no-op without autocast
  torch::Tensor r = z;
  torch::Tensor q = torch::zeros_like(z, z.options().requires_grad(false));
  torch::Tensor quant = torch::zeros({}, x.options());
  std::vector<torch::Tensor> codes;
  RQVAEOutput out;
  if (want_ema) {
    out.ema_counts = torch::zeros({L, K}, x.options());
    out.ema_sums = torch::zeros({L, K, o.latent_dim()}, x.options());
  }
  // Σ‖a − b‖² terms: one fused kernel forward and one backward instead of sub / pow / sum and
  // their three backward nodes (same values and gradients; see SquaredErrorSum).
  const auto sq_sum = squared_error_sum;
  for (int64_t l = 0; l < L; ++l) {
    const torch::Tensor book = codebooks_[l];
    const torch::Tensor rd = r.detach();
    const torch::Tensor idx = std::get<1>(code_distances(rd, book.detach()).min(1));
    const torch::Tensor c = book.index_select(0, idx);
    const torch::Tensor cd = c.detach();
    const torch::Tensor commit = sq_sum(r, cd);
    if (o.ema()) {
      quant = quant + o.beta() * commit;
    } else {
      quant = quant + sq_sum(c, rd) + o.beta() * commit;
    }
    if (want_ema) {
      torch::NoGradGuard no_grad;
      out.ema_counts[l].index_add_(0, idx, torch::ones({n}, x.options()));
      out.ema_sums[l].index_add_(0, idx, rd);
    }
    codes.push_back(idx);
    // Σc only reaches the decoder detached (below), so it is summed without a graph.
    q.add_(cd);
    r = r - c;
  }
  // Straight-through: forward value Σc, gradient of the decoder input passed to z unchanged.
  // The codebook terms above are what trains the codes (their gradient does not go via q).
  const torch::Tensor zq = z + (q - z).detach();
  fp32.reset();
  out.reconstruction = decode(zq).to(x.scalar_type());
  out.codes = torch::stack(codes, 1);
  out.recon_loss_sum = sq_sum(out.reconstruction, x);
  out.quant_loss_sum = quant / static_cast<double>(L);
  return out;
}

Quantized RQVAEImpl::quantize(const torch::Tensor& x) {
  TORCH_CHECK(x.dim() == 2 && x.size(1) == options_.input_dim(), "RQ-VAE: input must be [n, ",
              options_.input_dim(), "], got ", x.sizes());
  torch::NoGradGuard no_grad;
  // All fp32, even inside an autocast scope: besides precision, autocast would cache bf16 copies
  // of the weights made here without autograd history, and a later forward() in the same scope
  // would train through them without gradients reaching the weights.
  c10::impl::ExcludeDispatchKeyGuard fp32(c10::autocast_dispatch_keyset);
  Quantized out;
  torch::Tensor r = encode(x);
  std::vector<torch::Tensor> codes, residuals;
  for (int64_t l = 0; l < options_.levels(); ++l) {
    const torch::Tensor book = codebooks_[l];
    const torch::Tensor d = code_distances(r, book);
    const torch::Tensor idx = std::get<1>(d.min(1));
    residuals.push_back(r);
    codes.push_back(idx);
    if (l + 1 == options_.levels()) out.last_distances = d;
    r = r - book.index_select(0, idx);
  }
  out.codes = torch::stack(codes, 1);
  out.residuals = torch::stack(residuals, 0);
  return out;
}

void RQVAEImpl::init_codebooks_kmeans(const torch::Tensor& x, int64_t iters, uint64_t seed) {
  torch::NoGradGuard no_grad;
  c10::impl::ExcludeDispatchKeyGuard fp32(c10::autocast_dispatch_keyset);  // as in quantize()
  torch::Tensor r = encode(x);
  for (int64_t l = 0; l < options_.levels(); ++l) {
    KMeansOptions ko;
    ko.k = options_.codebook_size();
    ko.iters = iters;
    ko.seed = seed + static_cast<uint64_t>(l) * kSplitmix64Gamma;
    const KMeansResult km = kmeans(r, ko);
    codebooks_.variable_data()[l].copy_(km.centroids);
    if (options_.ema()) {
      ema_counts_.variable_data()[l].fill_(1.0);
      ema_sums_.variable_data()[l].copy_(km.centroids);
    }
    r = r - km.centroids.index_select(0, km.assignment);
  }
}

void RQVAEImpl::ema_update(const torch::Tensor& counts, const torch::Tensor& sums) {
  TORCH_CHECK(options_.ema(), "RQ-VAE: ema_update without ema");
  torch::NoGradGuard no_grad;
  const double g = options_.ema_decay(), eps = options_.ema_eps();
  const int64_t K = options_.codebook_size();
  torch::Tensor N = ema_counts_.variable_data();
  torch::Tensor S = ema_sums_.variable_data();
  N.mul_(g).add_(counts, 1.0 - g);
  S.mul_(g).add_(sums, 1.0 - g);
  const torch::Tensor total = N.sum(1, true);
  const torch::Tensor smoothed = (N + eps) / (total + K * eps) * total;
  codebooks_.variable_data().copy_(S / smoothed.unsqueeze(2));
}

void RQVAEImpl::set_code(int64_t level, int64_t code, const torch::Tensor& vector) {
  torch::NoGradGuard no_grad;
  codebooks_.variable_data()[level][code].copy_(vector);
  if (options_.ema()) {
    ema_counts_.variable_data()[level][code].fill_(1.0);
    ema_sums_.variable_data()[level][code].copy_(vector);
  }
}

}  // namespace grec::model
