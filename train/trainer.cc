// The trainer loop (train/trainer.h).
#include "train/trainer.h"

#include <chrono>
#include <cmath>
#include <limits>
#include <memory>

#include <fmt/ranges.h>

#include "core/error.h"
#include "core/log.h"
#include "core/progress.h"
#include "dist/communicator.h"
#include "dist/grad_sync.h"
#include "dist/sampler.h"
#include "dist/signals.h"
#include "train/checkpoint.h"
#include "train/fused_adamw.h"
#include "train/optim.h"
#include "train/precision.h"

namespace grec::train {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// Rank 0's string on every rank, through the trainer's communicator (so a world-of-one
// communicator works without touching MPI_COMM_WORLD).
std::string from_rank0(dist::Communicator& comm, const std::string& value) {
  if (comm.world() == 1) return value;
  return comm.allgather_bytes(value).at(0);
}

std::vector<std::vector<int64_t>> micro_batches(const std::vector<int64_t>& local, int64_t size) {
  if (local.empty() || size <= 0) return {local};
  std::vector<std::vector<int64_t>> out;
  for (size_t i = 0; i < local.size(); i += static_cast<size_t>(size)) {
    const size_t end = std::min(local.size(), i + static_cast<size_t>(size));
    out.emplace_back(local.begin() + static_cast<std::ptrdiff_t>(i),
                     local.begin() + static_cast<std::ptrdiff_t>(end));
  }
  return out;
}

// Sums over a log interval.
struct Interval {
  double loss_sum = 0, count = 0, grad_norm_sum = 0, data_s = 0, comm_s = 0;
  int64_t steps = 0, finite_steps = 0;
  Clock::time_point start = Clock::now();
};

}  // namespace

Trainer::Trainer(TrainOptions options, std::string stage, RunDir run, dist::Communicator& comm,
                 MetricsWriter& metrics, std::string config_hash)
    : options_(std::move(options)),
      stage_(std::move(stage)),
      run_(std::move(run)),
      comm_(comm),
      metrics_(metrics),
      config_hash_(std::move(config_hash)),
      checkpoint_root_(run_.checkpoints(stage_)) {}

namespace {

// One call of Trainer::fit: the state that lives for the whole loop, and the loop cut into the
// steps a reader follows — set up, resume, then per optimizer step: take the batch, forward and
// backward its micro-batches, reduce and step, log, validate, checkpoint.
class FitRun {
 public:
  FitRun(const TrainOptions& o, const std::string& stage, const std::string& checkpoint_root,
         const std::string& config_hash, dist::Communicator& comm, MetricsWriter& metrics,
         TrainTask& task)
      : o_(o),
        stage_(stage),
        checkpoint_root_(checkpoint_root),
        config_hash_(config_hash),
        comm_(comm),
        metrics_(metrics),
        task_(task),
        module_(task.module()),
        root_(comm.rank() == 0),
        prec_(precision::parse(o.precision, stage + ".train.precision")),
        sync_(module_, comm, sync_options(o, task)),
        optimizer_(make_optimizer(module_, o)),
        sampler_(task.num_samples(), o.global_batch_size, comm.rank(), comm.world(),
                 static_cast<uint64_t>(o.seed)),
        steps_per_epoch_(init_sampler()),
        total_steps_(o.max_steps > 0 ? o.max_steps : o.epochs * steps_per_epoch_),
        schedule_(o, total_steps_) {
    module_.train();
    sync_.broadcast_state();
    sync_.check_consistency(config_hash_, task.dataset_fingerprint());
    for (const auto& group : optimizer_->param_groups()) {
      for (const auto& p : group.params()) params_.push_back(p);
    }
    st_.config_hash = config_hash_;
    st_.world = comm.world();
    st_.global_batch_size = o.global_batch_size;
    st_.total_steps = total_steps_;
    st_.best_metric = -std::numeric_limits<double>::infinity();
    // One stream per rank for dropout and the like; per-sample randomness uses sample_seed.
    torch::manual_seed(dist::sample_seed(static_cast<uint64_t>(o.seed), -1, comm.rank()));
  }

  TrainResult run() {
    const auto wall_start = Clock::now();
    wall_start_ = wall_start;
    const bool resumed = resume();
    Progress progress(stage_ + " train", std::max<int64_t>(total_steps_ - st_.step, 0),
                      ProgressOptions{root_, 10.0, "step"});
    int64_t last_saved = resumed ? st_.step : -1;
    bool early_stop = false;
    dist::StopSignal stop;
    comm_mark_ = sync_.comm_seconds();
    while (!st_.finished && st_.step < total_steps_) {
      train_step();
      const bool epoch_end = st_.step_in_epoch == 0;
      const bool last = st_.step == total_steps_;
      if (st_.step % o_.log_every == 0 || last) log_interval(progress);
      progress.advance(1);

      bool improved = false;
      if ((o_.eval_every > 0 && st_.step % o_.eval_every == 0) ||
          (o_.eval_every == 0 && epoch_end) || last) {
        improved = validate();
        early_stop = o_.early_stop_patience > 0 && st_.evals_since_best >= o_.early_stop_patience;
        if (early_stop) {
          GREC_INFO("{}: early stop at step {} ({} validations without improvement)", stage_,
                    st_.step, st_.evals_since_best);
        }
      }
      const bool stopping = stop.agreed(comm_);
      st_.finished = last || early_stop;
      if (improved || stopping || st_.finished ||
          (o_.checkpoint_every > 0 && st_.step % o_.checkpoint_every == 0)) {
        save();
        last_saved = st_.step;
      }
      if (stopping) {
        progress.finish("stopped");
        throw StopRequested(fmt::format("stage '{}' stopped by signal {} at step {}; checkpoint "
                                        "'{}' written", stage_, stop.signal_number(), st_.step,
                                        checkpoint_dir(checkpoint_root_, st_.step)));
      }
      if (early_stop) break;
    }
    progress.finish();
    if (!st_.finished || last_saved != st_.step) {
      // Resumed from a checkpoint that predates `finished` (e.g. max_steps lowered).
      st_.finished = true;
      save();
    }
    load_best();
    result_.steps = st_.step;
    result_.best_step = st_.best_step;
    result_.best_valid = st_.best_valid;
    result_.stopped = early_stop || st_.step < total_steps_;
    result_.wall_s = seconds_since(wall_start);
    return result_;
  }

 private:
  static dist::GradSyncOptions sync_options(const TrainOptions& o, const TrainTask& task) {
    dist::GradSyncOptions s;
    s.first_bucket_bytes = static_cast<int64_t>(o.first_bucket_mb * (1 << 20));
    s.bucket_bytes = static_cast<int64_t>(o.bucket_mb * (1 << 20));
    s.nonfinite = o.nonfinite;
    s.may_be_unused = task.may_be_unused();
    return s;
  }

  int64_t init_sampler() {
    if (o_.group_by_length) sampler_.set_length_grouping(task_.sample_lengths());
    const int64_t n = sampler_.steps_per_epoch();
    if (n == 0) user_error("stage '{}' has no training samples", stage_);
    return n;
  }

  // Resume (resume: auto) from the latest COMPLETE checkpoint: rank 0 picks the folder, every
  // rank reads it (checkpoints live on a shared disk). Returns whether it resumed.
  bool resume() {
    const std::string dir = from_rank0(
        comm_, root_ && o_.resume == "auto"
                   ? find_resume_checkpoint(checkpoint_root_).value_or("")
                   : std::string());
    if (dir.empty()) return false;
    const TrainerState saved = read_trainer_state(dir);
    if (saved.global_batch_size != o_.global_batch_size) {
      user_error("checkpoint '{}' was trained with {}.train.global_batch_size {}, the config says "
                 "{}; restore the value or set {}.train.resume: never",
                 dir, stage_, saved.global_batch_size, o_.global_batch_size, stage_);
    }
    if (saved.config_hash != config_hash_) {
      GREC_WARN("checkpoint '{}' was written under a different config (hash {} vs {}); resuming "
                "anyway", dir, saved.config_hash, config_hash_);
    }
    const std::vector<std::string> changed =
        schedule_differences(read_schedule_state(dir), schedule_.state(saved.step));
    if (!changed.empty()) {
      GREC_WARN("checkpoint '{}' was trained on another lr schedule ({} differ); training goes "
                "on along the config's schedule from step {}", dir, fmt::join(changed, ", "),
                saved.step);
    }
    load_checkpoint_model(dir, module_);
    load_checkpoint_optimizer(dir, *optimizer_);
    const int rank = comm_.rank(), world = comm_.world();
    if (rank < saved.world) {
      const RankRng rng = read_rank_rng(dir, rank);
      GREC_CHECK(rng.step == saved.step, "RNG file of rank {} in '{}' is for step {}, not {}",
                 rank, dir, rng.step, saved.step);
      if (saved.world == world) rng.restore();
    }
    if (saved.world != world) {
      GREC_WARN("resuming '{}' written by {} ranks on {} ranks: the sample order is re-derived "
                "from (epoch {}, step {}), per-rank random streams start afresh, so the run is "
                "not bit-identical to an uninterrupted one", dir, saved.world, world,
                saved.epoch, saved.step_in_epoch);
    }
    const double fresh_best = st_.best_metric;
    st_.step = saved.step;
    st_.epoch = saved.epoch;
    st_.step_in_epoch = saved.step_in_epoch;
    st_.best_step = saved.best_step;
    st_.best_metric = saved.best_step >= 0 ? saved.best_metric : fresh_best;
    st_.best_valid = saved.best_valid;
    st_.evals_since_best = saved.evals_since_best;
    st_.skipped_steps = saved.skipped_steps;
    st_.finished = saved.finished;
    GREC_INFO("{}: resuming from '{}' (step {}, epoch {})", stage_, dir, st_.step, st_.epoch);
    return true;
  }

  // One optimizer step: this rank's share of the global batch, in micro-batches.
  void train_step() {
    const auto t_step = Clock::now();
    Batch batch;
    batch.epoch = st_.epoch;
    batch.step = st_.step + 1;
    comm_.set_step(batch.step);
    const std::vector<int64_t> local = sampler_.local_batch(st_.epoch, st_.step_in_epoch);
    const int64_t global_count = sampler_.global_count(st_.epoch, st_.step_in_epoch);
    iv_.data_s += seconds_since(t_step);

    schedule_.apply(*optimizer_, st_.step);
    for (auto& p : params_) p.mutable_grad() = torch::Tensor();
    for (auto& mb : micro_batches(local, o_.micro_batch_size)) {
      batch.indices = std::move(mb);
      forward_backward(batch, global_count);
    }
    reduce_and_step();
    iv_.count += static_cast<double>(global_count);
    ++iv_.steps;
    ++st_.step;
    if (++st_.step_in_epoch == steps_per_epoch_) {
      ++st_.epoch;
      st_.step_in_epoch = 0;
    }
  }

  // loss_sum / global count, so that any split of the batch over ranks and micro-batches
  // accumulates the single-process gradient.
  void forward_backward(const Batch& batch, int64_t global_count) {
    const auto t_data = Clock::now();
    task_.prepare(batch);
    iv_.data_s += seconds_since(t_data);
    torch::Tensor loss;
    {
      precision::Autocast autocast(prec_, comm_.device());
      loss = task_.loss_sum(batch);
    }
    (loss.to(torch::kFloat) / static_cast<double>(global_count)).backward();
    iv_.loss_sum += loss.detach().to(torch::kDouble).item<double>();
  }

  // Sum the gradients over ranks; a non-finite one skips the step (counted), else clip the global
  // norm and step.
  void reduce_and_step() {
    if (!sync_.reduce(dist::ReduceOp::kSum)) {
      ++st_.skipped_steps;
      return;
    }
    const double norm = sync_.grad_norm();
    const double coef = dist::clip_coefficient(norm, o_.grad_clip);
    if (coef != 1.0) {
      // Folded into the fused optimizer's pass when it is one (no extra pass over the gradients).
      if (auto* fused = dynamic_cast<FusedAdamW*>(optimizer_.get())) {
        fused->scale_next_step_grads(coef);
      } else {
        sync_.scale_grads(coef);
      }
    }
    iv_.grad_norm_sum += norm;
    ++iv_.finite_steps;
    optimizer_->step();
  }

  // One metrics.jsonl record for the interval since the last one (loss averaged over ranks).
  void log_interval(Progress& progress) {
    torch::Tensor l = torch::tensor({iv_.loss_sum}, torch::kDouble).to(comm_.device());
    comm_.allreduce(l, dist::ReduceOp::kSum);
    const double wall = std::max(seconds_since(iv_.start), 1e-9);
    const double comm_s = sync_.comm_seconds() - comm_mark_;
    const double loss = l.cpu().item<double>() / std::max(iv_.count, 1.0);
    metrics_.write({{"stage", stage_},
                    {"step", st_.step},
                    {"epoch", st_.epoch},
                    {"loss", loss},
                    {"lr", schedule_.lr(st_.step - 1)},
                    {"grad_norm", iv_.finite_steps ? iv_.grad_norm_sum / iv_.finite_steps
                                                   : std::nan("")},
                    {"samples_per_s", iv_.count / wall},
                    {"time_data", iv_.data_s / wall},
                    {"time_comm", comm_s / wall},
                    {"time_compute", std::max(0.0, 1.0 - (iv_.data_s + comm_s) / wall)},
                    {"skipped_steps", st_.skipped_steps}});
    progress.advance(0, fmt::format("loss {:.4f}", loss));
    iv_ = Interval();
    comm_mark_ = sync_.comm_seconds();
  }

  // Collective: the task's validation; tracks the best. Returns whether this one is the best.
  bool validate() {
    const auto t_eval = Clock::now();
    module_.eval();
    nlohmann::json res;
    {
      torch::NoGradGuard no_grad;
      res = task_.evaluate("valid");
    }
    module_.train();
    const std::string key = task_.selection_metric();
    if (!res.contains(key) || !res[key].is_number()) {
      user_error("stage '{}': the validation results have no number '{}' to select the best "
                 "model by (got {})", stage_, key, res.dump());
    }
    const double value = res[key].get<double>();
    const bool improved = st_.best_step < 0 || value > st_.best_metric;
    if (improved) {
      st_.best_metric = value;
      st_.best_step = st_.step;
      st_.best_valid = res;
      st_.evals_since_best = 0;
    } else {
      ++st_.evals_since_best;
    }
    // Learning-curve coordinates: samples trained on so far and wall time since this fit
    // started (this process; a resumed fit counts from its restart), validation included.
    const int64_t n = task_.num_samples();
    const int64_t seen =
        st_.epoch * n + std::min<int64_t>(st_.step_in_epoch * o_.global_batch_size, n);
    metrics_.write({{"stage", stage_}, {"step", st_.step}, {"epoch", st_.epoch},
                    {"event", "eval"}, {"valid", res}, {"best_step", st_.best_step},
                    {"samples_seen", seen}, {"elapsed_s", seconds_since(wall_start_)},
                    {"eval_s", result_.eval_s + seconds_since(t_eval)}});
    GREC_INFO("{} step {}: valid {} = {:.5f}{}", stage_, st_.step, key, value,
              improved ? " (best)" : fmt::format(" (best {:.5f} at step {})", st_.best_metric,
                                                 st_.best_step));
    result_.eval_s += seconds_since(t_eval);
    return improved;
  }

  // Collective: every rank writes its RNG file, rank 0 the shared files, then rank 0 commits.
  void save() {
    const auto t_save = Clock::now();
    const std::string tmp = checkpoint_temp_dir(checkpoint_root_, st_.step);
    if (root_) begin_checkpoint(checkpoint_root_, st_.step);
    comm_.barrier();
    write_rank_rng(tmp, comm_.rank(), RankRng::capture(st_));
    if (root_) write_shared_files(tmp, module_, *optimizer_, schedule_.state(st_.step), st_);
    comm_.barrier();
    if (root_) {
      commit_checkpoint(checkpoint_root_, st_.step);
      prune_checkpoints(checkpoint_root_, o_.keep_last, st_.best_step);
    }
    comm_.barrier();
    result_.checkpoint_s += seconds_since(t_save);
  }

  void load_best() {
    if (st_.best_step < 0 || st_.best_step == st_.step) return;
    const std::string best = checkpoint_dir(checkpoint_root_, st_.best_step);
    GREC_INFO("{}: loading the best weights (step {}) from '{}'", stage_, st_.best_step, best);
    load_checkpoint_model(best, module_);
  }

  const TrainOptions& o_;
  const std::string& stage_;
  const std::string& checkpoint_root_;
  const std::string& config_hash_;
  dist::Communicator& comm_;
  MetricsWriter& metrics_;
  TrainTask& task_;
  torch::nn::Module& module_;
  const bool root_;
  const precision::Precision prec_;
  dist::GradSync sync_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  std::vector<torch::Tensor> params_;
  dist::DistributedSampler sampler_;
  const int64_t steps_per_epoch_;
  Clock::time_point wall_start_ = Clock::now();
  const int64_t total_steps_;
  const LrSchedule schedule_;
  TrainerState st_;
  TrainResult result_;
  Interval iv_;
  double comm_mark_ = 0;
};

}  // namespace

TrainResult Trainer::fit(TrainTask& task) {
  FitRun run(options_, stage_, checkpoint_root_, config_hash_, comm_, metrics_, task);
  return run.run();
}

}  // namespace grec::train
