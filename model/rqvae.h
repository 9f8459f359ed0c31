// RQ-VAE for semantic item IDs (TIGER, LC-Rec; ALGORITHMS.md §1).
//
// Encoder MLP d_in → encoder_dims… → latent_dim (ReLU between layers, none after the last), L
// residual levels of K codes of size latent_dim, decoder mirroring the encoder. Level l picks the
// code nearest to the residual r_l; r_{l+1} = r_l − c_l. The decoder sees z + sg(Σc − z)
// (straight-through estimator), so the reconstruction gradient reaches the encoder unchanged.
//
// Per-sample loss (returned as SUMS over the batch, the trainer's loss_sum convention):
//   recon = Σ_dims (x̂ − x)²                          (a sum, not a mean: avoids codebook collapse)
//   quant = (1/L) Σ_l [ ‖sg(r_l) − c_l‖² + β ‖r_l − sg(c_l)‖² ]
// With EMA codebooks the first term is dropped (codebooks are buffers moved by ema_update()).
#pragma once

#include <cstdint>
#include <vector>

#include <torch/torch.h>

namespace grec::model {

struct RQVAEOptions {
  RQVAEOptions(int64_t input_dim) : input_dim_(input_dim) {}
  TORCH_ARG(int64_t, input_dim);
  TORCH_ARG(std::vector<int64_t>, encoder_dims) = std::vector<int64_t>{256, 128};
  TORCH_ARG(int64_t, latent_dim) = 32;
  TORCH_ARG(int64_t, levels) = 3;          // L
  TORCH_ARG(int64_t, codebook_size) = 32;  // K (LC-Rec: 256)
  TORCH_ARG(double, beta) = 0.25;
  TORCH_ARG(bool, ema) = false;            // codebooks as EMA buffers instead of parameters
  TORCH_ARG(double, ema_decay) = 0.99;
  TORCH_ARG(double, ema_eps) = 1e-5;       // Laplace smoothing of EMA counts
};

struct RQVAEOutput {
  torch::Tensor reconstruction;  // [n, d_in]
  torch::Tensor codes;           // [n, L] int64
  torch::Tensor recon_loss_sum;  // scalar, Σ over samples
  torch::Tensor quant_loss_sum;  // scalar, Σ over samples
  // EMA statistics of this batch (only with ema and in training mode): per level code counts
  // [L, K] and sums of the residuals assigned to each code [L, K, d].
  torch::Tensor ema_counts, ema_sums;
  torch::Tensor loss_sum() const { return recon_loss_sum + quant_loss_sum; }
};

struct Quantized {
  torch::Tensor codes;           // [n, L] int64
  torch::Tensor last_distances;  // [n, K] squared distances of the last residual to level L−1's codes
  torch::Tensor residuals;       // [L, n, d] r_0 … r_{L−1} (r_0 = encoder output)
};

class RQVAEImpl : public torch::nn::Module {
 public:
  explicit RQVAEImpl(RQVAEOptions options);

  RQVAEOutput forward(const torch::Tensor& x);
  torch::Tensor encode(const torch::Tensor& x);  // latent z [n, d]
  torch::Tensor decode(const torch::Tensor& z);
  // Nearest-code assignment without gradients (eval): codes, last-level distances, residuals.
  Quantized quantize(const torch::Tensor& x);
  // Sum of the chosen codes, [n, d].
  torch::Tensor lookup(const torch::Tensor& codes);

  // Initialise level by level: k-means (k-means++ seeding, `seed`) on the residuals of x.
  void init_codebooks_kmeans(const torch::Tensor& x, int64_t iters, uint64_t seed);
  // EMA step with (already rank-summed) batch statistics from RQVAEOutput:
  //   N ← γN + (1−γ)n,  S ← γS + (1−γ)s,  c_k = S_k / Ñ_k with Ñ Laplace-smoothed.
  void ema_update(const torch::Tensor& counts, const torch::Tensor& sums);
  // Replace code `code` of `level` by `vector` (dead-code re-seeding); resets its EMA state.
  void set_code(int64_t level, int64_t code, const torch::Tensor& vector);

  torch::Tensor codebooks() const { return codebooks_; }  // [L, K, d]
  const RQVAEOptions& options() const { return options_; }

  torch::nn::Sequential encoder{nullptr}, decoder{nullptr};

 private:
  RQVAEOptions options_;
  torch::Tensor codebooks_;              // parameter, or buffer with ema
  torch::Tensor ema_counts_, ema_sums_;  // buffers [L, K], [L, K, d] with ema
};
TORCH_MODULE(RQVAE);

// Squared distances [n, K] of rows of r to the codes c [K, d] (no gradient).
torch::Tensor code_distances(const torch::Tensor& r, const torch::Tensor& c);

}  // namespace grec::model
