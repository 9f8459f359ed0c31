// `grec lm info|logits|generate`: inspect a causal LM checkpoint (HF layout) by hand.
#pragma once

namespace CLI {
class App;
}

namespace grec::launch {

// Adds the `lm` subcommand tree; the callbacks run the commands and set `*exit_code`.
void add_lm_commands(CLI::App& app, int* exit_code);

}  // namespace grec::launch
