// `grec data` commands (skeleton; the data pipeline fills it in).
#include "launch/cmd_data.h"

#include <CLI/CLI.hpp>

namespace grec::launch {

void add_data_commands(CLI::App& app, int* exit_code) {
  auto* data = app.add_subcommand("data", "ingest, inspect and synthesise datasets");
  data->require_subcommand(1);
  (void)exit_code;
}

}  // namespace grec::launch
