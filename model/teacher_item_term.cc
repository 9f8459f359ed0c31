// Teacher item term (see teacher_item_term.h).
#include "model/teacher_item_term.h"

namespace grec::model {

TeacherItemTermImpl::TeacherItemTermImpl(const torch::Tensor& z, TeacherItemTermOptions options)
    : options_(options) {
  TORCH_CHECK(z.dim() == 2 && z.size(0) > 0 && z.size(1) > 0,
              "TeacherItemTerm: teacher embeddings must be [num_items, dz], got ", z.sizes());
  torch::Tensor padded = torch::zeros({z.size(0) + 1, z.size(1)}, torch::kFloat);
  padded.slice(0, 1).copy_(z.to(torch::kFloat));
  teacher = register_buffer("teacher", padded);
  proj = register_module("proj", torch::nn::Linear(z.size(1), options_.hidden()));
}

torch::Tensor TeacherItemTermImpl::forward(const torch::Tensor& rows) {
  torch::Tensor t = proj(teacher.index({rows})) * options_.weight();
  return t * (rows != 0).unsqueeze(-1).to(t.scalar_type());
}

torch::Tensor TeacherItemTermImpl::all_items() {
  return proj(teacher.slice(0, 1)) * options_.weight();
}

torch::Tensor TeacherItemTermImpl::fold_into(const torch::Tensor& table) {
  TORCH_CHECK(table.dim() == 2 && table.size(0) == teacher.size(0),
              "TeacherItemTerm: table of ", table.sizes(), " for ", teacher.size(0) - 1, " items");
  torch::NoGradGuard no_grad;
  torch::Tensor out = table.detach().clone();
  out.slice(0, 1).add_(all_items().to(out.scalar_type()));
  return out;
}

}  // namespace grec::model
