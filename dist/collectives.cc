// Control-plane collectives.
#include "dist/collectives.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include "dist/mpi_check.h"
#include "dist/mpi_env.h"

namespace grec::dist {

void barrier() {
  if (!MpiEnv::active()) return;
  // Open MPI's blocking barrier spins a core; ranks often wait here while rank 0 does
  // single-rank work (ingest, reports), so poll a non-blocking barrier and sleep in between.
  MPI_Request request;
  MPI_CHECK(MPI_Ibarrier(MPI_COMM_WORLD, &request));
  int done = 0;
  auto pause = std::chrono::microseconds(50);
  while (true) {
    MPI_CHECK(MPI_Test(&request, &done, MPI_STATUS_IGNORE));
    if (done) return;
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::microseconds(5000));
  }
}

std::string broadcast_string(const std::string& value, int root) {
  if (!MpiEnv::active()) return value;
  int64_t n = static_cast<int64_t>(value.size());
  MPI_CHECK(MPI_Bcast(&n, 1, MPI_INT64_T, root, MPI_COMM_WORLD));
  std::string out = value;
  out.resize(static_cast<size_t>(n));
  if (n > 0) MPI_CHECK(MPI_Bcast(out.data(), static_cast<int>(n), MPI_CHAR, root, MPI_COMM_WORLD));
  return out;
}

int64_t allreduce_max(int64_t value) {
  if (!MpiEnv::active()) return value;
  int64_t out = value;
  MPI_CHECK(MPI_Allreduce(&value, &out, 1, MPI_INT64_T, MPI_MAX, MPI_COMM_WORLD));
  return out;
}

}  // namespace grec::dist
