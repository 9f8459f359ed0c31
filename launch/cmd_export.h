// `grec export RUN_DIR --out DIR` and `grec recommend BUNDLE ...` (README "Export for serving").
#pragma once

namespace CLI {
class App;
}

namespace grec::launch {

// Adds the `export` and `recommend` subcommands; the callbacks run them and set `*exit_code`.
void add_export_commands(CLI::App& app, int* exit_code);

}  // namespace grec::launch
