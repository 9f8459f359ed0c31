// Small control-plane collectives over MPI_COMM_WORLD for the pipeline runner (flags, strings,
// barriers). Tensor collectives live in the Communicator. All are no-ops in a world of one.
#pragma once

#include <cstdint>
#include <string>

namespace grec::dist {

void barrier();
// Rank `root`'s string on every rank.
std::string broadcast_string(const std::string& value, int root = 0);
// Maximum of `value` over ranks (used to agree on flags such as "stop requested").
int64_t allreduce_max(int64_t value);

}  // namespace grec::dist
