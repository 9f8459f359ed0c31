// Next-item training losses of the student models (any SequentialRecommender, e.g. SASRec)
// on the packed (non-padding) positions of a batch: binary cross-entropy with sampled negatives
// (the paper's loss), sampled softmax over the target and K uniform negatives (uniform proposal,
// so the logQ correction is a constant and omitted), and the full softmax cross-entropy over
// every item (ALGORITHMS.md §5: by far the strongest on Amazon data).
#pragma once

#include <string>

#include <torch/torch.h>

#include "model/sequential_recommender.h"

namespace grec::model {

enum class SASRecLoss { kBce, kSampledSoftmax, kCe };

// "bce" | "sampled_softmax" | "ce"; TORCH_CHECK on anything else (configs validate choices).
SASRecLoss parse_sasrec_loss(const std::string& name);
// True when the loss needs sampled negatives.
bool loss_needs_negatives(SASRecLoss loss);

// SUM over positions of the per-position loss.
//   hidden:    [T, d] outputs at the packed positions (PackedHidden::hidden)
//   targets:   [T] table rows (item id + 1) of the next item at each position
//   negatives: [T, K] table rows of sampled negatives (bce, sampled_softmax; undefined for ce)
torch::Tensor sasrec_loss_sum(SequentialRecommender& model, const torch::Tensor& hidden,
                              const torch::Tensor& targets, const torch::Tensor& negatives,
                              SASRecLoss loss);

}  // namespace grec::model
