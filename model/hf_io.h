// HF checkpoint I/O helpers for the causal LM (load_hf / save_hf are declared in model/causal_lm.h):
// torch tensors <-> core/safetensors (model/ may not depend on train/), and the list of tensor
// files of a checkpoint directory (single file or sharded through model.safetensors.index.json).
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "core/safetensors.h"

namespace grec::model {

// F32/F16/BF16 (and the integer types) -> torch; UserError for others, naming `what`.
torch::ScalarType torch_dtype_of(safetensors::Dtype dtype, const std::string& what);
safetensors::Dtype safetensors_dtype_of(torch::ScalarType type);
// One tensor of a parsed file as an owning CPU tensor.
torch::Tensor read_tensor(const safetensors::File& file, const std::string& name);
void add_tensor(safetensors::Writer& writer, const std::string& name, const torch::Tensor& tensor);
// The safetensors files of a checkpoint directory and, for sharded checkpoints, the tensor -> file
// map of the index. UserError when neither model.safetensors nor the index exists.
struct HfFiles {
  std::vector<std::string> files;                 // absolute paths
  std::map<std::string, std::string> weight_map;  // tensor name -> file (sharded only)
};
HfFiles list_hf_files(const std::string& dir);
// Reads config.json of `dir` (UserError naming the file when missing or invalid JSON).
nlohmann::json read_config_json(const std::string& dir);

}  // namespace grec::model
