// Helper for the watchdog end-to-end test (run by tests/dist/watchdog_test.cc under mpirun -np 2):
// every rank watches its collectives with a timeout of argv[1] seconds and all-reduces at step 120.
// With GREC_TEST_STALL_RANK=1 that rank sleeps first, so rank 0's watchdog must abort the job.
#include <cstdlib>

#include "core/log.h"
#include "dist/communicator.h"
#include "dist/mpi_env.h"
#include "dist/watchdog.h"

int main(int argc, char** argv) {
  grec::dist::MpiEnv env(&argc, &argv);
  grec::log::init({env.rank(), env.world(), true, false});
  const double timeout = argc > 1 ? std::atof(argv[1]) : 2.0;
  grec::dist::Watchdog watchdog(timeout);
  auto comm = grec::dist::make_communicator(torch::kCPU);
  comm->set_watchdog(&watchdog);
  comm->set_step(120);
  torch::Tensor t = torch::ones({4});
  comm->name_next("allreduce bucket 3");
  comm->allreduce(t, grec::dist::ReduceOp::kSum);
  GREC_INFO("allreduce finished: {}", t[0].item<float>());
  return 0;
}
