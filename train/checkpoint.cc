// Checkpoint folders: writing, committing, pruning, validating, loading (train/checkpoint.h).
#include "train/checkpoint.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>

#include "core/error.h"
#include "core/fs.h"
#include "core/hash.h"
#include "core/log.h"
#include "train/optim.h"
#include "train/tensor_io.h"

namespace grec::train {

namespace fs = std::filesystem;

namespace {

constexpr char kRngMagic[8] = {'G', 'R', 'E', 'C', 'R', 'N', 'G', '1'};
constexpr const char* kComplete = "COMPLETE";

// step_%08d -> step; -1 for anything else.
int64_t parse_step_dir(const std::string& name) {
  if (name.size() != 13 || name.rfind("step_", 0) != 0) return -1;
  int64_t v = 0;
  for (size_t i = 5; i < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9') return -1;
    v = v * 10 + (name[i] - '0');
  }
  return v;
}

void append_i64(std::string& out, int64_t v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}

int64_t take_i64(const std::string& in, size_t* pos, const std::string& path) {
  if (*pos + sizeof(int64_t) > in.size()) user_error("'{}' is truncated", path);
  int64_t v;
  std::memcpy(&v, in.data() + *pos, sizeof v);
  *pos += sizeof v;
  return v;
}

nlohmann::json read_json(const std::string& path) {
  try {
    return nlohmann::json::parse(read_file(path));
  } catch (const nlohmann::json::exception& e) {
    user_error("'{}' is not valid JSON: {}", path, e.what());
  }
}

}  // namespace

nlohmann::json TrainerState::to_json() const {
  return {{"step", step},
          {"epoch", epoch},
          {"step_in_epoch", step_in_epoch},
          {"best_step", best_step},
          // No validation yet: -inf, which JSON cannot hold; written as null.
          {"best_metric", std::isfinite(best_metric) ? nlohmann::json(best_metric) : nullptr},
          {"best_valid", best_valid},
          {"evals_since_best", evals_since_best},
          {"skipped_steps", skipped_steps},
          {"config_hash", config_hash},
          {"world", world},
          {"global_batch_size", global_batch_size},
          {"total_steps", total_steps},
          {"finished", finished}};
}

TrainerState TrainerState::from_json(const nlohmann::json& j) {
  TrainerState s;
  s.step = j.at("step").get<int64_t>();
  s.epoch = j.at("epoch").get<int64_t>();
  s.step_in_epoch = j.at("step_in_epoch").get<int64_t>();
  s.best_step = j.at("best_step").get<int64_t>();
  const auto& best = j.at("best_metric");
  s.best_metric = best.is_null() ? -std::numeric_limits<double>::infinity() : best.get<double>();
  s.best_valid = j.value("best_valid", nlohmann::json::object());
  s.evals_since_best = j.at("evals_since_best").get<int64_t>();
  s.skipped_steps = j.value("skipped_steps", int64_t{0});
  s.config_hash = j.at("config_hash").get<std::string>();
  s.world = j.at("world").get<int>();
  s.global_batch_size = j.at("global_batch_size").get<int64_t>();
  s.total_steps = j.value("total_steps", int64_t{0});
  s.finished = j.value("finished", false);
  return s;
}

RankRng RankRng::capture(const TrainerState& state) {
  RankRng r;
  r.step = state.step;
  r.epoch = state.epoch;
  r.step_in_epoch = state.step_in_epoch;
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  r.generator_state = gen.get_state();
  return r;
}

void RankRng::restore() const {
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(generator_state);
}

std::string checkpoint_dir(const std::string& root, int64_t step) {
  return fmt::format("{}/step_{:08d}", root, step);
}

std::string checkpoint_temp_dir(const std::string& root, int64_t step) {
  return fmt::format("{}/.step_{:08d}.tmp", root, step);
}

std::string rng_file(const std::string& dir, int rank) {
  return fmt::format("{}/rng_rank{}.bin", dir, rank);
}

std::string begin_checkpoint(const std::string& root, int64_t step) {
  const std::string tmp = checkpoint_temp_dir(root, step);
  std::error_code ec;
  fs::remove_all(tmp, ec);
  make_dirs(tmp);
  return tmp;
}

void write_shared_files(const std::string& dir, const torch::nn::Module& module,
                        torch::optim::Optimizer& optimizer, const nlohmann::json& scheduler,
                        const TrainerState& state) {
  save_module(dir + "/model.safetensors", module,
              {{"format", "grec-checkpoint"}, {"step", std::to_string(state.step)}});
  nlohmann::json scalars;
  const NamedTensors optim = optimizer_state(optimizer, &scalars);
  save_tensors(dir + "/optim.safetensors", optim);
  write_file_atomic(dir + "/optim.json", scalars.dump(1));
  write_file_atomic(dir + "/scheduler.json", scheduler.dump(1));
  write_file_atomic(dir + "/trainer_state.json", state.to_json().dump(1));
}

void write_rank_rng(const std::string& dir, int rank, const RankRng& rng) {
  const torch::Tensor s = rng.generator_state.contiguous();
  GREC_CHECK(s.scalar_type() == torch::kUInt8, "generator state must be uint8");
  std::string out(kRngMagic, sizeof kRngMagic);
  append_i64(out, rng.step);
  append_i64(out, rng.epoch);
  append_i64(out, rng.step_in_epoch);
  append_i64(out, s.numel());
  out.append(static_cast<const char*>(s.data_ptr()), static_cast<size_t>(s.numel()));
  write_file_atomic(rng_file(dir, rank), out);
}

RankRng read_rank_rng(const std::string& dir, int rank) {
  const std::string path = rng_file(dir, rank);
  const std::string in = read_file(path);
  if (in.size() < sizeof kRngMagic || std::memcmp(in.data(), kRngMagic, sizeof kRngMagic) != 0) {
    user_error("'{}' is not a grec RNG state file", path);
  }
  size_t pos = sizeof kRngMagic;
  RankRng r;
  r.step = take_i64(in, &pos, path);
  r.epoch = take_i64(in, &pos, path);
  r.step_in_epoch = take_i64(in, &pos, path);
  const int64_t n = take_i64(in, &pos, path);
  if (n < 0 || pos + static_cast<size_t>(n) != in.size()) {
    user_error("'{}' is truncated or corrupt ({} state bytes announced, {} present)", path, n,
               in.size() - pos);
  }
  r.generator_state = torch::empty({n}, torch::kUInt8);
  std::memcpy(r.generator_state.data_ptr(), in.data() + pos, static_cast<size_t>(n));
  return r;
}

std::string commit_checkpoint(const std::string& root, int64_t step) {
  const std::string tmp = checkpoint_temp_dir(root, step);
  const std::string dir = checkpoint_dir(root, step);
  nlohmann::json files = nlohmann::json::object();
  for (const auto& e : fs::directory_iterator(tmp)) {
    if (!e.is_regular_file()) continue;
    const std::string name = e.path().filename().string();
    files[name] = {{"size", static_cast<int64_t>(e.file_size())},
                   {"fnv1a", hex64(hash_file(e.path().string()))}};
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::rename(tmp, dir, ec);
  if (ec) user_error("cannot rename checkpoint '{}' to '{}': {}", tmp, dir, ec.message());
  write_file_atomic(dir + "/" + kComplete,
                    nlohmann::json{{"step", step}, {"files", files}}.dump(1));
  return dir;
}

std::vector<int64_t> complete_checkpoints(const std::string& root) {
  std::vector<int64_t> steps;
  std::error_code ec;
  if (!fs::is_directory(root, ec)) return steps;
  for (const auto& e : fs::directory_iterator(root)) {
    const int64_t step = parse_step_dir(e.path().filename().string());
    if (step >= 0 && fs::exists(e.path() / kComplete)) steps.push_back(step);
  }
  std::sort(steps.begin(), steps.end());
  return steps;
}

void prune_checkpoints(const std::string& root, int64_t keep_last, int64_t best_step) {
  const std::vector<int64_t> complete = complete_checkpoints(root);
  if (complete.empty()) return;
  const size_t keep = static_cast<size_t>(std::max<int64_t>(keep_last, 1));
  std::vector<int64_t> kept(complete.end() - std::min(keep, complete.size()), complete.end());
  if (best_step >= 0) kept.push_back(best_step);
  for (const auto& e : fs::directory_iterator(root)) {
    const int64_t step = parse_step_dir(e.path().filename().string());
    if (step < 0 || std::count(kept.begin(), kept.end(), step)) continue;
    const bool is_complete = std::binary_search(complete.begin(), complete.end(), step);
    // An incomplete folder newer than the last complete one may be being written right now.
    if (!is_complete && step > complete.back()) continue;
    std::error_code ec;
    fs::remove_all(e.path(), ec);
    if (ec) GREC_WARN("cannot remove old checkpoint '{}': {}", e.path().string(), ec.message());
  }
}

std::string validate_checkpoint(const std::string& dir) {
  try {
    const nlohmann::json complete = read_json(dir + "/" + kComplete);
    if (!complete.contains("files") || !complete["files"].is_object()) {
      return fmt::format("'{}/{}' lists no files", dir, kComplete);
    }
    for (const char* required : {"model.safetensors", "optim.safetensors", "optim.json",
                                 "scheduler.json", "trainer_state.json", "rng_rank0.bin"}) {
      if (!complete["files"].contains(required)) {
        return fmt::format("'{}/{}' is missing from the checkpoint", dir, required);
      }
    }
    for (auto it = complete["files"].begin(); it != complete["files"].end(); ++it) {
      const std::string path = dir + "/" + it.key();
      std::error_code ec;
      const auto size = fs::file_size(path, ec);
      if (ec) return fmt::format("'{}' is missing", path);
      if (static_cast<int64_t>(size) != it.value().at("size").get<int64_t>()) {
        return fmt::format("'{}' is truncated or corrupt: {} bytes, {} expected", path, size,
                           it.value().at("size").get<int64_t>());
      }
      if (hex64(hash_file(path)) != it.value().at("fnv1a").get<std::string>()) {
        return fmt::format("'{}' is corrupt: its hash differs from the one in {}", path,
                           kComplete);
      }
    }
    TrainerState::from_json(read_json(dir + "/trainer_state.json"));
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

std::optional<std::string> find_resume_checkpoint(const std::string& root) {
  const std::vector<int64_t> steps = complete_checkpoints(root);
  for (auto it = steps.rbegin(); it != steps.rend(); ++it) {
    const std::string dir = checkpoint_dir(root, *it);
    const std::string problem = validate_checkpoint(dir);
    if (problem.empty()) return dir;
    GREC_WARN("skipping checkpoint '{}': {}; trying the previous one", dir, problem);
  }
  return std::nullopt;
}

nlohmann::json read_schedule_state(const std::string& dir) {
  const std::string path = dir + "/scheduler.json";
  nlohmann::json j = read_json(path);
  if (!j.is_object() || !j.contains("schedule")) user_error("'{}' holds no lr schedule", path);
  return j;
}

std::vector<std::string> schedule_differences(const nlohmann::json& saved,
                                              const nlohmann::json& current) {
  std::vector<std::string> out;
  for (const auto& item : current.items()) {
    if (item.key() == "step" || item.key() == "lr") continue;
    const auto it = saved.find(item.key());
    if (it == saved.end() || *it != item.value()) {
      out.push_back(fmt::format("{} {} vs {}", item.key(),
                                it == saved.end() ? std::string("(absent)") : it->dump(),
                                item.value().dump()));
    }
  }
  return out;
}

TrainerState read_trainer_state(const std::string& dir) {
  const std::string path = dir + "/trainer_state.json";
  try {
    return TrainerState::from_json(read_json(path));
  } catch (const nlohmann::json::exception& e) {
    user_error("'{}' is incomplete: {}", path, e.what());
  }
}

void load_checkpoint_model(const std::string& dir, torch::nn::Module& module) {
  load_module(dir + "/model.safetensors", module);
}

void load_checkpoint_optimizer(const std::string& dir, torch::optim::Optimizer& optimizer) {
  const std::string path = dir + "/optim.safetensors";
  load_optimizer_state(optimizer, load_tensors(path), read_json(dir + "/optim.json"), path);
}

}  // namespace grec::train
