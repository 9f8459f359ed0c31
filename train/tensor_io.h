// Named torch tensors <-> safetensors files (core/safetensors.h): dtype mapping (F32, F16, BF16,
// F64, I64, I32, I16, I8, U8, BOOL), bit-exact round trips, and loading into a module's
// parameters and buffers by name with errors naming the file and the tensor.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "core/safetensors.h"

namespace grec::train {

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

safetensors::Dtype to_safetensors_dtype(torch::ScalarType type);
torch::ScalarType to_torch_dtype(safetensors::Dtype dtype);

// Adds the tensors (moved to CPU, made contiguous) to a writer.
void add_tensors(safetensors::Writer& writer, const NamedTensors& tensors);
// Writes `tensors` (+ string metadata) to `path` atomically.
void save_tensors(const std::string& path, const NamedTensors& tensors,
                  const std::map<std::string, std::string>& metadata = {});
// One tensor of a parsed file as a CPU tensor owning its memory.
torch::Tensor tensor_from(const safetensors::File& file, const std::string& name);
// Every tensor of `path`, in file order.
NamedTensors load_tensors(const std::string& path);

// The module's parameters and buffers with their registered names (the trainer-native names).
NamedTensors module_state(const torch::nn::Module& module);
void save_module(const std::string& path, const torch::nn::Module& module,
                 const std::map<std::string, std::string>& metadata = {});
// Copies every parameter and buffer of `module` from `path` (no grad tracking). A missing or
// extra name, or a shape/dtype mismatch, is a UserError naming the file and the tensor.
void load_module(const std::string& path, torch::nn::Module& module);

}  // namespace grec::train
