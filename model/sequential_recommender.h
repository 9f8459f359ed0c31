// What every next-item student model offers (SASRec; ALGORITHMS.md §4-§5), so that one
// loss, one training task and one full-ranking evaluation serve them all.
//
// Sequences are int64 [B, W], left-padded (0 = padding, item i = table row i + 1, the most recent
// item in the last column), W <= max_len. Outputs at padding positions do not exist in the packed
// form and do not depend on the padding.
//
// The item representation is one table, tied between input and output: row r of
// item_rows() is E[r] (+ the teacher term when one is attached, model/teacher_item_term.h).
#pragma once

#include <cstdint>

#include <torch/torch.h>

namespace grec::model {

class TeacherItemTermImpl;

// The packed form of a batch: only its non-padding positions.
struct PackedHidden {
  torch::Tensor hidden;  // [T, d] outputs at the non-padding positions, row-major over (b, t)
  torch::Tensor index;   // [T] flat positions b * W + t of those rows in the [B, W] batch
  int64_t batch = 0;
  int64_t width = 0;
};

// Rows of `packed` at each sequence's last column (always real: a sequence holds >= 1 item),
// in batch order: [B, d].
torch::Tensor last_rows(const PackedHidden& packed);

class SequentialRecommender {
 public:
  virtual ~SequentialRecommender() = default;

  virtual int64_t num_items() const = 0;
  virtual int64_t max_len() const = 0;
  virtual int64_t hidden_size() const = 0;

  // Hidden states at the non-padding positions of `seq`.
  virtual PackedHidden forward_packed(const torch::Tensor& seq) = 0;
  // Scores of every real item for the next step after each sequence: [B, num_items].
  torch::Tensor score_all(const torch::Tensor& seq);
  // h [T, d] against table rows items [T, K] (item id + 1) -> [T, K].
  torch::Tensor score_items(const torch::Tensor& h, const torch::Tensor& items);
  // The item representation of table rows (any shape) -> [..., d]; row 0 (padding) is zero.
  torch::Tensor item_rows(const torch::Tensor& rows);
  // The rows of the real items, [num_items, d] (the tied output weights).
  torch::Tensor item_table();

  // Attaches the collaborative embedding term e_i = E[i] + w (W z_i + b); registered on the
  // model as submodule "teacher_term" by the implementation. Null = none (the plain model).
  void set_teacher_term(std::shared_ptr<TeacherItemTermImpl> term);
  bool has_teacher_term() const { return teacher_term_ != nullptr; }
  std::shared_ptr<TeacherItemTermImpl> teacher_term() const { return teacher_term_; }

  // The item embedding table E (row 0 = padding).
  virtual torch::nn::Embedding& item_embedding() = 0;
  virtual torch::nn::Module& as_module() = 0;

 private:
  std::shared_ptr<TeacherItemTermImpl> teacher_term_;
};

}  // namespace grec::model
