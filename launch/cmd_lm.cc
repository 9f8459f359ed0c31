// `grec lm` commands (skeleton until the causal LM lands).
#include "launch/cmd_lm.h"

#include <CLI/CLI.hpp>

namespace grec::launch {

void add_lm_commands(CLI::App& app, int* exit_code) { (void)app, (void)exit_code; }

}  // namespace grec::launch
