// DLLM2Rec's importance-aware ranking distillation (ALGORITHMS.md §4): the teacher's top-K items
// of a training position become weighted positives of the student's prediction there,
//   L_RD = Σ_k w_k · [−log σ(ŷ(c_k)) − log σ(−ŷ(n_k))],  n_k a uniform negative,
//   w = normalise(a_pos·w_pos + a_conf·w_conf + a_cons·w_cons),
// with each part normalised over the list first (sum 1 over the real entries):
//   w_pos(k)  ∝ exp(−k / λ)             k = 1..K, the teacher's rank;
//   w_conf(k) ∝ exp(−d_k), d_k = s_1 − s_k  (s: the teacher's beam log-probabilities, so
//                                          exp(−d_k) = p_k / p_1: the beam probabilities
//                                          renormalised over the list);
//   w_cons(k) = 1 when c_k is also in the student's current top-K (else 0; all 0 when none is).
// Entries with table row 0 (a list shorter than K) get weight 0. When every coefficient is 0 the
// weights are uniform over the real entries.
#pragma once

#include <torch/torch.h>

#include "model/sequential_recommender.h"

namespace grec::model {

struct RankDistillOptions {
  TORCH_ARG(double, position) = 0.3;     // a_pos
  TORCH_ARG(double, confidence) = 0.5;   // a_conf
  TORCH_ARG(double, consistency) = 0.1;  // a_cons
  TORCH_ARG(double, position_lambda) = 1.0;  // λ of w_pos
};

// The three parts, each normalised over the real entries of a row: [B, K] float each.
struct DistillWeightParts {
  torch::Tensor position, confidence, consistency;
};

// teacher_rows: [B, K] int64 table rows (item + 1; 0 = no entry), teacher_scores: [B, K] beam
// log-probabilities (best first), student_topk: [B, K'] table rows of the student's current top
// K' (usually K' = K). Returns the parts (for tests and logging).
DistillWeightParts distill_weight_parts(const torch::Tensor& teacher_rows,
                                        const torch::Tensor& teacher_scores,
                                        const torch::Tensor& student_topk,
                                        const RankDistillOptions& options);

// The combined, normalised weights w [B, K] (rows sum to 1 over the real entries).
torch::Tensor distill_weights(const DistillWeightParts& parts, const torch::Tensor& teacher_rows,
                              const RankDistillOptions& options);

// Σ over rows and entries of w_k [−log σ(ŷ(c_k)) − log σ(−ŷ(n_k))]: h [B, d] the student's
// hidden states at the distilled positions, teacher_rows and negatives [B, K] table rows,
// weights [B, K] (no gradient).
torch::Tensor rank_distill_loss_sum(SequentialRecommender& model, const torch::Tensor& h,
                                    const torch::Tensor& teacher_rows,
                                    const torch::Tensor& negatives, const torch::Tensor& weights);

}  // namespace grec::model
