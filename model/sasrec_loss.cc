// SASRec losses (see sasrec_loss.h).
#include "model/sasrec_loss.h"

namespace grec::model {

namespace F = torch::nn::functional;

namespace {

// Full softmax cross-entropy fused with the output GEMM: the [T, I] logits are turned into
// probabilities in place and kept for backward, where softmax - onehot is formed in place too.
// Saves about three passes over the largest tensor of the step versus
// matmul + log_softmax + nll_loss (and their backward), which dominates SASRec's step time.
class FullSoftmaxCe : public torch::autograd::Function<FullSoftmaxCe> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& hidden,
                               const torch::Tensor& table, const torch::Tensor& labels) {
    torch::Tensor logits = torch::matmul(hidden, table.t()).to(torch::kFloat);  // [T, I]
    torch::Tensor target_logit = logits.gather(1, labels.unsqueeze(1)).squeeze(1);
    torch::Tensor row_max = std::get<0>(logits.max(1, true));
    logits.sub_(row_max).exp_();
    torch::Tensor z = logits.sum(1, true);
    logits.div_(z);  // probabilities
    torch::Tensor loss = (z.log() + row_max).squeeze(1).sub(target_logit).sum();
    ctx->save_for_backward({hidden, table, labels, logits});
    return loss;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_out) {
    auto saved = ctx->get_saved_variables();
    const torch::Tensor& hidden = saved[0];
    const torch::Tensor& table = saved[1];
    const torch::Tensor& labels = saved[2];
    torch::Tensor g = saved[3];  // probabilities, turned into softmax - onehot in place (once)
    g.scatter_add_(1, labels.unsqueeze(1), torch::full({labels.size(0), 1}, -1.0f, g.options()));
    torch::Tensor gc = g.to(hidden.scalar_type());
    torch::Tensor scale = grad_out[0];
    torch::Tensor d_hidden = torch::matmul(gc, table).mul_(scale.to(hidden.scalar_type()));
    torch::Tensor d_table = torch::matmul(gc.t(), hidden).mul_(scale.to(hidden.scalar_type()));
    return {d_hidden, d_table, torch::Tensor()};
  }
};

}  // namespace

SASRecLoss parse_sasrec_loss(const std::string& name) {
  if (name == "bce") return SASRecLoss::kBce;
  if (name == "sampled_softmax") return SASRecLoss::kSampledSoftmax;
  if (name == "ce") return SASRecLoss::kCe;
  TORCH_CHECK(false, "unknown SASRec loss '", name, "' (expected bce, sampled_softmax or ce)");
}

bool loss_needs_negatives(SASRecLoss loss) { return loss != SASRecLoss::kCe; }

torch::Tensor sasrec_loss_sum(SequentialRecommender& model, const torch::Tensor& hidden,
                              const torch::Tensor& targets, const torch::Tensor& negatives,
                              SASRecLoss loss) {
  TORCH_CHECK(hidden.dim() == 2 && targets.dim() == 1 && hidden.size(0) == targets.size(0),
              "sasrec_loss_sum: hidden [T, d] and targets [T] expected, got ", hidden.sizes(),
              " and ", targets.sizes());
  if (loss == SASRecLoss::kCe) {
    // Logits of every real item; table row r is item r - 1, hence the shift of the targets.
    torch::Tensor table = model.item_table();
    if (table.scalar_type() != hidden.scalar_type()) table = table.to(hidden.scalar_type());
    return FullSoftmaxCe::apply(hidden, table, targets - 1);
  }
  TORCH_CHECK(negatives.defined() && negatives.dim() == 2 && negatives.size(0) == targets.size(0) &&
                  negatives.size(1) >= 1,
              "sasrec_loss_sum: negatives [T, K >= 1] expected");
  torch::Tensor cand = torch::cat({targets.unsqueeze(1), negatives}, 1);  // [T, 1 + K]
  torch::Tensor logits = model.score_items(hidden, cand).to(torch::kFloat);
  if (loss == SASRecLoss::kBce) {
    // -log sigmoid(s_pos) - sum_k log sigmoid(-s_neg_k), written with softplus for stability.
    torch::Tensor pos = F::softplus(-logits.select(1, 0)).sum();
    torch::Tensor neg = F::softplus(logits.slice(1, 1)).sum();
    return pos + neg;
  }
  torch::Tensor zeros = torch::zeros({logits.size(0)}, targets.options());
  return F::cross_entropy(logits, zeros, F::CrossEntropyFuncOptions().reduction(torch::kSum));
}

}  // namespace grec::model
