// DLLM2Rec's collaborative embedding distillation (ALGORITHMS.md §4): a frozen per-item teacher
// embedding z_i (an LLM hidden state) enters the student's item representation through a learned
// projection, e_i = E[i] + w·(W z_i + b). Row 0 (padding) contributes zero.
#pragma once

#include <cstdint>

#include <torch/torch.h>

namespace grec::model {

struct TeacherItemTermOptions {
  TeacherItemTermOptions(int64_t hidden) : hidden_(hidden) {}
  TORCH_ARG(int64_t, hidden);        // the student's d
  TORCH_ARG(double, weight) = 0.25;  // w (DLLM2Rec: 0.2-0.3)
};

class TeacherItemTermImpl : public torch::nn::Module {
 public:
  // teacher: [num_items, dz] float, row i = item i (kept as buffer "teacher", not trained).
  TeacherItemTermImpl(const torch::Tensor& teacher, TeacherItemTermOptions options);

  // Table rows (any shape; 0 = padding, item i = i + 1) -> w (W z + b) [..., hidden], zero at 0.
  torch::Tensor forward(const torch::Tensor& rows);
  // The term of every real item, [num_items, hidden].
  torch::Tensor all_items();
  // The folded table: E (rows 0..num_items) plus the term, row 0 kept zero. What export writes,
  // so a distilled student serves as a plain model.
  torch::Tensor fold_into(const torch::Tensor& table);

  const TeacherItemTermOptions& options() const { return options_; }

  torch::Tensor teacher;  // [num_items + 1, dz], row 0 zeros
  torch::nn::Linear proj{nullptr};

 private:
  TeacherItemTermOptions options_;
};
TORCH_MODULE(TeacherItemTerm);

}  // namespace grec::model
