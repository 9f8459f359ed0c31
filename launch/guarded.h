// guarded(): runs a subcommand's body and turns any exception into one "error: ..." line on
// stderr and exit code 1. CLI11 callbacks run inside its parse, which only expects its own
// exceptions, so every `grec data|lm` command body goes through here.
#pragma once

#include <cstdio>
#include <exception>

#include "core/log.h"

namespace grec::launch {

template <typename F>
void guarded(int* exit_code, F&& body) {
  grec::log::init({});
  try {
    body();
    *exit_code = 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    *exit_code = 1;
  }
}

}  // namespace grec::launch
