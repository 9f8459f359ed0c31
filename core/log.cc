// Logger set-up: one stderr/stdout sink pair with a rank-aware pattern.
#include "core/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

#include <memory>

namespace grec::log {
namespace {
LogOptions g_options;  // the logger's own state (DESIGN: the logger is allowed global state)
}

void init(const LogOptions& options) {
  g_options = options;
  auto logger = spdlog::get("grec");
  if (!logger) {
    auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
    logger = std::make_shared<spdlog::logger>("grec", sink);
    spdlog::set_default_logger(logger);
  }
  std::string pattern = "[%H:%M:%S] %^%l%$ %v";
  if (options.world > 1) pattern = fmt::format("[%H:%M:%S] [rank {}] %^%l%$ %v", options.rank);
  logger->set_pattern(pattern);
  spdlog::level::level_enum level = options.debug ? spdlog::level::debug : spdlog::level::info;
  if (options.rank != 0 && !options.all_ranks) level = spdlog::level::warn;
  logger->set_level(level);
  logger->flush_on(spdlog::level::info);
}

int rank() { return g_options.rank; }
int world() { return g_options.world; }

}  // namespace grec::log
