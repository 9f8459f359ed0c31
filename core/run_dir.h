// The run directory, runs/<name>/ (DESIGN.md "Run directory"):
//   config.resolved.yaml, command.txt, metrics.jsonl, artifacts/<stage>/, checkpoints/<stage>/,
//   export/.
#pragma once

#include <string>

namespace grec {

class Config;
class ConfigSchema;

// Declares run.name and run.dir.
void declare_run_config(ConfigSchema& schema);

class RunDir {
 public:
  explicit RunDir(std::string root) : root_(std::move(root)) {}
  // <run.dir>/<run.name>
  static RunDir from_config(const Config& config);

  const std::string& root() const { return root_; }
  std::string artifacts(const std::string& stage) const;
  std::string checkpoints(const std::string& stage) const;
  std::string metrics_path() const;
  std::string export_dir() const;

  // Creates the folders and writes config.resolved.yaml (with the command line as a comment)
  // and command.txt. Call on rank 0 only.
  void prepare(const Config& config, const std::string& command_line) const;

 private:
  std::string root_;
};

}  // namespace grec
