// Progress display.
#include "core/progress.h"

#include <unistd.h>

#include <cstdio>

#include <fmt/format.h>

namespace grec {

std::string format_duration(double s) {
  if (s < 0) s = 0;
  if (s < 60) return fmt::format("{:.1f}s", s);
  const auto total = static_cast<int64_t>(s + 0.5);
  if (total < 3600) return fmt::format("{}m{:02d}s", total / 60, total % 60);
  return fmt::format("{}h{:02d}m", total / 3600, (total % 3600) / 60);
}

Progress::Progress(std::string label, int64_t total, ProgressOptions options)
    : label_(std::move(label)), total_(total), options_(std::move(options)) {
  tty_ = ::isatty(STDERR_FILENO) == 1;
  start_ = last_print_ = std::chrono::steady_clock::now();
}

Progress::~Progress() {
  if (!finished_) finish();
}

double Progress::elapsed_s() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

std::string Progress::line(const std::string& postfix) const {
  const double el = elapsed_s();
  const double rate = el > 0 ? static_cast<double>(done_) / el : 0.0;
  std::string s;
  if (total_ > 0) {
    const double eta = rate > 0 ? static_cast<double>(total_ - done_) / rate : 0.0;
    s = fmt::format("{} {}/{} ({:.0f}%) {:.1f} {}/s, elapsed {}, eta {}", label_, done_, total_,
                    100.0 * static_cast<double>(done_) / static_cast<double>(total_), rate,
                    options_.unit, format_duration(el), format_duration(eta));
  } else {
    s = fmt::format("{} {} {:.1f} {}/s, elapsed {}", label_, done_, rate, options_.unit,
                    format_duration(el));
  }
  if (!postfix.empty()) s += " | " + postfix;
  return s;
}

void Progress::print(const std::string& postfix, bool final_line) {
  if (!options_.enabled) return;
  const std::string s = line(postfix);
  if (tty_) {
    std::fprintf(stderr, "\r\033[K%s%s", s.c_str(), final_line ? "\n" : "");
  } else {
    std::fprintf(stderr, "%s\n", s.c_str());
  }
  std::fflush(stderr);
}

void Progress::advance(int64_t n, const std::string& postfix) {
  done_ += n;
  if (!options_.enabled) return;
  const auto now = std::chrono::steady_clock::now();
  const double since = std::chrono::duration<double>(now - last_print_).count();
  const double interval = tty_ ? 0.2 : options_.interval_s;
  if (since >= interval) {
    last_print_ = now;
    print(postfix, false);
  }
}

void Progress::finish(const std::string& postfix) {
  if (finished_) return;
  finished_ = true;
  print(postfix, true);
}

}  // namespace grec
