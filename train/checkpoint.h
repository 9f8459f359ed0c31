// Training checkpoints (DESIGN.md "Run directory"):
//   <root>/step_%08d/ model.safetensors    parameters and buffers, trainer-native names
//                     optim.safetensors    every optimizer state tensor ("g0.p3.exp_avg", ...)
//                     optim.json           optimizer type, group sizes, per-parameter step counts
//                     scheduler.json       the lr schedule and its step
//                     rng_rank<r>.bin      rank r's torch CPU generator state + sampler position
//                     trainer_state.json   step, epoch, step in epoch, best, config hash, world
//                     COMPLETE             sizes and FNV-1a hashes of the files above
// The files are written into <root>/.step_%08d.tmp and the folder renamed; COMPLETE is written by
// rank 0 last (the trainer puts barriers around this), so a folder with COMPLETE is whole. On
// resume a folder whose files do not match COMPLETE (truncated, corrupt) is reported and the
// previous one used. These functions are rank-local; the trainer orders them across ranks.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

namespace grec::train {

struct TrainerState {
  int64_t step = 0;           // optimizer steps done
  int64_t epoch = 0;          // epoch of the next step
  int64_t step_in_epoch = 0;  // its index inside that epoch
  int64_t best_step = -1;
  double best_metric = 0.0;
  nlohmann::json best_valid = nlohmann::json::object();
  int64_t evals_since_best = 0;  // for early stopping
  int64_t skipped_steps = 0;     // non-finite gradients
  std::string config_hash;
  int world = 1;
  int64_t global_batch_size = 0;
  int64_t total_steps = 0;
  bool finished = false;  // training ended (last step or early stop): a rerun only loads the best

  nlohmann::json to_json() const;
  static TrainerState from_json(const nlohmann::json& j);
};

// One rank's random state: torch's default CPU generator and where its sampler stands.
struct RankRng {
  int64_t step = 0, epoch = 0, step_in_epoch = 0;
  torch::Tensor generator_state;  // uint8, from at::Generator::get_state()
  static RankRng capture(const TrainerState& state);
  void restore() const;  // into the default CPU generator
};

std::string checkpoint_dir(const std::string& root, int64_t step);
std::string checkpoint_temp_dir(const std::string& root, int64_t step);
std::string rng_file(const std::string& dir, int rank);

// Rank 0: an empty temporary folder for `step` (a stale one is removed).
std::string begin_checkpoint(const std::string& root, int64_t step);
// Rank 0: model, optimizer, scheduler and trainer state into `dir`.
void write_shared_files(const std::string& dir, const torch::nn::Module& module,
                        torch::optim::Optimizer& optimizer, const nlohmann::json& scheduler,
                        const TrainerState& state);
// Every rank: its RNG file into `dir`.
void write_rank_rng(const std::string& dir, int rank, const RankRng& rng);
RankRng read_rank_rng(const std::string& dir, int rank);
// Rank 0, after every rank wrote: rename the temporary folder to step_%08d (replacing an old one)
// and write COMPLETE. Returns the final folder.
std::string commit_checkpoint(const std::string& root, int64_t step);
// Rank 0: removes checkpoints except the `keep_last` newest complete ones and `best_step`, and
// folders without COMPLETE older than the newest complete one.
void prune_checkpoints(const std::string& root, int64_t keep_last, int64_t best_step);

// Steps of the folders that have COMPLETE, ascending.
std::vector<int64_t> complete_checkpoints(const std::string& root);
// "" when `dir` is a whole checkpoint, else what is wrong, naming the file.
std::string validate_checkpoint(const std::string& dir);
// The newest valid complete checkpoint (invalid newer ones are reported with a warning).
std::optional<std::string> find_resume_checkpoint(const std::string& root);

// The lr schedule a checkpoint was trained on (scheduler.json).
nlohmann::json read_schedule_state(const std::string& dir);
// The settings (schedule kind, base lr, warmup, total steps, ...) in which two LrSchedule::state()
// records differ; "step" and "lr" are where a schedule stands, not what it is, and are not compared.
std::vector<std::string> schedule_differences(const nlohmann::json& saved,
                                              const nlohmann::json& current);
TrainerState read_trainer_state(const std::string& dir);
void load_checkpoint_model(const std::string& dir, torch::nn::Module& module);
void load_checkpoint_optimizer(const std::string& dir, torch::optim::Optimizer& optimizer);

}  // namespace grec::train
