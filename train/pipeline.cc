// Pipeline runner: ordered stages, content-keyed caching, summary table.
#include "train/pipeline.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>

#include <fmt/format.h>

#include "core/error.h"
#include "core/fs.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/table.h"
#include "dist/collectives.h"
#include "dist/communicator.h"
#include "dist/device.h"
#include "dist/watchdog.h"
#include "dist/mpi_env.h"
#include "train/stage.h"

namespace grec::train {

namespace fs = std::filesystem;

namespace {

std::string marker_path(const RunDir& run, const std::string& stage) {
  return run.artifacts(stage) + "/stage.json";
}

// Short human summary of a stage's key figures: "users=943 items=1682".
std::string brief(const nlohmann::json& j) {
  std::string s;
  if (!j.is_object()) return s;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.value().is_object() || it.value().is_array() || it.key() == "wall_s") continue;
    if (!s.empty()) s += "  ";
    if (it.value().is_number_float()) {
      s += fmt::format("{}={:.4g}", it.key(), it.value().get<double>());
    } else if (it.value().is_string()) {
      s += fmt::format("{}={}", it.key(), it.value().get<std::string>());
    } else {
      s += fmt::format("{}={}", it.key(), it.value().dump());
    }
  }
  return s;
}

}  // namespace

namespace {

// Checkpoints resume a stage only under the key (config + inputs) that wrote them: after a config
// change the old folder is moved to checkpoints/<stage>.stale (replacing an older one) instead of
// being resumed with other settings, and the new key is recorded in checkpoints/<stage>/KEY.
void set_aside_stale_checkpoints(const RunDir& run, const std::string& stage,
                                 const std::string& key) {
  const fs::path dir = run.checkpoints(stage);
  const fs::path key_file = dir / "KEY";
  bool has_checkpoints = false;  // anything besides KEY (stages that never train have only KEY)
  if (fs::exists(dir)) {
    for (const auto& e : fs::directory_iterator(dir)) has_checkpoints |= e.path().filename() != "KEY";
  }
  if (has_checkpoints) {
    const std::string old = fs::exists(key_file) ? read_file(key_file.string()) : "";
    if (old == key) return;
    const fs::path stale = dir.string() + ".stale";
    fs::remove_all(stale);
    fs::rename(dir, stale);
    GREC_WARN("stage {}: checkpoints written under another config (key {}) moved to {}; "
              "training starts afresh", stage, old.empty() ? "unknown" : old, stale.string());
  }
  make_dirs(dir.string());
  write_file_atomic(key_file.string(), key);
}

}  // namespace

bool StageContext::is_root() const { return env.rank() == 0; }

const Stage* find_stage(const std::vector<Stage>& stages, const std::string& name) {
  auto it = std::find_if(stages.begin(), stages.end(), [&](const Stage& x) { return x.name == name; });
  return it == stages.end() ? nullptr : &*it;
}

std::string stage_key(const std::vector<Stage>& stages, const Config& config,
                      const std::string& name) {
  const Stage* stage = find_stage(stages, name);
  GREC_CHECK(stage != nullptr, "unknown stage '{}'", name);
  uint64_t h = fnv1a64(config.dump(stage->config_sections));
  h = fnv1a64(name, h);
  if (stage->fingerprint) h = fnv1a64(stage->fingerprint(config), h);
  std::vector<std::string> inputs = stage->inputs;
  if (stage->config_inputs) {
    for (const std::string& in : stage->config_inputs(config)) inputs.push_back(in);
  }
  for (const auto& in : inputs) {
    const Stage* up = find_stage(stages, in);
    GREC_CHECK(up != nullptr, "stage '{}' reads unknown stage '{}'", name, in);
    if (up->enabled && !up->enabled(config)) {
      // The upstream stage is replaced by a user-given file (e.g. data.dataset).
      GREC_CHECK(up->replaced_by, "stage '{}' can be off but names no file that replaces it", in);
      h = fnv1a64(file_fingerprint(up->replaced_by(config)), h);
    } else {
      h = fnv1a64(stage_key(stages, config, in), h);
    }
  }
  return hex64(h);
}

int run_pipeline(const std::vector<Stage>& stages, const Config& config, const dist::MpiEnv& env,
                 const PipelineOptions& options) {
  const RunDir run = RunDir::from_config(config);
  const bool root = env.rank() == 0;
  if (root) run.prepare(config, options.command_line);
  dist::barrier();
  MetricsWriter metrics = root ? MetricsWriter(run.metrics_path()) : MetricsWriter();
  dist::Watchdog watchdog(static_cast<double>(config.get_int("dist.timeout_s")));
  auto comm = dist::make_communicator(dist::select_device(env));
  comm->set_watchdog(&watchdog);

  for (const auto& name : options.only) {
    if (!find_stage(stages, name)) user_error("unknown stage '{}' (see `grec stage --help`)", name);
  }
  const std::vector<std::string> wanted = config.get_string_list("run.stages");
  for (const auto& name : wanted) {
    if (!find_stage(stages, name)) {
      user_error("run.stages names unknown stage '{}' ({})", name, config.origin("run.stages"));
    }
  }

  Table summary({"stage", "status", "wall", "key figures"});
  const auto t_run = std::chrono::steady_clock::now();
  for (const Stage& stage : stages) {
    const bool selected = options.only.empty() ||
                          std::find(options.only.begin(), options.only.end(), stage.name) !=
                              options.only.end();
    if (!selected) continue;
    if (options.only.empty() && !wanted.empty() &&
        std::find(wanted.begin(), wanted.end(), stage.name) == wanted.end()) {
      summary.add_row({stage.name, "skipped", "-", "not in run.stages"});
      continue;
    }
    if (options.only.empty() && stage.enabled && !stage.enabled(config)) {
      summary.add_row({stage.name, "skipped", "-",
                       stage.replaced_by ? "input given by the config" : "off in this config"});
      continue;
    }
    const std::string key = stage_key(stages, config, stage.name);
    const std::string marker = marker_path(run, stage.name);
    int64_t cached = 0;
    nlohmann::json cached_summary;
    if (root && !options.force && fs::exists(marker)) {
      try {
        auto j = nlohmann::json::parse(read_file(marker));
        if (j.value("key", "") == key) {
          cached = 1;
          cached_summary = j.value("summary", nlohmann::json::object());
        }
      } catch (const nlohmann::json::exception&) {
        GREC_WARN("stage {}: unreadable marker {}, running the stage again", stage.name, marker);
      }
    }
    cached = dist::allreduce_max(cached);
    if (cached) {
      GREC_INFO("stage {}: outputs are up to date (key {}), skipped", stage.name, key);
      summary.add_row({stage.name, "cached", "-", brief(cached_summary)});
      continue;
    }
    GREC_INFO("stage {}: running (key {})", stage.name, key);
    if (root) {
      make_dirs(run.artifacts(stage.name));
      set_aside_stale_checkpoints(run, stage.name, key);
      for (const auto& extra : stage.extra_checkpoints) set_aside_stale_checkpoints(run, extra, key);
    }
    dist::barrier();
    const auto t0 = std::chrono::steady_clock::now();
    StageContext ctx{config, run, env, metrics, *comm};
    nlohmann::json result = stage.run(ctx);
    dist::barrier();
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (root) {
      nlohmann::json m = {{"stage", stage.name}, {"key", key}, {"wall_s", wall},
                          {"summary", result}};
      write_file_atomic(marker, m.dump(2) + "\n");
      metrics.write({{"stage", stage.name}, {"event", "stage_done"}, {"wall_s", wall},
                     {"summary", result}});
    }
    summary.add_row({stage.name, "done", format_duration(wall), brief(result)});
  }
  const double total =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t_run).count();
  if (root) {
    std::printf("\nrun %s finished in %s (%d rank%s)\n%s", run.root().c_str(),
                format_duration(total).c_str(), env.world(), env.world() > 1 ? "s" : "",
                summary.render().c_str());
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace grec::train
