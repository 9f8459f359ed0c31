// HF checkpoint I/O for the causal LM: config.json + safetensors (single file or sharded with
// model.safetensors.index.json), exact HF tensor names, F32/BF16/F16, errors naming file and tensor.
#include "model/hf_io.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/error.h"
#include "core/fs.h"
#include "model/causal_lm.h"

namespace grec::model {

namespace fs = std::filesystem;
namespace st = grec::safetensors;

torch::ScalarType torch_dtype_of(st::Dtype dtype, const std::string& what) {
  switch (dtype) {
    case st::Dtype::kF32: return torch::kFloat;
    case st::Dtype::kF16: return torch::kHalf;
    case st::Dtype::kBF16: return torch::kBFloat16;
    case st::Dtype::kF64: return torch::kDouble;
    case st::Dtype::kI64: return torch::kLong;
    case st::Dtype::kI32: return torch::kInt;
    case st::Dtype::kI16: return torch::kShort;
    case st::Dtype::kI8: return torch::kChar;
    case st::Dtype::kU8: return torch::kByte;
    case st::Dtype::kBool: return torch::kBool;
    default: break;
  }
  user_error("{}: unsupported safetensors dtype {}", what, st::dtype_name(dtype));
}

st::Dtype safetensors_dtype_of(torch::ScalarType type) {
  switch (type) {
    case torch::kFloat: return st::Dtype::kF32;
    case torch::kHalf: return st::Dtype::kF16;
    case torch::kBFloat16: return st::Dtype::kBF16;
    case torch::kDouble: return st::Dtype::kF64;
    case torch::kLong: return st::Dtype::kI64;
    case torch::kInt: return st::Dtype::kI32;
    case torch::kShort: return st::Dtype::kI16;
    case torch::kChar: return st::Dtype::kI8;
    case torch::kByte: return st::Dtype::kU8;
    case torch::kBool: return st::Dtype::kBool;
    default: break;
  }
  GREC_CHECK(false, "no safetensors dtype for torch type {}", static_cast<int>(type));
  return st::Dtype::kF32;
}

torch::Tensor read_tensor(const st::File& file, const std::string& name) {
  const auto& info = file.info(name);
  auto type = torch_dtype_of(info.dtype, file.path() + ": tensor '" + name + "'");
  auto t = torch::empty(info.shape, torch::TensorOptions().dtype(type));
  GREC_CHECK(static_cast<uint64_t>(t.nbytes()) == info.nbytes(), "size mismatch for {}", name);
  if (info.nbytes() > 0) std::memcpy(t.data_ptr(), file.data(name), info.nbytes());
  return t;
}

void add_tensor(st::Writer& writer, const std::string& name, const torch::Tensor& tensor) {
  auto t = tensor.detach().cpu().contiguous();
  std::vector<int64_t> shape(t.sizes().begin(), t.sizes().end());
  writer.add(name, safetensors_dtype_of(t.scalar_type()), shape, t.data_ptr(), t.nbytes());
}

nlohmann::json read_config_json(const std::string& dir) {
  auto path = (fs::path(dir) / "config.json").string();
  if (!fs::exists(path)) user_error("{}: missing (not an HF checkpoint directory)", path);
  try {
    return nlohmann::json::parse(read_file(path));
  } catch (const nlohmann::json::exception& e) {
    user_error("{}: invalid JSON ({})", path, e.what());
  }
}

HfFiles list_hf_files(const std::string& dir) {
  HfFiles out;
  auto single = fs::path(dir) / "model.safetensors";
  auto index = fs::path(dir) / "model.safetensors.index.json";
  if (fs::exists(index)) {
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(read_file(index.string()));
    } catch (const nlohmann::json::exception& e) {
      user_error("{}: invalid JSON ({})", index.string(), e.what());
    }
    if (!j.contains("weight_map") || !j["weight_map"].is_object())
      user_error("{}: no \"weight_map\" object", index.string());
    std::set<std::string> seen;
    for (auto& [name, file] : j["weight_map"].items()) {
      auto path = (fs::path(dir) / file.get<std::string>()).string();
      out.weight_map[name] = path;
      if (seen.insert(path).second) out.files.push_back(path);
    }
  } else if (fs::exists(single)) {
    out.files.push_back(single.string());
  } else {
    user_error("{}: neither model.safetensors nor model.safetensors.index.json found", dir);
  }
  return out;
}

namespace {

const char* dtype_string(torch::ScalarType t) {
  switch (t) {
    case torch::kBFloat16: return "bfloat16";
    case torch::kHalf: return "float16";
    default: return "float32";
  }
}

bool ignorable(const std::string& name) {
  // Older LLaMA checkpoints store the rotary inverse frequencies as buffers.
  return name.find("rotary_emb.inv_freq") != std::string::npos;
}

}  // namespace

CausalLM load_hf(const std::string& dir, torch::Dtype dtype) {
  auto config = CausalLMConfig::from_json(read_config_json(dir));
  auto files = list_hf_files(dir);
  CausalLM model(config);
  model->to(dtype);
  auto params = model->named_parameters();
  std::map<std::string, torch::Tensor> expected;
  for (auto& p : params) expected[p.key()] = p.value();
  std::set<std::string> loaded;
  torch::NoGradGuard no_grad;
  for (const auto& path : files.files) {
    auto file = st::File::read(path);
    for (const auto& name : file.names()) {
      if (!files.weight_map.empty()) {
        auto it = files.weight_map.find(name);
        if (it == files.weight_map.end() || it->second != path)
          user_error("{}: tensor '{}' is not listed for this file in model.safetensors.index.json",
                     path, name);
      }
      if (ignorable(name)) continue;
      auto it = expected.find(name);
      if (it == expected.end()) {
        // A tied checkpoint may still carry lm_head.weight (a copy of the embeddings).
        if (name == "lm_head.weight" && config.tie_word_embeddings) continue;
        user_error("{}: unexpected tensor '{}' for {}", path, name, config.architecture);
      }
      if (!loaded.insert(name).second) user_error("{}: tensor '{}' appears twice", path, name);
      const auto& info = file.info(name);
      auto& target = it->second;
      std::vector<int64_t> want(target.sizes().begin(), target.sizes().end());
      if (info.shape != want)
        user_error("{}: tensor '{}' has shape [{}] but the config needs [{}]", path, name,
                   fmt::join(info.shape, ", "), fmt::join(want, ", "));
      target.copy_(read_tensor(file, name));
    }
  }
  for (const auto& kv : files.weight_map)
    if (!loaded.count(kv.first) && !ignorable(kv.first) &&
        !(kv.first == "lm_head.weight" && config.tie_word_embeddings))
      user_error("{}: tensor '{}' listed in the index is missing", kv.second, kv.first);
  for (const auto& kv : expected)
    if (!loaded.count(kv.first))
      user_error("{}: missing tensor '{}' (not found in {})", dir, kv.first,
                 files.files.size() == 1 ? files.files[0] : std::string("any shard"));
  model->mutable_config().torch_dtype = dtype_string(dtype);
  return model;
}

void save_hf(CausalLM& model, const std::string& dir) { save_hf(model, dir, 0); }

void save_hf(CausalLM& model, const std::string& dir, int64_t max_shard_bytes) {
  if (max_shard_bytes <= 0) max_shard_bytes = int64_t{5} << 30;
  make_dirs(dir);
  auto params = model->named_parameters();
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  torch::ScalarType type = torch::kFloat;
  for (auto& p : params) {
    if (p.key().find("lora_") != std::string::npos)
      GREC_CHECK(false, "save_hf: the model has unmerged LoRA adapters ({}); call merge_lora first",
                 p.key());
    tensors.emplace_back(p.key(), p.value());
    type = p.value().scalar_type();
  }
  // Shards of at most max_shard_bytes each (a single larger tensor gets its own shard).
  std::vector<std::vector<size_t>> shards(1);
  int64_t current = 0, total = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    int64_t nb = tensors[i].second.nbytes();
    total += nb;
    if (current > 0 && current + nb > max_shard_bytes) {
      shards.emplace_back();
      current = 0;
    }
    shards.back().push_back(i);
    current += nb;
  }
  // Remove stale files of a previous layout so a reader never mixes them.
  std::error_code ec;
  fs::remove(fs::path(dir) / "model.safetensors.index.json", ec);
  fs::remove(fs::path(dir) / "model.safetensors", ec);
  nlohmann::json weight_map = nlohmann::json::object();
  for (size_t s = 0; s < shards.size(); ++s) {
    std::string name = shards.size() == 1
                           ? std::string("model.safetensors")
                           : fmt::format("model-{:05d}-of-{:05d}.safetensors", s + 1, shards.size());
    st::Writer writer;
    writer.set_metadata("format", "pt");
    for (auto i : shards[s]) {
      add_tensor(writer, tensors[i].first, tensors[i].second);
      weight_map[tensors[i].first] = name;
    }
    writer.write((fs::path(dir) / name).string());
  }
  if (shards.size() > 1) {
    nlohmann::json index;
    index["metadata"] = {{"total_size", total}};
    index["weight_map"] = weight_map;
    write_file_atomic((fs::path(dir) / "model.safetensors.index.json").string(), index.dump(2) + "\n");
  }
  auto cfg = model->config();
  cfg.torch_dtype = dtype_string(type);
  cfg.vocab_size = model->model->embed_tokens->weight.size(0);
  model->mutable_config().vocab_size = cfg.vocab_size;
  write_file_atomic((fs::path(dir) / "config.json").string(), cfg.to_json().dump(2) + "\n");
}

}  // namespace grec::model
