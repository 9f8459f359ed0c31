// Check-failure formatting for GREC_CHECK.
#include "core/error.h"

namespace grec::detail {

void throw_check_failure(const char* file, int line, const char* expr, const std::string& msg) {
  throw Error(fmt::format("{}:{}: check failed: {}: {}", file, line, expr, msg));
}

}  // namespace grec::detail
