// `grec data ingest|stats|synth`.
#pragma once

namespace CLI {
class App;
}

namespace grec::launch {

// Adds the `data` subcommand tree; the callbacks run the commands and set `*exit_code`.
void add_data_commands(CLI::App& app, int* exit_code);

}  // namespace grec::launch
