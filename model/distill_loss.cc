// Ranking distillation weights and loss (see distill_loss.h).
#include "model/distill_loss.h"

namespace grec::model {

namespace F = torch::nn::functional;

namespace {

// Each row divided by its sum; rows summing to 0 stay 0.
torch::Tensor row_normalise(const torch::Tensor& w) {
  torch::Tensor s = w.sum(1, true);
  return torch::where(s > 0, w / s.clamp_min(1e-30), torch::zeros_like(w));
}

}  // namespace

DistillWeightParts distill_weight_parts(const torch::Tensor& teacher_rows,
                                        const torch::Tensor& teacher_scores,
                                        const torch::Tensor& student_topk,
                                        const RankDistillOptions& o) {
  TORCH_CHECK(teacher_rows.dim() == 2 && teacher_scores.sizes() == teacher_rows.sizes(),
              "distill weights: teacher rows and scores must both be [B, K], got ",
              teacher_rows.sizes(), " and ", teacher_scores.sizes());
  TORCH_CHECK(student_topk.dim() == 2 && student_topk.size(0) == teacher_rows.size(0),
              "distill weights: student top-K must be [B, K'], got ", student_topk.sizes());
  TORCH_CHECK(o.position_lambda() > 0, "distill weights: position lambda must be > 0");
  torch::NoGradGuard no_grad;
  const int64_t k = teacher_rows.size(1);
  torch::Tensor real = (teacher_rows != 0).to(torch::kFloat);
  torch::Tensor rank = torch::arange(1, k + 1, torch::kFloat).unsqueeze(0);
  DistillWeightParts p;
  p.position = row_normalise(torch::exp(-rank / o.position_lambda()).expand_as(real) * real);
  // exp(s_k - s_1); masked entries get -inf scores first so they cannot be the row's maximum.
  torch::Tensor s = teacher_scores.to(torch::kFloat).masked_fill(real == 0, -INFINITY);
  torch::Tensor best = std::get<0>(s.max(1, true));
  torch::Tensor conf = torch::exp(s - torch::where(torch::isfinite(best), best, torch::zeros_like(best)));
  p.confidence = row_normalise(torch::nan_to_num(conf, 0.0) * real);
  // c_k in the student's top K': compare every teacher entry with every student entry.
  torch::Tensor hit = (teacher_rows.unsqueeze(2) == student_topk.unsqueeze(1)).any(2).to(torch::kFloat);
  p.consistency = row_normalise(hit * real);
  return p;
}

torch::Tensor distill_weights(const DistillWeightParts& p, const torch::Tensor& teacher_rows,
                              const RankDistillOptions& o) {
  torch::NoGradGuard no_grad;
  torch::Tensor real = (teacher_rows != 0).to(torch::kFloat);
  torch::Tensor w = p.position * o.position() + p.confidence * o.confidence() +
                    p.consistency * o.consistency();
  if (o.position() == 0 && o.confidence() == 0 && o.consistency() == 0) w = real;
  return row_normalise(w * real);
}

torch::Tensor rank_distill_loss_sum(SequentialRecommender& model, const torch::Tensor& h,
                                    const torch::Tensor& teacher_rows,
                                    const torch::Tensor& negatives, const torch::Tensor& weights) {
  TORCH_CHECK(h.dim() == 2 && teacher_rows.dim() == 2 && h.size(0) == teacher_rows.size(0) &&
                  negatives.sizes() == teacher_rows.sizes() && weights.sizes() == teacher_rows.sizes(),
              "rank_distill_loss_sum: h [B, d], teacher rows, negatives and weights [B, K] expected");
  torch::Tensor pos = model.score_items(h, teacher_rows).to(torch::kFloat);  // [B, K]
  torch::Tensor neg = model.score_items(h, negatives).to(torch::kFloat);
  // -log σ(x) = softplus(-x); -log σ(-x) = softplus(x).
  torch::Tensor per = F::softplus(-pos) + F::softplus(neg);
  return (per * weights.detach().to(torch::kFloat)).sum();
}

}  // namespace grec::model
