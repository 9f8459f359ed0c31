// MPI_CHECK: a failed MPI call throws grec::Error naming the call, the file:line and MPI's text.
#pragma once

#include <mpi.h>

#include <string>

#include "core/error.h"

namespace grec::dist {
std::string mpi_error_string(int code);
}

#define MPI_CHECK(call)                                                                  \
  do {                                                                                   \
    const int grec_mpi_rc_ = (call);                                                     \
    if (grec_mpi_rc_ != MPI_SUCCESS) {                                                   \
      throw ::grec::Error(::fmt::format("{}:{}: {} failed: {}", __FILE__, __LINE__, #call, \
                                        ::grec::dist::mpi_error_string(grec_mpi_rc_)));  \
    }                                                                                    \
  } while (0)
