// Errors and checked-call macros. `UserError` is a mistake in a config or an input file: its
// message is one clear sentence shown without internals. `Error` is everything else and carries
// the source location and the failed expression.
#pragma once

#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace grec {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class UserError : public Error {
 public:
  using Error::Error;
};

namespace detail {
[[noreturn]] void throw_check_failure(const char* file, int line, const char* expr,
                                      const std::string& msg);
}  // namespace detail

// A user-facing error: throw grec::user_error("config key '{}' ...", key).
template <typename... Args>
[[noreturn]] void user_error(fmt::format_string<Args...> f, Args&&... args) {
  throw UserError(fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace grec

// GREC_CHECK(cond, "format {}", args...) throws grec::Error with file:line and the expression.
#define GREC_CHECK(cond, ...)                                                              \
  do {                                                                                     \
    if (!(cond)) {                                                                         \
      ::grec::detail::throw_check_failure(__FILE__, __LINE__, #cond,                       \
                                          ::fmt::format(__VA_ARGS__));                     \
    }                                                                                      \
  } while (0)
