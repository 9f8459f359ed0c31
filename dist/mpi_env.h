// The MPI guard: MPI_Init_thread once per process, world and node-local ranks (through
// MPI_Comm_split_type(MPI_COMM_TYPE_SHARED)), MPI_Finalize on destruction. Without mpirun the
// process runs as a world of one.
#pragma once

#include <string>

namespace grec::dist {

class MpiEnv {
 public:
  MpiEnv(int* argc, char*** argv);
  ~MpiEnv();
  MpiEnv(const MpiEnv&) = delete;
  MpiEnv& operator=(const MpiEnv&) = delete;

  int rank() const { return rank_; }
  int world() const { return world_; }
  int local_rank() const { return local_rank_; }
  int local_world() const { return local_world_; }
  const std::string& host() const { return host_; }

  // Kills every rank of the job (after the caller logged why). Never returns.
  [[noreturn]] static void abort(int code);
  // True once MPI_Init_thread ran in this process.
  static bool active();

 private:
  int rank_ = 0, world_ = 1, local_rank_ = 0, local_world_ = 1;
  std::string host_;
};

}  // namespace grec::dist
