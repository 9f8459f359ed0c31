// metrics.jsonl writer. A partial last line (a run killed mid-write) is terminated before
// appending so every later line parses.
#include "core/metrics.h"

#include <chrono>
#include <filesystem>
#include <utility>

#include "core/error.h"
#include "core/fs.h"

namespace grec {

MetricsWriter::MetricsWriter(const std::string& path) : path_(path) {
  make_dirs(std::filesystem::path(path).parent_path().string());
  bool needs_newline = false;
  if (std::FILE* f = std::fopen(path.c_str(), "rb")) {
    if (std::fseek(f, -1, SEEK_END) == 0) needs_newline = std::fgetc(f) != '\n';
    std::fclose(f);
  }
  file_ = std::fopen(path.c_str(), "ab");
  if (!file_) user_error("cannot open metrics file '{}' for appending", path);
  if (needs_newline) {
    std::fputc('\n', file_);
    std::fflush(file_);
  }
}

MetricsWriter::~MetricsWriter() {
  if (file_) std::fclose(file_);
}

MetricsWriter::MetricsWriter(MetricsWriter&& o) noexcept
    : file_(std::exchange(o.file_, nullptr)), path_(std::move(o.path_)) {}

MetricsWriter& MetricsWriter::operator=(MetricsWriter&& o) noexcept {
  if (this != &o) {
    if (file_) std::fclose(file_);
    file_ = std::exchange(o.file_, nullptr);
    path_ = std::move(o.path_);
  }
  return *this;
}

void MetricsWriter::write(nlohmann::json record) {
  if (!file_) return;
  if (!record.contains("time")) {
    using namespace std::chrono;
    record["time"] = duration<double>(system_clock::now().time_since_epoch()).count();
  }
  // NaN/Inf are not JSON: dump() writes them as null, which readers accept.
  std::string line = record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  line.push_back('\n');
  std::fwrite(line.data(), 1, line.size(), file_);
  std::fflush(file_);
}

}  // namespace grec
