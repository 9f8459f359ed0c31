// Run directory layout.
#include "core/run_dir.h"

#include <fmt/format.h>

#include "core/config.h"
#include "core/fs.h"

namespace grec {

void declare_run_config(ConfigSchema& s) {
  s.add_string("run.name", "demo", "run name; the run directory is <run.dir>/<run.name>");
  s.add_string("run.dir", "runs", "parent folder of run directories");
}

RunDir RunDir::from_config(const Config& c) {
  return RunDir(c.get_string("run.dir") + "/" + c.get_string("run.name"));
}

std::string RunDir::artifacts(const std::string& stage) const {
  return root_ + "/artifacts/" + stage;
}
std::string RunDir::checkpoints(const std::string& stage) const {
  return root_ + "/checkpoints/" + stage;
}
std::string RunDir::metrics_path() const { return root_ + "/metrics.jsonl"; }
std::string RunDir::export_dir() const { return root_ + "/export"; }

void RunDir::prepare(const Config& config, const std::string& command_line) const {
  make_dirs(root_ + "/artifacts");
  make_dirs(root_ + "/checkpoints");
  write_file_atomic(root_ + "/config.resolved.yaml",
                    fmt::format("# command: {}\n# config hash: {}\n{}", command_line,
                                config.hash(), config.dump()));
  write_file_atomic(root_ + "/command.txt", command_line + "\n");
}

}  // namespace grec
