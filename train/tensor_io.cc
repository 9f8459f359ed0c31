// Torch adapter of the safetensors reader/writer (see train/tensor_io.h).
#include "train/tensor_io.h"

#include <cstring>
#include <set>

#include <fmt/ranges.h>

#include "core/error.h"

namespace grec::train {

namespace st = grec::safetensors;

namespace {
std::string shape_text(const std::vector<int64_t>& shape) {
  return fmt::format("[{}]", fmt::join(shape, ", "));
}
}  // namespace

st::Dtype to_safetensors_dtype(torch::ScalarType type) {
  switch (type) {
    case torch::kFloat32: return st::Dtype::kF32;
    case torch::kFloat16: return st::Dtype::kF16;
    case torch::kBFloat16: return st::Dtype::kBF16;
    case torch::kFloat64: return st::Dtype::kF64;
    case torch::kInt64: return st::Dtype::kI64;
    case torch::kInt32: return st::Dtype::kI32;
    case torch::kInt16: return st::Dtype::kI16;
    case torch::kInt8: return st::Dtype::kI8;
    case torch::kUInt8: return st::Dtype::kU8;
    case torch::kBool: return st::Dtype::kBool;
    default: break;
  }
  GREC_CHECK(false, "dtype {} has no safetensors equivalent", c10::toString(type));
  return st::Dtype::kF32;
}

torch::ScalarType to_torch_dtype(st::Dtype dtype) {
  switch (dtype) {
    case st::Dtype::kF32: return torch::kFloat32;
    case st::Dtype::kF16: return torch::kFloat16;
    case st::Dtype::kBF16: return torch::kBFloat16;
    case st::Dtype::kF64: return torch::kFloat64;
    case st::Dtype::kI64: return torch::kInt64;
    case st::Dtype::kI32: return torch::kInt32;
    case st::Dtype::kI16: return torch::kInt16;
    case st::Dtype::kI8: return torch::kInt8;
    case st::Dtype::kU8: return torch::kUInt8;
    case st::Dtype::kBool: return torch::kBool;
    default: break;
  }
  user_error("safetensors dtype {} is not supported by LibTorch", st::dtype_name(dtype));
}

void add_tensors(st::Writer& writer, const NamedTensors& tensors) {
  for (const auto& [name, t] : tensors) {
    const torch::Tensor c = t.detach().to(torch::kCPU).contiguous();
    writer.add(name, to_safetensors_dtype(c.scalar_type()), c.sizes().vec(), c.data_ptr(),
               c.numel() * c.element_size());
  }
}

void save_tensors(const std::string& path, const NamedTensors& tensors,
                  const std::map<std::string, std::string>& metadata) {
  st::Writer writer;
  add_tensors(writer, tensors);
  for (const auto& [k, v] : metadata) writer.set_metadata(k, v);
  writer.write(path);
}

torch::Tensor tensor_from(const st::File& file, const std::string& name) {
  const st::TensorInfo& info = file.info(name);
  torch::Tensor t = torch::empty(info.shape, torch::TensorOptions().dtype(to_torch_dtype(info.dtype)));
  if (info.nbytes() > 0) std::memcpy(t.data_ptr(), file.data(name), info.nbytes());
  return t;
}

NamedTensors load_tensors(const std::string& path) {
  const st::File file = st::File::read(path);
  NamedTensors out;
  for (const std::string& name : file.names()) out.emplace_back(name, tensor_from(file, name));
  return out;
}

NamedTensors module_state(const torch::nn::Module& module) {
  NamedTensors out;
  for (const auto& p : module.named_parameters(/*recurse=*/true)) out.emplace_back(p.key(), p.value());
  for (const auto& b : module.named_buffers(/*recurse=*/true)) out.emplace_back(b.key(), b.value());
  return out;
}

void save_module(const std::string& path, const torch::nn::Module& module,
                 const std::map<std::string, std::string>& metadata) {
  save_tensors(path, module_state(module), metadata);
}

void load_module(const std::string& path, torch::nn::Module& module) {
  const st::File file = st::File::read(path);
  std::set<std::string> expected;
  torch::NoGradGuard no_grad;
  for (auto& [name, target] : module_state(module)) {
    expected.insert(name);
    if (!file.has(name)) user_error("'{}' has no tensor '{}' that the model needs", path, name);
    const st::TensorInfo& info = file.info(name);
    if (info.shape != target.sizes().vec()) {
      user_error("'{}': tensor '{}' has shape {} but the model expects {}", path, name,
                 shape_text(info.shape), shape_text(target.sizes().vec()));
    }
    torch::Tensor src = tensor_from(file, name);
    if (src.scalar_type() != target.scalar_type()) {
      user_error("'{}': tensor '{}' is {} but the model expects {}", path, name,
                 c10::toString(src.scalar_type()), c10::toString(target.scalar_type()));
    }
    target.copy_(src);
  }
  for (const std::string& name : file.names()) {
    if (!expected.count(name)) user_error("'{}' has tensor '{}' that the model does not have", path, name);
  }
}

}  // namespace grec::train
