// The command-line tests' way to start the built `grec`, on one rank or as `mpiexec -n 2`
// (GREC_BINARY and GREC_MPIEXEC come from tests/CMakeLists.txt).
#pragma once

#include <string>

#include "tests/test_util/shell.h"

namespace grec::test {

inline ShellResult run_grec(const std::string& args) {
  return run_shell(std::string(GREC_BINARY) + " " + args);
}

// The first stages of a tiny run (120 synthetic users, 50 items; seconds per stage): run, dist,
// ingest, sasrec and rqvae sections, for a test config to continue with its own.
inline std::string tiny_run_yaml(const std::string& runs_dir) {
  return "run: { name: tiny, dir: " + runs_dir + " }\n"
         "dist: { threads: 1 }\n"
         "ingest:\n  format: synth\n  synth: { users: 120, items: 50, seed: 5 }\n"
         "sasrec:\n  hidden: 16\n  max_len: 20\n"
         "  train: { epochs: 3, global_batch_size: 64 }\n"
         "rqvae:\n  codebook_size: 8\n  train: { epochs: 200 }\n";
}

#ifdef GREC_MPIEXEC
inline ShellResult run_grec_two_ranks(const std::string& args) {
  return run_shell(std::string("OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 ") +
                   GREC_MPIEXEC + " -n 2 --oversubscribe --bind-to none " + GREC_BINARY + " " + args);
}
#endif

}  // namespace grec::test
