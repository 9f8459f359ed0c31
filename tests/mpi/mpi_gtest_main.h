// main() of the multi-rank GoogleTest programs (tests/mpi/*.cc under mpiexec -n 2): MPI up, rank-
// aware logging, the tests, and the exit code agreed by every rank (one failing rank fails all).
#pragma once

#include <gtest/gtest.h>

#include "core/log.h"
#include "dist/collectives.h"
#include "dist/mpi_env.h"

namespace grec::testing {

inline int run_mpi_gtests(int argc, char** argv) {
  grec::dist::MpiEnv env(&argc, &argv);
  grec::log::init({env.rank(), env.world(), false, false});
  ::testing::InitGoogleTest(&argc, argv);
  const int failed = RUN_ALL_TESTS();
  return static_cast<int>(grec::dist::allreduce_max(failed));
}

}  // namespace grec::testing
