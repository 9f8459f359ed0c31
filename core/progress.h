// Progress display for long loops, shown on rank 0 only: a redrawn line with rate and ETA on a
// terminal, plain periodic lines (every `interval_s`) when stderr is not a terminal.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace grec {

struct ProgressOptions {
  bool enabled = true;       // false on ranks other than 0
  double interval_s = 10.0;  // between plain lines when not a terminal
  std::string unit = "it";
};

class Progress {
 public:
  Progress(std::string label, int64_t total, ProgressOptions options = {});
  ~Progress();
  // Advances by `n`; `postfix` (e.g. "loss 0.31") is shown after the counters.
  void advance(int64_t n = 1, const std::string& postfix = "");
  // Prints the final line (called by the destructor when not called before).
  void finish(const std::string& postfix = "");
  double elapsed_s() const;
  int64_t done() const { return done_; }

 private:
  std::string line(const std::string& postfix) const;
  void print(const std::string& postfix, bool final_line);

  std::string label_;
  int64_t total_;
  ProgressOptions options_;
  bool tty_ = false;
  bool finished_ = false;
  int64_t done_ = 0;
  std::chrono::steady_clock::time_point start_, last_print_;
};

// "1h02m", "3m05s", "12.3s".
std::string format_duration(double seconds);

}  // namespace grec
