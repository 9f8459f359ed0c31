// The shared part of the student models (see sequential_recommender.h).
#include "model/sequential_recommender.h"

#include "model/teacher_item_term.h"

namespace grec::model {

torch::Tensor last_rows(const PackedHidden& p) {
  // Every sequence's last column is real, so its row is the last packed row of that sequence.
  torch::Tensor is_last = p.index.remainder(p.width) == (p.width - 1);
  torch::Tensor rows = p.hidden.index({is_last});
  TORCH_CHECK(rows.size(0) == p.batch, "last_rows: ", rows.size(0), " last positions for ",
              p.batch, " sequences (a sequence without items?)");
  return rows;
}

torch::Tensor SequentialRecommender::item_rows(const torch::Tensor& rows) {
  torch::Tensor e = item_embedding()(rows);
  if (teacher_term_) e = e + teacher_term_->forward(rows).to(e.scalar_type());
  return e;
}

torch::Tensor SequentialRecommender::item_table() {
  torch::Tensor e = item_embedding()->weight.slice(0, 1);
  if (teacher_term_) e = e + teacher_term_->all_items().to(e.scalar_type());
  return e;
}

torch::Tensor SequentialRecommender::score_all(const torch::Tensor& seq) {
  torch::Tensor h = last_rows(forward_packed(seq));
  return torch::matmul(h, item_table().t().to(h.scalar_type()));
}

torch::Tensor SequentialRecommender::score_items(const torch::Tensor& h, const torch::Tensor& items) {
  torch::Tensor e = item_rows(items);                       // [T, K, d]
  return (e * h.unsqueeze(1).to(e.scalar_type())).sum(-1);  // [T, K]
}

void SequentialRecommender::set_teacher_term(std::shared_ptr<TeacherItemTermImpl> term) {
  if (term) {
    TORCH_CHECK(term->teacher.size(0) == num_items() + 1, "set_teacher_term: teacher rows for ",
                term->teacher.size(0) - 1, " items, the model has ", num_items());
    TORCH_CHECK(term->options().hidden() == hidden_size(), "set_teacher_term: term of size ",
                term->options().hidden(), " for a model of hidden ", hidden_size());
    as_module().register_module("teacher_term", term);
  }
  teacher_term_ = std::move(term);
}

}  // namespace grec::model
