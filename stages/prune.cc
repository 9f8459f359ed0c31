// Stage `prune`: DEALRec data pruning (ALGORITHMS.md §3). Scores every per-user training sample
// (user, end) of the align mixture by its influence on the surrogate SASRec's empirical risk and
// by the effort the LLM spends on it, and keeps prune.keep of them by coverage-enhanced selection;
// align then builds its per-user tasks (seqrec, fusionseqrec, itemsearch) from the kept prefixes
// only, and the item-level tasks whole. Off while prune.keep is 0 (the default).
//
// Scoring is sharded over ranks by fixed batches of prune.influence.batch_size samples (batch b
// on rank b mod world), so a sample's scores are computed in the same batch whatever the number
// of ranks; LiSSA repeats are split over ranks the same way.
#include <chrono>
#include <cmath>
#include <set>

#include <torch/torch.h>

#include "core/error.h"
#include "core/fs.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/progress.h"
#include "data_pipeline/coverage_selection.h"
#include "data_pipeline/sequence_batches.h"
#include "dist/communicator.h"
#include "stages/align_setup.h"
#include "stages/prune_effort.h"
#include "stages/prune_kept.h"
#include "stages/prune_surrogate.h"
#include "stages/sasrec_artifact.h"
#include "stages/stage_list.h"
#include "train/influence.h"

namespace grec::stages {
namespace {

using Clock = std::chrono::steady_clock;

const std::vector<std::string>& methods() {
  static const std::vector<std::string> m = {"dealrec", "random", "influence", "effort", "ccs_only", "top"};
  return m;
}
bool needs_influence(const std::string& m) { return m == "dealrec" || m == "influence" || m == "top"; }
bool needs_effort(const std::string& m) { return m == "dealrec" || m == "effort" || m == "top"; }
bool needs_surrogate(const std::string& m) { return needs_influence(m) || m == "ccs_only"; }

void declare_prune(ConfigSchema& s) {
  s.add_float("prune.keep", 0,
              "samples to keep: a count >= 1 or a fraction < 1 of the per-user training samples "
              "(seqrec prefixes); 0 (default) = stage off, align trains on every sample");
  s.add_choice("prune.method", "dealrec", methods(),
               "dealrec: minmax(influence) + lambda minmax(effort), coverage selection; random; "
               "influence / effort: one score alone, coverage selection; ccs_only: coverage "
               "selection on the surrogate's loss; top: the highest DEALRec scores, no coverage");
  s.add_float("prune.lambda", 1.0, "weight of the effort score (DEALRec: Games 0.3, MicroLens 1.0)");
  s.add_float("prune.coverage.drop_hardest", 0.1, "fraction of the highest scores dropped first");
  s.add_int("prune.coverage.strata", 50, "equal-width score strata of the coverage selection");
  s.add_int("prune.seed", 0, "seed of the LiSSA samples and the selection");
  s.add_string("prune.influence.params", "last_attn_out",
               "surrogate parameters θ of the influence: last_attn_out (DEALRec: the last block's "
               "attention output projection), all, or comma-separated parameter names");
  s.add_float("prune.influence.damping", 0.01, "LiSSA damping");
  s.add_float("prune.influence.scale", 25, "LiSSA scale (raise it when the recursion diverges)");
  s.add_int("prune.influence.depth", 5000, "LiSSA recursion steps (one random sample each)");
  s.add_int("prune.influence.repeats", 1, "independent LiSSA recursions, averaged");
  s.add_int("prune.influence.batch_size", 256, "samples per batched per-sample-gradient pass");
  s.add_float("prune.influence.keep_gradients_mb", 2048,
              "per rank: keep the batched per-sample gradients in memory up to this size (one "
              "pass over the samples instead of two)");
  s.add_int("prune.effort.warmup_steps", 200,
            "from scratch: align steps on the full mixture before the effort gradients (align "
            "itself restarts from its own initialisation)");
  s.add_choice("prune.effort.params", "all", {"all", "head"},
               "LLM parameters φ of the effort: all trainable ones (one backward per sample), or "
               "the LM head alone (batched forwards only, no backward)");
  s.add_int("prune.effort.valid_users", 200, "validation users of the warm-up model");
}

// prune.keep -> a sample count, checked against n.
int64_t budget_of(const Config& config, int64_t n) {
  const double keep = config.get_float("prune.keep");
  const std::string where = config.origin("prune.keep");
  if (keep == 0) {
    user_error("prune.keep is 0, so stage prune is off (set it to a count or a fraction)");
  }
  if (!std::isfinite(keep) || keep < 0) {
    user_error("prune.keep must be a count >= 1 or a fraction in (0, 1), got {} ({})", keep, where);
  }
  int64_t budget = 0;
  if (keep < 1) {
    budget = std::max<int64_t>(1, std::llround(keep * double(n)));
  } else {
    if (keep != std::floor(keep)) {
      user_error("prune.keep {} >= 1 must be a whole count of samples ({})", keep, where);
    }
    budget = static_cast<int64_t>(keep);
  }
  if (budget > n) {
    user_error("prune.keep {} is larger than the {} per-user training samples ({})", keep, n, where);
  }
  return budget;
}

void check_options(const Config& c) {
  auto fail = [&](const std::string& key, const std::string& what) {
    user_error("{} {}, got {} ({})", key, what, c.get_float(key), c.origin(key));
  };
  const double damping = c.get_float("prune.influence.damping");
  if (!(damping >= 0 && damping < 1)) fail("prune.influence.damping", "must be in [0, 1)");
  if (!(c.get_float("prune.influence.scale") > 0)) fail("prune.influence.scale", "must be > 0");
  const double drop = c.get_float("prune.coverage.drop_hardest");
  if (!(drop >= 0 && drop < 1)) fail("prune.coverage.drop_hardest", "must be in [0, 1)");
  if (!(c.get_float("prune.lambda") >= 0)) fail("prune.lambda", "must be >= 0");
  for (const char* key : {"prune.influence.depth", "prune.influence.repeats",
                          "prune.influence.batch_size", "prune.coverage.strata"}) {
    if (c.get_int(key) < 1) user_error("{} must be >= 1, got {} ({})", key, c.get_int(key), c.origin(key));
  }
  if (c.get_int("prune.effort.warmup_steps") < 0) {
    user_error("prune.effort.warmup_steps must be >= 0 ({})", c.origin("prune.effort.warmup_steps"));
  }
}

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Sums a per-sample column over ranks: every rank holds its own samples, zeros elsewhere.
std::vector<double> sum_over_ranks(dist::Communicator& comm, const std::vector<double>& v) {
  torch::Tensor t = torch::tensor(v, torch::kDouble);
  comm.allreduce(t, dist::ReduceOp::kSum);
  return std::vector<double>(t.data_ptr<double>(), t.data_ptr<double>() + t.numel());
}

torch::Tensor flatten(const train::ParamVec& v) {
  std::vector<torch::Tensor> flat;
  for (const auto& t : v) flat.push_back(t.detach().reshape({-1}).to(torch::kDouble));
  return torch::cat(flat);
}

train::ParamVec unflatten(const torch::Tensor& flat, const train::ParamVec& like) {
  train::ParamVec out;
  int64_t at = 0;
  for (const auto& p : like) {
    out.push_back(flat.slice(0, at, at + p.numel()).view(p.sizes()).to(p.scalar_type()));
    at += p.numel();
  }
  return out;
}

nlohmann::json stats(const std::vector<double>& v, const std::vector<int64_t>* only = nullptr) {
  double lo = INFINITY, hi = -INFINITY, sum = 0, sq = 0;
  int64_t n = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    if (only && !(*only)[i]) continue;
    lo = std::min(lo, v[i]);
    hi = std::max(hi, v[i]);
    sum += v[i];
    sq += v[i] * v[i];
    ++n;
  }
  if (n == 0) return nullptr;
  const double mean = sum / double(n);
  return {{"min", lo}, {"max", hi}, {"mean", mean},
          {"std", std::sqrt(std::max(0.0, sq / double(n) - mean * mean))}, {"n", n}};
}

struct Sharding {
  int64_t batch_size;
  int rank, world;
  // Samples of batch b: [b * batch_size, min(n, (b + 1) * batch_size)).
  std::vector<std::vector<int64_t>> my_batches(int64_t n) const {
    std::vector<std::vector<int64_t>> out;
    for (int64_t b = 0; b * batch_size < n; ++b) {
      if (b % world != rank) continue;
      std::vector<int64_t> idx;
      for (int64_t i = b * batch_size; i < std::min(n, (b + 1) * batch_size); ++i) idx.push_back(i);
      out.push_back(std::move(idx));
    }
    return out;
  }
};

struct InfluenceResult {
  std::vector<double> influence;
  nlohmann::json report;
};

// I(s) = ∇θL(s)ᵀ · H⁻¹ · (1/N) Σ_i ∇θL(s_i), with H⁻¹v by LiSSA.
InfluenceResult influence_scores(StageContext& ctx, Surrogate& sur, const Sharding& sh) {
  const Config& c = ctx.config;
  const int64_t n = sur.num_samples();
  const auto batches = sh.my_batches(n);
  InfluenceResult out;
  out.influence.assign(n, 0.0);

  // With batched per-sample gradients that fit in memory (prune.influence.keep_gradients_mb per
  // rank), one pass computes them, keeps them and sums them into v; otherwise v comes from a
  // pass of summed gradients and the per-sample gradients are recomputed after LiSSA.
  int64_t mine_samples = 0;
  for (const auto& idx : batches) mine_samples += static_cast<int64_t>(idx.size());
  const bool keep = sur.batched() &&
                    double(mine_samples) * double(sur.num_params()) * 4.0 <=
                        c.get_float("prune.influence.keep_gradients_mb") * 1024.0 * 1024.0;
  std::vector<torch::Tensor> kept_grads;
  auto t0 = Clock::now();
  torch::Tensor v = torch::zeros({sur.num_params()}, torch::kDouble);
  {
    Progress progress(keep ? "prune per-sample gradients" : "prune mean gradient",
                      static_cast<int64_t>(batches.size()), ProgressOptions{ctx.is_root(), 10.0, "batch"});
    for (const auto& idx : batches) {
      if (keep) {
        kept_grads.push_back(sur.per_sample_grads(idx).to(torch::kFloat));
        v += kept_grads.back().to(torch::kDouble).sum(0);
      } else {
        v += flatten(sur.grad_sum(idx));
      }
      progress.advance(1);
    }
  }
  ctx.comm.allreduce(v, dist::ReduceOp::kSum);
  v /= double(n);
  const double mean_grad_s = seconds_since(t0);

  t0 = Clock::now();
  train::LissaOptions lo;
  lo.damping = c.get_float("prune.influence.damping");
  lo.scale = c.get_float("prune.influence.scale");
  lo.depth = c.get_int("prune.influence.depth");
  lo.repeats = c.get_int("prune.influence.repeats");
  std::vector<int64_t> mine;
  for (int64_t r = 0; r < lo.repeats; ++r) {
    if (r % sh.world == sh.rank) mine.push_back(r);
  }
  const uint64_t seed = static_cast<uint64_t>(c.get_int("prune.seed"));
  Progress lissa_progress("prune LiSSA", lo.depth * static_cast<int64_t>(mine.size()),
                          ProgressOptions{ctx.is_root(), 10.0, "hvp"});
  auto loss_at = [&](int64_t repeat, int64_t step) {
    lissa_progress.advance(1);
    uint64_t h = fnv1a64("prune/lissa");
    h = fnv1a64(&seed, sizeof seed, h);
    h = fnv1a64(&repeat, sizeof repeat, h);
    h = fnv1a64(&step, sizeof step, h);
    data::SampleRng rng(h);
    return sur.loss_sum({rng.uniform(n)});
  };
  const train::ParamVec v_params = unflatten(v, sur.params());
  torch::Tensor h = flatten(train::lissa_inverse_hvp_sum(loss_at, sur.params(), v_params, lo, mine));
  lissa_progress.finish();
  ctx.comm.allreduce(h, dist::ReduceOp::kSum);
  h /= double(lo.repeats);
  const double lissa_s = seconds_since(t0);

  t0 = Clock::now();
  Progress progress("prune influence", static_cast<int64_t>(batches.size()),
                    ProgressOptions{ctx.is_root(), 10.0, "batch"});
  for (size_t b = 0; b < batches.size(); ++b) {
    const auto& idx = batches[b];
    torch::Tensor g = keep ? kept_grads[b].to(torch::kDouble)
                           : sur.per_sample_grads(idx).to(torch::kDouble);  // [b, P]
    torch::Tensor s = torch::matmul(g, h);
    for (size_t r = 0; r < idx.size(); ++r) out.influence[idx[r]] = s[r].item<double>();
    progress.advance(1);
  }
  progress.finish();
  out.influence = sum_over_ranks(ctx.comm, out.influence);
  const double per_sample_s = seconds_since(t0);
  out.report = {
      {"theta_size", sur.num_params()},
      {"batched_per_sample_grads", sur.batched()},
      {"per_sample_grads_kept", keep},
      {"v_norm", v.norm().item<double>()},
      {"h_norm", h.norm().item<double>()},
      {"lissa", {{"damping", lo.damping}, {"scale", lo.scale}, {"depth", lo.depth}, {"repeats", lo.repeats}}},
      {"wall_s", mean_grad_s + lissa_s + per_sample_s},
      {"samples_per_s", double(n) / std::max(mean_grad_s + lissa_s + per_sample_s, 1e-9)},
      {"mean_grad", {{"wall_s", mean_grad_s}, {"samples_per_s", double(n) / std::max(mean_grad_s, 1e-9)}}},
      {"lissa_phase", {{"wall_s", lissa_s},
                       {"hvp_per_s", double(lo.depth * lo.repeats) / std::max(lissa_s, 1e-9)}}},
      {"per_sample", {{"wall_s", per_sample_s}, {"samples_per_s", double(n) / std::max(per_sample_s, 1e-9)}}}};
  return out;
}

nlohmann::json run_prune(StageContext& ctx) {
  const auto t_start = Clock::now();
  const Config& config = ctx.config;
  const std::string method = config.get_string("prune.method");
  check_options(config);
  const std::string dpath = dataset_path(config);
  const data::Dataset dataset = data::read_dataset(dpath);
  const std::vector<data::PrefixKey> keys = data::training_prefixes(dataset);
  const int64_t n = static_cast<int64_t>(keys.size());
  if (n == 0) user_error("prune: {} has no per-user training samples", dpath);
  const int64_t budget = budget_of(config, n);
  const Sharding sh{config.get_int("prune.influence.batch_size"), ctx.comm.rank(), ctx.comm.world()};
  const uint64_t seed = static_cast<uint64_t>(config.get_int("prune.seed"));
  const double nan = std::nan("");

  // Everything that can be refused is checked before any work.
  std::unique_ptr<Surrogate> sur;
  if (needs_surrogate(method)) {
    model::SASRec m = read_sasrec_model(ctx.run, dataset.num_items(), "prune: the DEALRec surrogate");
    const auto names = surrogate_param_names(*m, config.get_string("prune.influence.params"),
                                             "prune.influence.params");
    sur = std::make_unique<Surrogate>(m, dataset, keys, names);
  }
  std::unique_ptr<ItemIndex> index;
  if (needs_effort(method)) index = std::make_unique<ItemIndex>(load_item_index(config, ctx.run));
  GREC_INFO("prune: {} of {} per-user training samples by method {}", budget, n, method);

  PruneTable t;
  t.keys = keys;
  t.method = method;
  t.budget = budget;
  t.influence.assign(n, nan);
  t.effort.assign(n, nan);
  nlohmann::json phases = nlohmann::json::object();
  if (needs_influence(method)) {
    InfluenceResult inf = influence_scores(ctx, *sur, sh);
    t.influence = inf.influence;
    phases["influence"] = inf.report;
  }
  std::vector<double> surrogate_loss;
  if (method == "ccs_only") {
    const auto t0 = Clock::now();
    surrogate_loss.assign(n, 0.0);
    for (const auto& idx : sh.my_batches(n)) {
      torch::Tensor l = sur->losses(idx);
      for (size_t r = 0; r < idx.size(); ++r) surrogate_loss[idx[r]] = l[r].item<double>();
    }
    surrogate_loss = sum_over_ranks(ctx.comm, surrogate_loss);
    phases["surrogate_loss"] = {{"wall_s", seconds_since(t0)}};
  }
  if (needs_effort(method)) {
    std::vector<char> mine(n, 0);
    for (const auto& idx : sh.my_batches(n)) {
      for (int64_t i : idx) mine[i] = 1;
    }
    EffortScores e = effort_scores(ctx, *index, keys, mine);
    t.effort = sum_over_ranks(ctx.comm, e.effort);
    torch::Tensor secs = torch::tensor({e.score_s}, torch::kDouble);
    ctx.comm.allreduce(secs, dist::ReduceOp::kMax);
    phases["effort"] = {{"warmup_s", e.warmup_s},
                        {"warmup_valid", e.warmup_valid},
                        {"wall_s", secs.item<double>()},
                        {"samples_per_s", double(n) / std::max(secs.item<double>(), 1e-9)}};
  }

  // Selection: the same on every rank (the scores are).
  const auto t_sel = Clock::now();
  data::CoverageOptions co;
  co.drop_hardest = config.get_float("prune.coverage.drop_hardest");
  co.strata = config.get_int("prune.coverage.strata");
  co.seed = seed;
  t.stratum.assign(n, -1);
  t.kept.assign(n, 0);
  nlohmann::json strata = nullptr;
  std::vector<int64_t> kept_idx;
  if (method == "random") {
    t.score.assign(n, nan);
    kept_idx = data::random_select(n, budget, seed);
  } else {
    const double lambda = config.get_float("prune.lambda");
    if (method == "dealrec" || method == "top") {
      t.score = data::dealrec_score(t.influence, t.effort, lambda);
    } else if (method == "influence") {
      t.score = data::minmax_normalise(t.influence);
    } else if (method == "effort") {
      t.score = data::minmax_normalise(t.effort);
    } else {
      t.score = data::minmax_normalise(surrogate_loss);
    }
    if (method == "top") {
      std::vector<int64_t> order(n);
      for (int64_t i = 0; i < n; ++i) order[i] = i;
      std::stable_sort(order.begin(), order.end(),
                       [&](int64_t a, int64_t b) { return t.score[a] > t.score[b]; });
      kept_idx.assign(order.begin(), order.begin() + budget);
      std::sort(kept_idx.begin(), kept_idx.end());
    } else {
      const data::Selection s = data::coverage_select(t.score, budget, co);
      kept_idx = s.kept;
      t.stratum = s.stratum;
      strata = {{"dropped_hardest", s.dropped_hardest}, {"sizes", s.stratum_sizes},
                {"taken", s.stratum_taken}};
    }
  }
  for (int64_t i : kept_idx) t.kept[i] = 1;
  phases["select"] = {{"wall_s", seconds_since(t_sel)}};

  std::set<int64_t> users, items, all_items;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t item = dataset.sequence(keys[i].user)[keys[i].end];
    all_items.insert(item);
    if (t.kept[i]) {
      users.insert(keys[i].user);
      items.insert(item);
    }
  }
  const double wall_s = seconds_since(t_start);
  const nlohmann::json results = {
      {"method", method},
      {"samples", n},
      {"kept", budget},
      {"kept_fraction", double(budget) / double(n)},
      {"users_covered", users.size()},
      {"target_items_covered", items.size()},
      {"target_items", all_items.size()},
      {"influence_params", sur ? config.get_string("prune.influence.params") : ""},
      {"phases", phases},
      {"strata", strata},
      {"stats", {{"influence", needs_influence(method) ? stats(t.influence) : nullptr},
                 {"effort", needs_effort(method) ? stats(t.effort) : nullptr},
                 {"score", method == "random" ? nullptr : stats(t.score)},
                 {"kept_score", method == "random" ? nullptr : stats(t.score, &t.kept)}}},
      {"ranks", ctx.comm.world()},
      {"wall_s", wall_s}};
  if (ctx.is_root()) {
    write_prune_table(kept_path(ctx.run), t, dpath);
    write_file_atomic(ctx.run.artifacts("prune") + "/results.json", results.dump(2) + "\n");
    ctx.metrics.write({{"stage", "prune"}, {"event", "results"}, {"results", results}});
  }
  ctx.comm.barrier();
  GREC_INFO("prune: kept {} of {} samples ({} users, {} of {} target items) by {} in {:.0f} s",
            budget, n, users.size(), items.size(), all_items.size(), method, wall_s);
  return {{"kept", budget}, {"samples", n}, {"method", method}, {"wall_s", wall_s}};
}

}  // namespace

// A number, not whether the key is given: a run's config.resolved.yaml holds every key.
bool prune_enabled(const Config& config) { return config.get_float("prune.keep") != 0; }

Stage make_prune_stage() {
  Stage s;
  s.name = "prune";
  s.help = "DEALRec data pruning: score the per-user samples (influence, effort), keep a subset";
  s.config_sections = {"prune", "data"};
  s.inputs = {"ingest"};
  s.config_inputs = [](const Config& c) {
    std::vector<std::string> in;
    const std::string m = c.get_string("prune.method");
    if (needs_surrogate(m)) in.push_back("sasrec");
    if (needs_effort(m)) in.push_back("rqvae");
    return in;
  };
  // The effort score trains and reads the LLM as align would start it.
  s.fingerprint = [](const Config& c) {
    return needs_effort(c.get_string("prune.method")) ? c.dump({"align"}) : std::string();
  };
  s.enabled = prune_enabled;
  s.declare = declare_prune;
  s.run = run_prune;
  return s;
}

}  // namespace grec::stages
