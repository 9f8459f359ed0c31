// Watchdog: fires in-process through a callback (naming collective, step and timeout), stays quiet
// for guards released in time; end to end, `mpirun -np 2` with rank 1 stalled by the test hook
// must exit non-zero within ~10 s. StopSignal: a raised SIGTERM sets the flag.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "dist/mpi_communicator.h"
#include "dist/signals.h"
#include "dist/watchdog.h"
#include "tests/test_util/temp_dir.h"

namespace grec::dist {
namespace {

TEST(Watchdog, FiresWithCollectiveAndStepWhenAGuardOutlivesTheTimeout) {
  std::mutex mu;
  std::vector<std::string> fired;
  Watchdog w(0.2, [&](const std::string& m) {
    std::lock_guard<std::mutex> lock(mu);
    fired.push_back(m);
  });
  {
    auto quick = w.enter("allreduce bucket 0", 119);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  {
    auto g = w.enter("allreduce bucket 3", 120);
    std::this_thread::sleep_for(std::chrono::milliseconds(600));
  }
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_EQ(fired.size(), 1u);
  EXPECT_NE(fired[0].find("collective 'allreduce bucket 3' at step 120 waited 0.2 s > dist.timeout_s"),
            std::string::npos)
      << fired[0];
  EXPECT_EQ(w.fired(), 1);
}

TEST(Watchdog, StallHookSleepsOnceOnTheNamedRank) {
  ::setenv("GREC_TEST_STALL_RANK", "0", 1);
  ::setenv("GREC_TEST_STALL_SECONDS", "0.5", 1);
  MpiCommunicator comm;  // reads the hook at construction
  ::unsetenv("GREC_TEST_STALL_RANK");
  ::unsetenv("GREC_TEST_STALL_SECONDS");
  torch::Tensor t = torch::ones({3});
  auto t0 = std::chrono::steady_clock::now();
  comm.allreduce(t, ReduceOp::kSum);
  const double first = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  t0 = std::chrono::steady_clock::now();
  comm.allreduce(t, ReduceOp::kSum);
  const double second = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_GE(first, 0.5);
  EXPECT_LT(second, 0.1);
}

TEST(StopSignal, RaisedSigtermSetsTheFlagAndAgreesInAWorldOfOne) {
  StopSignal stop;
  stop.reset();
  EXPECT_FALSE(stop.local());
  MpiCommunicator comm;
  EXPECT_FALSE(stop.agreed(comm));
  std::raise(SIGTERM);
  EXPECT_TRUE(stop.local());
  EXPECT_EQ(stop.signal_number(), SIGTERM);
  EXPECT_TRUE(stop.agreed(comm));
  stop.reset();
}

#if defined(GREC_MPIEXEC) && defined(GREC_WATCHDOG_STALL)
TEST(WatchdogEndToEnd, StalledRankMakesTheJobExitNonZeroWithinTenSeconds) {
  const test::TempDir tmp("watchdog");
  const std::string log_path = tmp.sub("watchdog_e2e.log");
  const std::string cmd = std::string("GREC_TEST_STALL_RANK=1 GREC_TEST_STALL_SECONDS=30 "
                                      "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 ") +
                          GREC_MPIEXEC + " -np 2 --oversubscribe --bind-to none " +
                          GREC_WATCHDOG_STALL + " 2 > " + log_path + " 2>&1";
  const auto t0 = std::chrono::steady_clock::now();
  const int status = std::system(cmd.c_str());
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::string log;
  if (FILE* f = std::fopen(log_path.c_str(), "r")) {
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) log.append(buf, n);
    std::fclose(f);
  }
  ASSERT_NE(status, -1);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) != 0) << "status " << status << "\n" << log;
  EXPECT_LT(wall, 10.0) << log;
  EXPECT_GT(wall, 1.9) << log;  // it really waited for the 2 s timeout
  EXPECT_NE(log.find("at step 120 waited"), std::string::npos) << log;
  std::printf("watchdog end-to-end: exit status %d after %.2f s\n",
              WIFEXITED(status) ? WEXITSTATUS(status) : -1, wall);
}
#endif

}  // namespace
}  // namespace grec::dist
