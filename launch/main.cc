// `grec`: the command-line entry point. Subcommands: run, stage, data, lm, export, recommend,
// serve, version.
// Exit codes: 0 success, 1 error (bad config, bad data, failure on a rank), 2 usage error,
// 3 stopped by SIGTERM/SIGINT after writing a checkpoint.
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "core/config.h"
#include "core/error.h"
#include "core/log.h"
#include "dist/collectives.h"
#include "dist/mpi_env.h"
#include "launch/cmd_data.h"
#include "launch/cmd_export.h"
#include "launch/cmd_lm.h"
#include "launch/cmd_serve.h"
#include "launch/runtime.h"
#include "train/pipeline.h"
#include "stages/stages.h"
#include "train/trainer.h"

namespace {

using grec::Config;

std::string join_args(int argc, char** argv) {
  std::string s;
  for (int i = 0; i < argc; ++i) s += (i ? " " : "") + std::string(argv[i]);
  return s;
}

std::string stage_list() {
  std::string s = "stages, in pipeline order:\n";
  for (const auto& st : grec::stages::all_stages()) {
    s += "  " + st.name + std::string(st.name.size() < 12 ? 12 - st.name.size() : 1, ' ') +
         st.help + "\n";
  }
  return s;
}

struct RunArgs {
  std::string config;
  std::string stage;
  std::vector<std::string> sets;
  bool dump = false;
  bool force = false;
};

void add_run_options(CLI::App* cmd, RunArgs* a) {
  cmd->add_option("CONFIG", a->config, "YAML config file")->required();
  cmd->add_option("--set", a->sets, "override a config key: --set key.sub=value (repeatable)")
      ->allow_extra_args(false);
  cmd->add_flag("--config-dump", a->dump, "print the resolved config and exit");
  cmd->add_flag("--force", a->force, "run stages even when their outputs are up to date");
}

// Loads the config on every rank; all ranks agree on failure so none is left waiting.
int load_config_everywhere(const grec::dist::MpiEnv& env, const RunArgs& a, Config* out) {
  std::string error;
  try {
    *out = Config::load(grec::stages::full_schema(), a.config, a.sets);
  } catch (const grec::UserError& e) {
    error = e.what();
  }
  // The lowest failing rank reports.
  const int64_t code = grec::dist::allreduce_max(error.empty() ? 0 : env.world() - env.rank());
  if (code == 0) return 0;
  if (env.world() - code == env.rank()) std::fprintf(stderr, "error: %s\n", error.c_str());
  return 1;
}

int run_command(int argc, char** argv, const RunArgs& a) {
  grec::dist::MpiEnv env(&argc, &argv);
  grec::log::init({env.rank(), env.world(), false, false});
  Config config;
  if (int rc = load_config_everywhere(env, a, &config)) return rc;
  if (a.dump) {
    if (env.rank() == 0) std::cout << config.dump() << std::flush;
    return 0;
  }
  grec::log::init({env.rank(), env.world(), config.get_bool("log.all_ranks"),
                   config.get_bool("log.debug")});
  try {
    grec::launch::configure_runtime(config, env);
    grec::train::PipelineOptions opts;
    if (!a.stage.empty()) opts.only = {a.stage};
    opts.force = a.force;
    opts.command_line = join_args(argc, argv);
    return grec::train::run_pipeline(grec::stages::all_stages(), config, env, opts);
  } catch (const grec::train::StopRequested& e) {
    // Every rank stops at the same step after a checkpoint: no abort needed.
    GREC_WARN("{}", e.what());
    return grec::train::StopRequested::kExitCode;
  } catch (const grec::UserError& e) {
    GREC_ERROR("{}", e.what());
    if (env.world() > 1) grec::dist::MpiEnv::abort(1);
    return 1;
  } catch (const std::exception& e) {
    spdlog::error("rank {} on {} failed: {}", env.rank(), env.host(), e.what());
    if (env.world() > 1) grec::dist::MpiEnv::abort(1);
    return 1;
  }
}

// The help of the deepest subcommand the user reached, for usage errors.
const CLI::App* deepest(const CLI::App* app) {
  for (const CLI::App* sub : app->get_subcommands()) return deepest(sub);
  return app;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"grec: distributed training of LLM-based generative recommenders", "grec"};
  app.require_subcommand(1);
  int exit_code = 0;

  auto* version = app.add_subcommand("version", "print versions of grec and its libraries");

  RunArgs run_args;
  auto* run = app.add_subcommand("run", "run the whole pipeline described by CONFIG");
  add_run_options(run, &run_args);

  RunArgs stage_args;
  auto* stage = app.add_subcommand("stage", "run one stage of the pipeline");
  stage->footer(stage_list());
  stage->add_option("NAME", stage_args.stage, "stage name")
      ->required()
      ->check(CLI::Validator(
          [](std::string& s) -> std::string {
            return grec::stages::find_stage(s) ? "" : "unknown stage '" + s + "'";
          },
          "STAGE"));
  add_run_options(stage, &stage_args);

  grec::launch::add_data_commands(app, &exit_code);
  grec::launch::add_lm_commands(app, &exit_code);
  grec::launch::add_serve_commands(app, &exit_code);
  grec::launch::add_export_commands(app, &exit_code);

  const auto known = app.get_subcommands([&](CLI::App* sub) { return argc > 1 && sub->check_name(argv[1]); });
  if (argc > 1 && argv[1][0] != '-' && known.empty()) {
    std::cerr << "error: unknown command '" << argv[1] << "'\n\n" << app.help();
    return 2;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::cout << deepest(&app)->help();
    return 0;
  } catch (const CLI::CallForAllHelp&) {
    std::cout << app.help("", CLI::AppFormatMode::All);
    return 0;
  } catch (const CLI::ParseError& e) {
    std::cerr << "error: " << e.what() << "\n\n" << deepest(&app)->help();
    return 2;
  }

  grec::log::init({});
  try {
    if (version->parsed()) {
      std::cout << grec::launch::version_text();
      return 0;
    }
    if (run->parsed()) return run_command(argc, argv, run_args);
    if (stage->parsed()) return run_command(argc, argv, stage_args);
  } catch (const grec::UserError& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return exit_code;
}
