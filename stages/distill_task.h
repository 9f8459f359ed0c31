// The student's training task of stage distill (DLLM2Rec, ALGORITHMS.md §4): stage sasrec's task
// (same samples, batches, next-item loss and full-ranking evaluation) over a student model, plus
// λ · the importance-aware ranking distillation (model/distill_loss.h) at every input position
// the teacher has a list for. With λ = 0 no distillation term is built at all, so the task trains
// exactly what SASRecTask trains (bit-identical weights for the same seed).
#pragma once

#include <cstdint>
#include <vector>

#include "model/distill_loss.h"
#include "stages/distill_teacher.h"
#include "stages/sasrec_task.h"

namespace grec::stages {

struct DistillLossOptions {
  double lambda = 0.7;  // λ_RD
  model::RankDistillOptions weights;
};

class DistillTask : public SASRecTask {
 public:
  // `teacher` may be null (the plain student); it must outlive the task.
  DistillTask(const data::Dataset& dataset, const Config& config, dist::Communicator& comm,
              uint64_t seed, const std::function<StudentModel()>& student,
              const TeacherOutputs* teacher, DistillLossOptions options);

  torch::Tensor extra_loss_sum(const data::SequenceBatch& b, const model::PackedHidden& packed,
                               const train::Batch& batch) override;

  // The teacher sample of (user, end), or -1 when the teacher has none.
  int64_t teacher_sample(int64_t user, int64_t end) const;

 private:
  const data::Dataset& dataset_;
  const TeacherOutputs* teacher_;
  DistillLossOptions options_;
  std::vector<int64_t> first_;  // per user: its first teacher sample (-1: none); ends ascend by 1
                                // for "all", one sample for "last"
};

}  // namespace grec::stages
