// SASRec benchmarks, one JSON object per line on stdout. grec's side is what stage sasrec ships:
// the dataset from data_pipeline (ingest of an s3rec-style file, or a dataset.h5), SASRecTask under
// the Trainer (sampler, autocast, gradient sync, optimizer) with the TrainOptions the stage reads
// from the config schema (sasrec.* defaults, then --config and --set). The reference is
// bench/sasrec_reference.py (plain PyTorch), run as a subprocess on data, batches and evaluation
// cases this program writes from grec's own dataset and sampler, with the same model size, loss,
// optimizer settings, precision and thread count.
//
//   bench_sasrec [--data Beauty.txt | --dataset dataset.h5] [--threads 1] [--steps 40]
//                [--warmup 10] [--precisions fp32,bf16] [--config x.yaml] [--set key=value ...]
//       training samples/s, grec vs reference, one line per precision (both sides in it).
//   bench_sasrec --mode quality [--epochs 20] ...
//       train both sides on the same split with early stopping on validation NDCG@10; valid and
//       test HR/NDCG/MRR of each side's best epoch (the two sides run at the same time).
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "core/config.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/run_dir.h"
#include "data_pipeline/dataset.h"
#include "data_pipeline/ingest.h"
#include "data_pipeline/ingest_options.h"
#include "data_pipeline/sequence_batches.h"
#include "dist/communicator.h"
#include "dist/sampler.h"
#include "stages/sasrec_task.h"
#include "stages/stages.h"
#include "train/train_options.h"
#include "train/trainer.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using grec::Config;
using nlohmann::json;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// The first line of a /proc file that starts with `key` (its value after ':'), or the whole
// first line when key is empty.
std::string proc_value(const std::string& path, const std::string& key) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (key.empty()) return line;
    if (line.rfind(key, 0) == 0) {
      const size_t colon = line.find(':');
      return colon == std::string::npos ? line : line.substr(line.find_first_not_of(" \t", colon + 1));
    }
  }
  return "";
}

// Where the measurement ran: timing on a shared 2-core machine means little without it.
json machine() {
  std::istringstream load(proc_value("/proc/loadavg", ""));
  double load1 = 0;
  load >> load1;
  return {{"cpu", proc_value("/proc/cpuinfo", "model name")},
          {"cores", std::thread::hardware_concurrency()},
          {"load_avg_1min", load1}};
}

// The files the reference reads: it trains on exactly grec's data and batches.
struct ReferenceInputs {
  std::string dir, data, plan, valid, test;
};

void write_lines(const std::string& path, const std::vector<std::vector<int64_t>>& rows) {
  std::ofstream out(path);
  for (const auto& r : rows) {
    for (size_t i = 0; i < r.size(); ++i) out << (i ? " " : "") << r[i];
    out << '\n';
  }
  if (!out) throw std::runtime_error("cannot write " + path);
}

// Every user's training prefix (dense item ids; users without one get an empty line), and the
// plan: the users of each of the first `steps` global batches, drawn by the sampler the Trainer
// builds (same sample count, batch, seed; one rank), mapped through the task's training users.
void write_train_inputs(const grec::data::Dataset& d, const grec::train::TrainOptions& o,
                        int64_t steps, ReferenceInputs* in) {
  std::vector<std::vector<int64_t>> prefixes(d.num_users());
  for (int64_t u = 0; u < d.num_users(); ++u) {
    prefixes[u].assign(d.sequence(u), d.sequence(u) + d.train_end[u]);
  }
  write_lines(in->data, prefixes);
  const std::vector<int64_t> users = grec::data::sasrec_train_users(d);
  grec::dist::DistributedSampler sampler(static_cast<int64_t>(users.size()), o.global_batch_size,
                                         0, 1, static_cast<uint64_t>(o.seed));
  const int64_t per_epoch = sampler.steps_per_epoch();
  std::vector<std::vector<int64_t>> plan;
  for (int64_t s = 0; s < steps; ++s) {
    std::vector<int64_t> batch;
    for (int64_t i : sampler.global_batch(s / per_epoch, s % per_epoch)) batch.push_back(users[i]);
    plan.push_back(std::move(batch));
  }
  write_lines(in->plan, plan);
}

void write_cases(const std::vector<grec::eval::RankingCase>& cases, const std::string& path) {
  std::vector<std::vector<int64_t>> rows;
  for (const auto& c : cases) {
    rows.push_back({c.target});
    rows.back().insert(rows.back().end(), c.history.begin(), c.history.end());
  }
  write_lines(path, rows);
}

// The reference's command line: the model and optimizer settings come from the same config grec
// trains with, so a --set changes both sides.
std::string reference_command(const std::string& python, const std::string& script,
                              const std::string& mode, const Config& c,
                              const grec::train::TrainOptions& o, int64_t num_items, int threads,
                              const std::string& pad, const ReferenceInputs& in) {
  std::ostringstream cmd;
  cmd << python << " " << script << " --mode " << mode << " --data " << in.data << " --plan "
      << in.plan << " --num-items " << num_items << " --max-len " << c.get_int("sasrec.max_len")
      << " --hidden " << c.get_int("sasrec.hidden") << " --ffn " << c.get_int("sasrec.ffn")
      << " --blocks " << c.get_int("sasrec.blocks") << " --heads " << c.get_int("sasrec.heads")
      << " --dropout " << c.get_float("sasrec.dropout") << " --pad " << pad << " --optimizer "
      << o.optimizer << " --lr " << o.lr << " --beta1 " << o.beta1 << " --beta2 " << o.beta2
      << " --eps " << o.eps << " --weight-decay " << o.weight_decay << " --decay-exclude "
      << (o.decay_exclude ? 1 : 0) << " --grad-clip " << o.grad_clip << " --precision "
      << o.precision << " --threads " << threads << " --seed " << o.seed;
  if (mode == "quality") {
    std::string ks;
    for (int64_t k : c.get_int_list("sasrec.eval.ks")) ks += (ks.empty() ? "" : ",") + std::to_string(k);
    cmd << " --valid " << in.valid << " --test " << in.test << " --patience "
        << o.early_stop_patience << " --ks " << ks << " --eval-batch "
        << c.get_int("sasrec.eval.batch_size");
  }
  return cmd.str();
}

json parse_reference(FILE* p, const std::string& cmd) {
  std::string out;
  char buf[4096];
  while (fgets(buf, sizeof buf, p)) out += buf;
  const int rc = pclose(p);
  const size_t brace = out.rfind('{');
  if (rc != 0 || brace == std::string::npos) {
    return {{"error", "reference exited with " + std::to_string(rc)}, {"command", cmd}};
  }
  return json::parse(out.substr(brace));
}

// Reads the reference's limits that the SASRec config could exceed.
std::string reference_unsupported(const Config& c, const grec::train::TrainOptions& o) {
  if (c.get_string("sasrec.loss") != "ce") return "the reference implements sasrec.loss ce only";
  if (c.get_string("sasrec.init") != "xavier") return "the reference implements sasrec.init xavier only";
  if (o.optimizer != "adam" && o.optimizer != "adamw") return "the reference has adam and adamw only";
  if (o.schedule != "constant" || o.warmup_steps != 0) return "the reference has a constant lr only";
  if (o.group_by_length) {
    return "the reference replays the sampler's plain order; set sasrec.train.group_by_length=false";
  }
  return "";
}

// The timed steps from the Trainer's own per-step metrics records (log_every 1): a record's
// interval runs from the end of the previous record to the end of its step, so it holds batch
// building, forward, backward, gradient sync and the optimizer step, and no logging. Every timed
// step is a full global batch of `batch` samples (the plan stays inside the first epoch).
json trainer_throughput(const std::string& metrics_path, int64_t warmup, int64_t batch) {
  std::ifstream in(metrics_path);
  std::string line;
  int64_t seen = 0, steps = 0;
  double seconds = 0, data_s = 0;
  while (std::getline(in, line)) {
    const json r = json::parse(line);
    if (!r.contains("samples_per_s")) continue;
    if (seen++ < warmup) continue;
    const double step_s = static_cast<double>(batch) / r["samples_per_s"].get<double>();
    ++steps;
    seconds += step_s;
    data_s += r["time_data"].get<double>() * step_s;
  }
  return {{"samples_per_s", seconds > 0 ? steps * batch / seconds : 0.0},
          {"steps", steps},
          {"seconds", seconds},
          {"data_share", seconds > 0 ? data_s / seconds : 0.0}};
}

// The optimizer train::make_optimizer builds for these options.
std::string optimizer_name(const grec::train::TrainOptions& o) {
  if (o.optimizer == "adamw") return o.fused ? "grec's fused AdamW" : "torch::optim::AdamW";
  return "torch::optim::" + std::string(o.optimizer == "adam" ? "Adam" : o.optimizer);
}

struct Run {
  Config config;
  grec::data::Dataset data;
  std::string python, script, pad, tmp;
  int threads = 1;
};

json run_speed(const Run& run, const std::string& precision, int64_t steps, int64_t warmup,
               bool with_reference) {
  const Config c = run.config.with("sasrec.train.precision", precision)
                       .with("sasrec.train.max_steps", std::to_string(warmup + steps))
                       .with("sasrec.train.log_every", "1")
                       .with("sasrec.train.resume", "never");
  const grec::train::TrainOptions o = grec::train::TrainOptions::from_config(c, "sasrec.train");
  auto comm = grec::dist::make_communicator(torch::kCPU);
  const std::string run_dir = run.tmp + "/run_" + precision;
  const std::string metrics_path = run.tmp + "/metrics_" + precision + ".jsonl";
  {
    grec::stages::SASRecTask task(run.data, c, *comm, static_cast<uint64_t>(o.seed));
    grec::MetricsWriter metrics(metrics_path);
    grec::train::Trainer trainer(o, "sasrec", grec::RunDir(run_dir), *comm, metrics,
                                 c.hash({"sasrec"}));
    trainer.fit(task);
  }
  json g = trainer_throughput(metrics_path, warmup, o.global_batch_size);
  g["does"] = "SASRecTask under train::Trainer (stage sasrec's path): C++ batches of the "
              "sampler's users trimmed to the longest window, packed non-padding rows through "
              "the blocks, fused full-softmax CE, " + optimizer_name(o) + ", one-rank gradient sync and grad norm; time per step from the Trainer's metrics "
              "records (batch building included)";
  json row = {{"bench", "sasrec_train"},
              {"precision", precision == "bf16" ? "bf16 autocast, fp32 weights (both sides)"
                                                : "fp32 (both sides)"},
              {"threads", run.threads},
              {"global_batch", o.global_batch_size},
              {"max_len", c.get_int("sasrec.max_len")},
              {"hidden", c.get_int("sasrec.hidden")},
              {"blocks", c.get_int("sasrec.blocks")},
              {"loss", c.get_string("sasrec.loss")},
              {"optimizer", o.optimizer + " lr " + std::to_string(o.lr) + " betas " +
                                std::to_string(o.beta1) + "/" + std::to_string(o.beta2) +
                                (o.grad_clip > 0 ? " clip " + std::to_string(o.grad_clip) : "")},
              {"warmup_steps", warmup},
              {"machine", machine()},
              {"grec", g}};
  fs::remove_all(run_dir);
  std::remove(metrics_path.c_str());
  if (!with_reference) return row;
  const std::string why = reference_unsupported(c, o);
  if (!why.empty()) {
    row["reference"] = {{"error", why}};
    return row;
  }
  ReferenceInputs in{run.tmp, run.tmp + "/train_prefixes.txt", run.tmp + "/plan.txt", "", ""};
  write_train_inputs(run.data, o, warmup + steps, &in);
  const std::string cmd = reference_command(run.python, run.script, "speed", c, o,
                                            run.data.num_items(), run.threads, run.pad, in) +
                          " --warmup " + std::to_string(warmup);
  json r = parse_reference(popen(cmd.c_str(), "r"), cmd);
  if (r.contains("samples_per_s")) {
    r["does"] = "plain PyTorch on the same plan of batches: Python batch building, padded [B, " +
                std::string(run.pad == "max_len" ? "max_len" : "longest window") +
                ", d] through every layer, h[mask] @ E^T + F.cross_entropy, torch.optim." +
                (o.optimizer == "adam" ? "Adam" : "AdamW") + "; time per step incl. batch building";
    row["ratio"] = g["samples_per_s"].get<double>() / r["samples_per_s"].get<double>();
  }
  row["reference"] = r;
  return row;
}

json run_quality(const Run& run, int64_t epochs) {
  Config c = run.config.with("sasrec.train.resume", "never");
  if (epochs > 0) c = c.with("sasrec.train.epochs", std::to_string(epochs));
  const grec::train::TrainOptions o = grec::train::TrainOptions::from_config(c, "sasrec.train");
  auto comm = grec::dist::make_communicator(torch::kCPU);
  grec::stages::SASRecTask task(run.data, c, *comm, static_cast<uint64_t>(o.seed));

  // The reference starts first and trains at the same time (quality only: no timing is compared).
  FILE* ref = nullptr;
  std::string cmd;
  const std::string why = reference_unsupported(c, o);
  if (why.empty()) {
    ReferenceInputs in{run.tmp, run.tmp + "/train_prefixes.txt", run.tmp + "/plan.txt",
                       run.tmp + "/valid.txt", run.tmp + "/test.txt"};
    grec::dist::DistributedSampler sampler(task.num_samples(), o.global_batch_size, 0, 1,
                                           static_cast<uint64_t>(o.seed));
    const int64_t per_epoch = sampler.steps_per_epoch();
    const int64_t total = o.max_steps > 0 ? o.max_steps : o.epochs * per_epoch;
    write_train_inputs(run.data, o, total, &in);
    write_cases(task.cases("valid"), in.valid);
    write_cases(task.cases("test"), in.test);
    cmd = reference_command(run.python, run.script, "quality", c, o, run.data.num_items(),
                            run.threads, run.pad, in) +
          " --steps-per-epoch " + std::to_string(per_epoch);
    ref = popen(cmd.c_str(), "r");
  }

  const auto t0 = Clock::now();
  const std::string run_dir = run.tmp + "/run_quality";
  grec::MetricsWriter metrics(run.tmp + "/metrics_quality.jsonl");
  grec::train::Trainer trainer(o, "sasrec", grec::RunDir(run_dir), *comm, metrics,
                               c.hash({"sasrec"}));
  const grec::train::TrainResult fit = trainer.fit(task);
  const int64_t per_epoch = (task.num_samples() + o.global_batch_size - 1) / o.global_batch_size;
  json g = {{"valid", task.evaluate("valid")},
            {"test", task.evaluate("test")},
            {"best_epoch", fit.best_step / per_epoch},
            {"epochs", (fit.steps + per_epoch - 1) / per_epoch},
            {"train_samples_per_s", fit.steps * o.global_batch_size / std::max(fit.train_s(), 1e-9)},
            {"wall_s", seconds_since(t0)},
            {"does", "SASRecTask under train::Trainer, stage sasrec's path (validation every "
                     "epoch, best weights from the checkpoint, early stopping)"}};
  fs::remove_all(run_dir);
  json row = {{"bench", "sasrec_quality"},
              {"precision", o.precision + " (both sides)"},
              {"threads", run.threads},
              {"loss", c.get_string("sasrec.loss")},
              {"max_epochs", o.epochs},
              {"early_stop_patience", o.early_stop_patience},
              {"mask_history", c.get_bool("sasrec.eval.mask_history")},
              {"valid_cases", task.cases("valid").size()},
              {"test_cases", task.cases("test").size()},
              {"machine", machine()},
              {"grec", g}};
  if (ref) {
    json r = parse_reference(ref, cmd);
    if (r.contains("test")) {
      r["does"] = "plain PyTorch on the same plan of batches and the same cases (torch.optim." +
                  std::string(o.optimizer == "adam" ? "Adam" : "AdamW") + ")";
    }
    row["reference"] = r;
  } else {
    row["reference"] = {{"error", why}};
  }
  return row;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"SASRec training speed and quality: stage sasrec's path vs plain PyTorch"};
  std::string mode = "speed", data = std::string(GREC_SHARED_DATASETS) + "/amazon-s3rec/Beauty.txt";
  std::string dataset, config_file, precisions = "fp32,bf16", python = "/usr/bin/python3";
  std::string script = std::string(GREC_SOURCE_DIR) + "/bench/sasrec_reference.py", pad = "longest";
  std::vector<std::string> sets;
  int threads = 1;
  int64_t steps = 40, warmup = 10, epochs = 20;
  bool no_reference = false;
  app.add_option("--mode", mode, "speed | quality")->check(CLI::IsMember({"speed", "quality", "throughput"}));
  auto* data_opt = app.add_option("--data", data, "s3rec-style sequence file, ingested as seqtxt with split loo");
  app.add_option("--dataset", dataset, "a dataset.h5 instead of --data");
  app.add_option("--config", config_file, "YAML config (the stage defaults when absent)");
  app.add_option("--set", sets, "config override key=value (as grec --set)");
  app.add_option("--threads", threads, "intra-op threads, each side");
  app.add_option("--steps", steps, "speed: timed steps");
  app.add_option("--warmup", warmup, "speed: untimed steps first");
  app.add_option("--precisions", precisions, "speed: comma-separated fp32,bf16");
  app.add_option("--epochs", epochs, "quality: max epochs (0 = sasrec.train.epochs)");
  app.add_option("--python", python);
  app.add_option("--reference", script, "the Python reference script");
  app.add_option("--reference-pad", pad, "reference batch width: longest | max_len")
      ->check(CLI::IsMember({"longest", "max_len"}));
  app.add_flag("--no-reference", no_reference);
  CLI11_PARSE(app, argc, argv);

  grec::log::init(grec::log::LogOptions{});  // the Trainer's log lines go to stderr: stdout is JSON
  torch::set_num_threads(threads);
  std::vector<std::string> overrides;
  if (config_file.empty() || data_opt->count() > 0) {
    overrides = {"ingest.format=seqtxt", "ingest.input=" + data, "ingest.split=loo"};
  }
  if (!dataset.empty()) overrides.push_back("data.dataset=" + dataset);
  overrides.insert(overrides.end(), sets.begin(), sets.end());
  const grec::ConfigSchema schema = grec::stages::full_schema();
  Run run;
  run.config = config_file.empty() ? Config::parse(schema, "{}", "<bench_sasrec>", overrides)
                                   : Config::load(schema, config_file, overrides);
  const std::string h5 = run.config.get_string("data.dataset");
  run.data = h5.empty() ? grec::data::ingest(grec::data::ingest_options_from_config(run.config))
                        : grec::data::read_dataset(h5);
  run.python = python;
  run.script = script;
  run.pad = pad;
  run.threads = threads;
  run.tmp = (fs::temp_directory_path() / ("grec_bench_sasrec_" + std::to_string(::getpid()))).string();
  fs::create_directories(run.tmp);

  if (mode == "quality") {
    std::cout << run_quality(run, epochs).dump() << std::endl;
  } else {
    std::stringstream list(precisions);
    std::string p;
    while (std::getline(list, p, ',')) {
      if (!p.empty()) std::cout << run_speed(run, p, steps, warmup, !no_reference).dump() << std::endl;
    }
  }
  fs::remove_all(run.tmp);
  return 0;
}
