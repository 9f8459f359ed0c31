// Logging through spdlog. Lines carry "[rank r]" when the job has more than one rank; info goes
// to stdout from rank 0 only (other ranks: warnings and errors) unless `all_ranks` is set.
#pragma once

#include <spdlog/spdlog.h>

namespace grec::log {

struct LogOptions {
  int rank = 0;
  int world = 1;
  bool all_ranks = false;  // let every rank print info
  bool debug = false;
};

// Installs the process-wide logger. Safe to call again (e.g. once MPI knows the rank).
void init(const LogOptions& options);
int rank();
int world();

}  // namespace grec::log

#define GREC_INFO(...) ::spdlog::info(__VA_ARGS__)
#define GREC_WARN(...) ::spdlog::warn(__VA_ARGS__)
#define GREC_ERROR(...) ::spdlog::error(__VA_ARGS__)
#define GREC_DEBUG(...) ::spdlog::debug(__VA_ARGS__)
