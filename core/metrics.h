// metrics.jsonl writer: one JSON object per line, each line written whole and flushed, so a file
// that a killed run left behind can be appended to after a restart.
#pragma once

#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

namespace grec {

class MetricsWriter {
 public:
  MetricsWriter() = default;  // disabled: write() does nothing (ranks other than 0)
  explicit MetricsWriter(const std::string& path);
  ~MetricsWriter();
  MetricsWriter(const MetricsWriter&) = delete;
  MetricsWriter& operator=(const MetricsWriter&) = delete;
  MetricsWriter(MetricsWriter&& o) noexcept;
  MetricsWriter& operator=(MetricsWriter&& o) noexcept;

  // Adds "time" (unix seconds) when absent and appends the record.
  void write(nlohmann::json record);
  bool enabled() const { return file_ != nullptr; }
  const std::string& path() const { return path_; }

 private:
  std::FILE* file_ = nullptr;
  std::string path_;
};

}  // namespace grec
