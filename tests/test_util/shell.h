// run_shell: runs a command line through /bin/sh and returns its exit code with stdout and stderr
// together — the command-line tests' one way to start `grec` (or mpiexec with it).
#pragma once

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

namespace grec::test {

struct ShellResult {
  int code = -1;    // exit status; -1 when the command could not start or was killed
  std::string out;  // stdout and stderr together
};

inline ShellResult run_shell(const std::string& cmd) {
  ShellResult r;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  const int status = ::pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

}  // namespace grec::test
