// The distillation task (see distill_task.h).
#include "stages/distill_task.h"

#include "core/error.h"
#include "dist/sampler.h"

namespace grec::stages {

DistillTask::DistillTask(const data::Dataset& dataset, const Config& config, dist::Communicator& comm,
                         uint64_t seed, const std::function<StudentModel()>& student,
                         const TeacherOutputs* teacher, DistillLossOptions options)
    : SASRecTask(dataset, config, comm, seed, student),
      dataset_(dataset),
      teacher_(teacher),
      options_(options),
      first_(dataset.num_users(), -1) {
  if (!teacher_) return;
  for (int64_t s = 0; s < teacher_->size(); ++s) {
    const int64_t u = teacher_->users[s];
    GREC_CHECK(u >= 0 && u < dataset.num_users(), "teacher sample {} names user {}", s, u);
    GREC_CHECK(teacher_->ends[s] < dataset.train_end[u],
               "teacher sample {} (user {}, end {}) is not a training position", s, u,
               teacher_->ends[s]);
    if (first_[u] < 0) first_[u] = s;
  }
}

int64_t DistillTask::teacher_sample(int64_t user, int64_t end) const {
  if (!teacher_ || first_[user] < 0) return -1;
  const int64_t s = first_[user] + (end - teacher_->ends[first_[user]]);
  if (s < first_[user] || s >= teacher_->size() || teacher_->users[s] != user ||
      teacher_->ends[s] != end) {
    return -1;
  }
  return s;
}

torch::Tensor DistillTask::extra_loss_sum(const data::SequenceBatch& b,
                                          const model::PackedHidden& packed,
                                          const train::Batch& batch) {
  if (!teacher_ || options_.lambda == 0) return {};
  const int64_t k = teacher_->k, width = b.width, num_items = dataset_.num_items();
  // Packed rows are the real positions in row-major order; row r's input column t holds the
  // history items[0, end) with end = train_end - 1 - (width - 1 - t).
  std::vector<int64_t> rows, teacher_rows, negatives;
  std::vector<float> scores;
  int64_t offset = 0;
  for (int64_t r = 0; r < b.batch; ++r) {
    int64_t len = 0;
    for (int64_t t = 0; t < width; ++t) len += b.input[r * width + t] != 0;
    const int64_t index = batch.indices[r], user = user_of(index);
    data::SampleRng rng(dist::sample_seed(seed() ^ 0x5d15'7111ULL, batch.epoch, index));
    for (int64_t j = 0; j < len; ++j) {
      const int64_t t = width - len + j;
      const int64_t end = dataset_.train_end[user] - 1 - (width - 1 - t);
      const int64_t s = teacher_sample(user, end);
      if (s < 0) continue;
      rows.push_back(offset + j);
      for (int64_t c = 0; c < k; ++c) {
        const int64_t item = teacher_->items[s * k + c];
        teacher_rows.push_back(item + 1);  // -1 (no entry) -> row 0
        scores.push_back(teacher_->scores[s * k + c]);
        negatives.push_back(rng.uniform(num_items) + 1);
      }
    }
    offset += len;
  }
  GREC_CHECK(offset == packed.hidden.size(0), "distill: {} real positions, {} packed rows", offset,
             packed.hidden.size(0));
  if (rows.empty()) return {};
  const int64_t m = static_cast<int64_t>(rows.size());
  auto longs = [](std::vector<int64_t>& v, std::vector<int64_t> shape) {
    return torch::from_blob(v.data(), shape, torch::kLong).clone();
  };
  torch::Tensor h = packed.hidden.index_select(0, longs(rows, {m}));
  torch::Tensor t_rows = longs(teacher_rows, {m, k});
  torch::Tensor t_scores = torch::from_blob(scores.data(), {m, k}, torch::kFloat).clone();
  torch::Tensor neg = longs(negatives, {m, k});
  torch::Tensor student_topk;
  {
    torch::NoGradGuard no_grad;
    torch::Tensor logits = torch::matmul(h.detach(), student().item_table().t().to(h.scalar_type()));
    student_topk = std::get<1>(logits.topk(std::min<int64_t>(k, num_items), 1)) + 1;
  }
  const model::DistillWeightParts parts =
      model::distill_weight_parts(t_rows, t_scores, student_topk, options_.weights);
  torch::Tensor w = model::distill_weights(parts, t_rows, options_.weights);
  return model::rank_distill_loss_sum(student(), h, t_rows, neg, w) * options_.lambda;
}

}  // namespace grec::stages
