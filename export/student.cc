// Loading the bundle's SASRec student; see student.h.
#include "export/student.h"

#include <filesystem>
#include <set>

#include "core/error.h"
#include "core/fs.h"
#include "core/safetensors.h"
#include "model/hf_io.h"

namespace grec::bundle {

model::SASRecOptions sasrec_options_from_json(const nlohmann::json& c, const std::string& what) {
  if (!c.is_object() || c.value("architecture", "") != "SASRec") {
    user_error("{} does not describe a SASRec model (\"architecture\": \"SASRec\")", what);
  }
  try {
    return model::SASRecOptions(c.at("num_items").get<int64_t>())
        .max_len(c.at("max_len").get<int64_t>())
        .hidden(c.at("hidden").get<int64_t>())
        .blocks(c.at("blocks").get<int64_t>())
        .heads(c.at("heads").get<int64_t>())
        .dropout(c.at("dropout").get<double>())
        .ffn(c.at("ffn").get<int64_t>())
        .layernorm_eps(c.at("layernorm_eps").get<double>())
        .init(c.value("init", std::string("xavier")));
  } catch (const nlohmann::json::exception& e) {
    user_error("{}: {}", what, e.what());
  }
}

model::SASRec load_student(const std::string& dir) {
  const std::string config_path = dir + "/config.json", weights = dir + "/model.safetensors";
  for (const auto& p : {config_path, weights}) {
    if (!std::filesystem::exists(p)) user_error("{} does not exist", p);
  }
  nlohmann::json c;
  try {
    c = nlohmann::json::parse(read_file(config_path));
  } catch (const nlohmann::json::exception& e) {
    user_error("{} is not valid JSON ({})", config_path, e.what());
  }
  model::SASRec m(sasrec_options_from_json(c, config_path));
  m->to(torch::kFloat);
  const safetensors::File file = safetensors::File::read(weights);
  std::set<std::string> expected;
  torch::NoGradGuard no_grad;
  auto load = [&](const std::string& name, torch::Tensor& target) {
    expected.insert(name);
    if (!file.has(name)) user_error("{} has no tensor '{}' that the student needs", weights, name);
    torch::Tensor src = model::read_tensor(file, name);
    if (src.sizes() != target.sizes()) {
      user_error("{}: tensor '{}' has shape {} but {} needs {}", weights, name,
                 c10::str(src.sizes()), config_path, c10::str(target.sizes()));
    }
    target.copy_(src.to(target.scalar_type()));
  };
  for (auto& p : m->named_parameters()) load(p.key(), p.value());
  for (auto& b : m->named_buffers()) load(b.key(), b.value());
  for (const std::string& name : file.names()) {
    if (!expected.count(name)) user_error("{} has tensor '{}' that the student does not have", weights, name);
  }
  m->eval();
  return m;
}

}  // namespace grec::bundle
