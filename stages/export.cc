// Stage `export` (optional, last in the pipeline): writes the run's serving bundle
// (export/bundle.h) to export.out, by default <run>/export. Off unless export.enabled is true; the
// same bundle comes from `grec export RUN_DIR --out DIR` at any time after the run.
#include <chrono>

#include "core/error.h"
#include "core/log.h"
#include "dist/collectives.h"
#include "stages/export_run.h"
#include "stages/stage_list.h"

namespace grec::stages {
namespace {

void declare_export(ConfigSchema& s) {
  s.add_bool("export.enabled", false, "write the serving bundle at the end of the pipeline");
  s.add_string("export.out", "", "bundle folder; empty = <run>/export");
  s.add_choice("export.dtype", "fp32", {"fp32", "bf16"}, "dtype of the LLM weights in the bundle");
}

nlohmann::json run_export(StageContext& ctx) {
  const auto t0 = std::chrono::steady_clock::now();
  const std::string given = ctx.config.get_string("export.out");
  const std::string out = given.empty() ? ctx.run.export_dir() : given;
  nlohmann::json manifest;
  std::string error;
  if (ctx.is_root()) {
    bundle::ExportOptions o;
    o.dtype = ctx.config.get_string("export.dtype");
    o.overwrite = true;  // the stage reruns when its inputs change: the new bundle replaces the old
    try {
      manifest = export_run(ctx.config, ctx.run, out, o, "grec stage export");
    } catch (const std::exception& e) {
      error = e.what();
    }
  }
  // Every rank learns of a failure on rank 0 instead of waiting for it.
  error = dist::broadcast_string(error, 0);
  if (!error.empty()) user_error("{}", error);
  const double wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  GREC_INFO("export: bundle in {} ({:.1f} s)", out, wall_s);
  return {{"bundle", out}, {"files", manifest.is_object() ? manifest["files"].size() : 0}, {"wall_s", wall_s}};
}

}  // namespace

Stage make_export_stage() {
  Stage s;
  s.name = "export";
  s.help = "serving bundle: merged LLM in HF layout, items, trie, student, manifest (off by default)";
  s.config_sections = {"export", "align", "evaluate", "data"};
  s.inputs = {"ingest", "rqvae", "sasrec", "align", "evaluate"};
  // The distilled student replaces stage sasrec's in the bundle when stage distill runs.
  s.config_inputs = [](const Config& c) {
    return c.get_bool("distill.enabled") ? std::vector<std::string>{"distill"} : std::vector<std::string>{};
  };
  s.declare = declare_export;
  s.run = run_export;
  s.enabled = [](const Config& c) { return c.get_bool("export.enabled"); };
  return s;
}

}  // namespace grec::stages
