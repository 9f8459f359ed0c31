// The trainer loop (train/trainer.h).
#include "train/trainer.h"

#include <chrono>
#include <cmath>
#include <limits>

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

TrainResult Trainer::fit(TrainTask& task) {
  const auto wall_start = Clock::now();
  const int rank = comm_.rank(), world = comm_.world();
  const bool root = rank == 0;
  const TrainOptions& o = options_;
  torch::nn::Module& module = task.module();
  module.train();
  const precision::Precision prec = precision::parse(o.precision, stage_ + ".train.precision");

  dist::GradSyncOptions sync_options;
  sync_options.first_bucket_bytes = static_cast<int64_t>(o.first_bucket_mb * (1 << 20));
  sync_options.bucket_bytes = static_cast<int64_t>(o.bucket_mb * (1 << 20));
  sync_options.nonfinite = o.nonfinite;
  sync_options.may_be_unused = task.may_be_unused();
  dist::GradSync sync(module, comm_, sync_options);
  sync.broadcast_state();
  sync.check_consistency(config_hash_, task.dataset_fingerprint());

  auto optimizer = make_optimizer(module, o);
  std::vector<torch::Tensor> params;
  for (const auto& group : optimizer->param_groups()) {
    for (const auto& p : group.params()) params.push_back(p);
  }
  dist::DistributedSampler sampler(task.num_samples(), o.global_batch_size, rank, world,
                                   static_cast<uint64_t>(o.seed));
  if (o.group_by_length) sampler.set_length_grouping(task.sample_lengths());
  const int64_t steps_per_epoch = sampler.steps_per_epoch();
  if (steps_per_epoch == 0) user_error("stage '{}' has no training samples", stage_);
  const int64_t total_steps = o.max_steps > 0 ? o.max_steps : o.epochs * steps_per_epoch;
  const LrSchedule schedule(o, total_steps);

  TrainerState st;
  st.config_hash = config_hash_;
  st.world = world;
  st.global_batch_size = o.global_batch_size;
  st.total_steps = total_steps;
  st.best_metric = -std::numeric_limits<double>::infinity();
  // One stream per rank for dropout and the like; per-sample randomness uses sample_seed.
  torch::manual_seed(dist::sample_seed(static_cast<uint64_t>(o.seed), -1, rank));

  // Resume: rank 0 picks the folder, every rank reads it (checkpoints live on a shared disk).
  const std::string resume_dir = from_rank0(
      comm_, root && o.resume == "auto" ? find_resume_checkpoint(checkpoint_root_).value_or("")
                                        : std::string());
  if (!resume_dir.empty()) {
    const TrainerState saved = read_trainer_state(resume_dir);
    if (saved.global_batch_size != o.global_batch_size) {
      user_error("checkpoint '{}' was trained with {}.train.global_batch_size {}, the config says "
                 "{}; restore the value or set {}.train.resume: never",
                 resume_dir, stage_, saved.global_batch_size, o.global_batch_size, stage_);
    }
    if (saved.config_hash != config_hash_) {
      GREC_WARN("checkpoint '{}' was written under a different config (hash {} vs {}); resuming "
                "anyway", resume_dir, saved.config_hash, config_hash_);
    }
    load_checkpoint_model(resume_dir, module);
    load_checkpoint_optimizer(resume_dir, *optimizer);
    if (rank < saved.world) {
      const RankRng rng = read_rank_rng(resume_dir, rank);
      GREC_CHECK(rng.step == saved.step, "RNG file of rank {} in '{}' is for step {}, not {}",
                 rank, resume_dir, rng.step, saved.step);
      if (saved.world == world) rng.restore();
    }
    if (saved.world != world) {
      GREC_WARN("resuming '{}' written by {} ranks on {} ranks: the sample order is re-derived "
                "from (epoch {}, step {}), per-rank random streams start afresh, so the run is "
                "not bit-identical to an uninterrupted one", resume_dir, saved.world, world,
                saved.epoch, saved.step_in_epoch);
    }
    st.step = saved.step;
    st.epoch = saved.epoch;
    st.step_in_epoch = saved.step_in_epoch;
    st.best_step = saved.best_step;
    st.best_metric = saved.best_step >= 0 ? saved.best_metric : st.best_metric;
    st.best_valid = saved.best_valid;
    st.evals_since_best = saved.evals_since_best;
    st.skipped_steps = saved.skipped_steps;
    st.finished = saved.finished;
    GREC_INFO("{}: resuming from '{}' (step {}, epoch {})", stage_, resume_dir, st.step,
              st.epoch);
  }

  TrainResult result;
  const auto save = [&]() {
    const auto t_save = Clock::now();
    const std::string tmp = checkpoint_temp_dir(checkpoint_root_, st.step);
    if (root) begin_checkpoint(checkpoint_root_, st.step);
    comm_.barrier();
    write_rank_rng(tmp, rank, RankRng::capture(st));
    if (root) write_shared_files(tmp, module, *optimizer, schedule.state(st.step), st);
    comm_.barrier();
    if (root) {
      commit_checkpoint(checkpoint_root_, st.step);
      prune_checkpoints(checkpoint_root_, o.keep_last, st.best_step);
    }
    comm_.barrier();
    result.checkpoint_s += seconds_since(t_save);
  };

  const auto evaluate = [&]() -> bool {
    const auto t_eval = Clock::now();
    module.eval();
    nlohmann::json res;
    {
      torch::NoGradGuard no_grad;
      res = task.evaluate("valid");
    }
    module.train();
    const std::string key = task.selection_metric();
    if (!res.contains(key) || !res[key].is_number()) {
      user_error("stage '{}': the validation results have no number '{}' to select the best "
                 "model by (got {})", stage_, key, res.dump());
    }
    const double value = res[key].get<double>();
    const bool improved = st.best_step < 0 || value > st.best_metric;
    if (improved) {
      st.best_metric = value;
      st.best_step = st.step;
      st.best_valid = res;
      st.evals_since_best = 0;
    } else {
      ++st.evals_since_best;
    }
    metrics_.write({{"stage", stage_}, {"step", st.step}, {"epoch", st.epoch},
                    {"event", "eval"}, {"valid", res}, {"best_step", st.best_step}});
    GREC_INFO("{} step {}: valid {} = {:.5f}{}", stage_, st.step, key, value,
              improved ? " (best)" : fmt::format(" (best {:.5f} at step {})", st.best_metric,
                                                 st.best_step));
    result.eval_s += seconds_since(t_eval);
    return improved;
  };

  dist::StopSignal stop;
  Progress progress(stage_ + " train", std::max<int64_t>(total_steps - st.step, 0),
                    ProgressOptions{root, 10.0, "step"});
  Interval iv;
  double comm_mark = sync.comm_seconds();
  int64_t last_saved = resume_dir.empty() ? -1 : st.step;
  bool early_stop = false;

  while (!st.finished && st.step < total_steps) {
    const auto t_step = Clock::now();
    Batch batch;
    batch.epoch = st.epoch;
    batch.step = st.step + 1;
    comm_.set_step(batch.step);
    const std::vector<int64_t> local = sampler.local_batch(st.epoch, st.step_in_epoch);
    const int64_t global_count = sampler.global_count(st.epoch, st.step_in_epoch);
    iv.data_s += seconds_since(t_step);

    schedule.apply(*optimizer, st.step);
    for (auto& p : params) p.mutable_grad() = torch::Tensor();
    for (auto& mb : micro_batches(local, o.micro_batch_size)) {
      batch.indices = std::move(mb);
      const auto t_data = Clock::now();
      task.prepare(batch);
      iv.data_s += seconds_since(t_data);
      torch::Tensor loss;
      {
        precision::Autocast autocast(prec, comm_.device());
        loss = task.loss_sum(batch);
      }
      (loss.to(torch::kFloat) / static_cast<double>(global_count)).backward();
      iv.loss_sum += loss.detach().to(torch::kDouble).item<double>();
    }
    const bool finite = sync.reduce(dist::ReduceOp::kSum);
    if (finite) {
      // Clipping folded into the fused optimizer's pass when it is one (no extra pass).
      const double norm = sync.grad_norm();
      const double coef = dist::clip_coefficient(norm, o.grad_clip);
      if (coef != 1.0) {
        if (auto* fused = dynamic_cast<FusedAdamW*>(optimizer.get())) {
          fused->scale_next_step_grads(coef);
        } else {
          sync.scale_grads(coef);
        }
      }
      iv.grad_norm_sum += norm;
      ++iv.finite_steps;
      optimizer->step();
    } else {
      ++st.skipped_steps;
    }
    iv.count += static_cast<double>(global_count);
    ++iv.steps;
    ++st.step;
    if (++st.step_in_epoch == steps_per_epoch) {
      ++st.epoch;
      st.step_in_epoch = 0;
    }
    const bool epoch_end = st.step_in_epoch == 0;
    const bool last = st.step == total_steps;

    if (st.step % o.log_every == 0 || last) {
      torch::Tensor l = torch::tensor({iv.loss_sum}, torch::kDouble).to(comm_.device());
      comm_.allreduce(l, dist::ReduceOp::kSum);
      const double wall = std::max(seconds_since(iv.start), 1e-9);
      const double comm_s = sync.comm_seconds() - comm_mark;
      const double loss = l.cpu().item<double>() / std::max(iv.count, 1.0);
      metrics_.write({{"stage", stage_},
                      {"step", st.step},
                      {"epoch", st.epoch},
                      {"loss", loss},
                      {"lr", schedule.lr(st.step - 1)},
                      {"grad_norm", iv.finite_steps ? iv.grad_norm_sum / iv.finite_steps
                                                    : std::nan("")},
                      {"samples_per_s", iv.count / wall},
                      {"time_data", iv.data_s / wall},
                      {"time_comm", comm_s / wall},
                      {"time_compute", std::max(0.0, 1.0 - (iv.data_s + comm_s) / wall)},
                      {"skipped_steps", st.skipped_steps}});
      progress.advance(0, fmt::format("loss {:.4f}", loss));
      iv = Interval();
      comm_mark = sync.comm_seconds();
    }
    progress.advance(1);

    bool improved = false;
    if ((o.eval_every > 0 && st.step % o.eval_every == 0) || (o.eval_every == 0 && epoch_end) ||
        last) {
      improved = evaluate();
      early_stop = o.early_stop_patience > 0 && st.evals_since_best >= o.early_stop_patience;
      if (early_stop) {
        GREC_INFO("{}: early stop at step {} ({} validations without improvement)", stage_,
                  st.step, st.evals_since_best);
      }
    }
    const bool stopping = stop.agreed(comm_);
    st.finished = last || early_stop;
    if (improved || stopping || st.finished ||
        (o.checkpoint_every > 0 && st.step % o.checkpoint_every == 0)) {
      save();
      last_saved = st.step;
    }
    if (stopping) {
      progress.finish("stopped");
      throw StopRequested(fmt::format("stage '{}' stopped by signal {} at step {}; checkpoint "
                                      "'{}' written", stage_, stop.signal_number(), st.step,
                                      checkpoint_dir(checkpoint_root_, st.step)));
    }
    if (early_stop) break;
  }
  progress.finish();
  if (!st.finished || last_saved != st.step) {
    // Resumed from a checkpoint that predates `finished` (e.g. max_steps lowered).
    st.finished = true;
    save();
  }

  if (st.best_step >= 0 && st.best_step != st.step) {
    const std::string best = checkpoint_dir(checkpoint_root_, st.best_step);
    GREC_INFO("{}: loading the best weights (step {}) from '{}'", stage_, st.best_step, best);
    load_checkpoint_model(best, module);
  }
  result.steps = st.step;
  result.best_step = st.best_step;
  result.best_valid = st.best_valid;
  result.stopped = early_stop || st.step < total_steps;
  result.wall_s = seconds_since(wall_start);
  return result;
}

}  // namespace grec::train
