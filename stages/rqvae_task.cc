// RQVAETask: see rqvae_task.h.
#include "stages/rqvae_task.h"

#include <chrono>
#include <cmath>

#include "core/error.h"
#include "core/hash.h"
#include "core/log.h"
#include "dist/communicator.h"
#include "dist/sampler.h"
#include "tokenizer/collisions.h"

namespace grec::stages {

void check_embeddings(const torch::Tensor& x, int64_t expected_items, const std::string& what) {
  if (x.dim() != 2 || x.size(1) < 1) {
    std::string shape;
    for (int64_t s : x.sizes()) shape += (shape.empty() ? "" : " x ") + std::to_string(s);
    user_error("{}: embeddings must be a 2-d matrix [items, d] with d >= 1, got shape [{}]", what,
               shape);
  }
  if (expected_items >= 0 && x.size(0) != expected_items) {
    user_error("{}: embeddings have {} rows but the dataset has {} items", what, x.size(0),
               expected_items);
  }
  const torch::Tensor bad = torch::logical_not(torch::isfinite(x)).any(1);
  if (bad.any().item<bool>()) {
    const int64_t row = bad.nonzero()[0][0].item<int64_t>();
    user_error("{}: embedding row {} (item {}) contains NaN or Inf", what, row, row);
  }
}

CodeUsage code_usage(const torch::Tensor& column, int64_t K) {
  const torch::Tensor counts = torch::bincount(column.to(torch::kLong), {}, K).to(torch::kDouble);
  CodeUsage u;
  u.utilisation = (counts > 0).sum().item<double>() / static_cast<double>(K);
  const torch::Tensor p = counts / counts.sum().clamp_min(1);
  const torch::Tensor h = -(p * torch::log(p.clamp_min(1e-300))).sum();
  u.perplexity = std::exp(h.item<double>());
  return u;
}

RQVAETask::RQVAETask(torch::Tensor embeddings, model::RQVAEOptions model_options,
                     RQVAETaskOptions options, dist::Communicator& comm)
    : embeddings_(embeddings.to(embeddings.scalar_type() == torch::kDouble ? torch::kDouble
                                                                          : torch::kFloat)
                      .contiguous()),
      options_(options),
      comm_(comm) {
  const int64_t n = embeddings_.size(0);
  GREC_CHECK(n >= 1, "RQ-VAE: no items");
  torch::manual_seed(options_.seed);  // same initial weights everywhere (rank 0's are broadcast)
  model_ = model::RQVAE(model_options);
  model_->to(embeddings_.scalar_type());  // float64 only where a test asks for it
  const dist::DistributedSampler sampler(n, options_.global_batch_size, 0, 1, options_.seed);
  steps_per_epoch_ = sampler.steps_per_epoch();
  if (options_.kmeans_init) {
    const auto t0 = std::chrono::steady_clock::now();
    const std::vector<int64_t> first = sampler.global_batch(0, 0);
    const torch::Tensor xb = embeddings_.index_select(0, torch::tensor(first, torch::kLong));
    if (xb.size(0) < model_options.codebook_size()) {
      GREC_WARN("rqvae: the first batch has {} items, fewer than K = {}; k-means repeats points",
                xb.size(0), model_options.codebook_size());
    }
    model_->init_codebooks_kmeans(xb, options_.kmeans_iters, options_.seed);
    kmeans_seconds_ =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
}

std::string RQVAETask::dataset_fingerprint() const {
  return hex64(fnv1a64(embeddings_.data_ptr(),
                       static_cast<size_t>(embeddings_.numel()) * embeddings_.element_size()));
}

int64_t RQVAETask::reseed_dead_codes() {
  torch::NoGradGuard no_grad;
  const bool was_training = model_->is_training();
  model_->eval();
  const model::Quantized q = model_->quantize(embeddings_);
  model_->train(was_training);
  const int64_t L = model_->options().levels(), K = model_->options().codebook_size();
  const torch::Tensor books = model_->codebooks();
  int64_t total = 0;
  for (int64_t l = 0; l < L; ++l) {
    const torch::Tensor col = q.codes.select(1, l);
    const torch::Tensor counts = torch::bincount(col, {}, K);
    const torch::Tensor dead = (counts < options_.dead_code_threshold).nonzero().squeeze(1);
    const int64_t n_dead = dead.size(0);
    if (n_dead == 0) continue;
    // The worst-served items at this level (largest distance to their own code) become the new
    // codes: a deterministic choice from data every rank holds.
    const torch::Tensor r = q.residuals[l];
    const torch::Tensor err = (r - books[l].index_select(0, col)).pow(2).sum(1);
    const torch::Tensor order = std::get<1>(err.sort(0, /*descending=*/true));
    const int64_t m = std::min<int64_t>(n_dead, order.size(0));
    for (int64_t j = 0; j < m; ++j) {
      model_->set_code(l, dead[j].item<int64_t>(), r[order[j].item<int64_t>()]);
    }
    total += m;
  }
  reseeded_ += total;
  return total;
}

torch::Tensor RQVAETask::loss_sum(const train::Batch& batch) {
  const int64_t epoch_start_step = batch.epoch * steps_per_epoch_ + 1;
  // Once per step: with micro-batches loss_sum runs several times for the same step.
  if (options_.dead_code_reseed && batch.epoch > 0 && batch.step == epoch_start_step &&
      batch.step != last_reseed_step_ &&
      options_.dead_code_every > 0 && batch.epoch % options_.dead_code_every == 0 &&
      (options_.dead_code_last_epoch < 0 || batch.epoch < options_.dead_code_last_epoch)) {
    last_reseed_step_ = batch.step;
    const int64_t n = reseed_dead_codes();
    if (n > 0 && comm_.rank() == 0) {
      GREC_DEBUG("rqvae: epoch {}: re-seeded {} dead codes", batch.epoch, n);
    }
  }
  const auto& mo = model_->options();
  if (batch.indices.empty()) {
    torch::Tensor zero = torch::zeros({});
    for (const auto& p : model_->parameters()) zero = zero + p.sum() * 0.0;
    if (mo.ema() && model_->is_training()) {
      torch::Tensor counts = torch::zeros({mo.levels(), mo.codebook_size()});
      torch::Tensor sums = torch::zeros({mo.levels(), mo.codebook_size(), mo.latent_dim()});
      comm_.allreduce(counts, dist::ReduceOp::kSum);
      comm_.allreduce(sums, dist::ReduceOp::kSum);
      model_->ema_update(counts, sums);
    }
    return zero;
  }
  const torch::Tensor x =
      embeddings_.index_select(0, torch::tensor(batch.indices, torch::kLong));
  model::RQVAEOutput out = model_->forward(x);
  if (out.ema_counts.defined()) {
    comm_.allreduce(out.ema_counts, dist::ReduceOp::kSum);
    comm_.allreduce(out.ema_sums, dist::ReduceOp::kSum);
    model_->ema_update(out.ema_counts, out.ema_sums);
  }
  return out.loss_sum();
}

nlohmann::json RQVAETask::evaluate(const std::string& split) {
  torch::NoGradGuard no_grad;
  const bool was_training = model_->is_training();
  model_->eval();
  const int64_t n = embeddings_.size(0);
  double recon = 0, quant = 0;
  std::vector<torch::Tensor> codes;
  for (int64_t a = 0; a < n; a += options_.eval_batch) {
    const int64_t b = std::min(n, a + options_.eval_batch);
    const model::RQVAEOutput out = model_->forward(embeddings_.slice(0, a, b));
    recon += out.recon_loss_sum.item<double>();
    quant += out.quant_loss_sum.item<double>();
    codes.push_back(out.codes);
  }
  model_->train(was_training);
  const torch::Tensor all = torch::cat(codes, 0);
  nlohmann::json j;
  j["recon_loss"] = recon / static_cast<double>(n);
  j["quant_loss"] = quant / static_cast<double>(n);
  j["loss"] = (recon + quant) / static_cast<double>(n);
  const int64_t K = model_->options().codebook_size();
  for (int64_t l = 0; l < all.size(1); ++l) {
    const CodeUsage u = code_usage(all.select(1, l), K);
    j["utilisation_l" + std::to_string(l)] = u.utilisation;
    j["perplexity_l" + std::to_string(l)] = u.perplexity;
  }
  const double rate = tok::collision_rate(all);
  j["collision_rate"] = rate;
  // Best by collision rate, then loss (the loss term only breaks near-ties).
  j["selection"] = -(rate + 1e-3 * j["loss"].get<double>());
  (void)split;  // the RQ-VAE has no held-out items: "valid" and "test" both score all items
  return j;
}

}  // namespace grec::stages
