// `grec serve BUNDLE`: the HTTP/JSON recommendation server over a serving bundle (serve/).
#pragma once

namespace CLI {
class App;
}

namespace grec::launch {

// Adds the `serve` subcommand; its callback serves until SIGTERM/SIGINT and sets `*exit_code`.
void add_serve_commands(CLI::App& app, int* exit_code);

}  // namespace grec::launch
