// Atomic file writes and reads for core/fs.h.
#include "core/fs.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>
#include <algorithm>

#include "core/error.h"

namespace grec {

namespace fs = std::filesystem;

std::string temp_path_for(const std::string& path) {
  return fmt::format("{}.tmp.{}", path, static_cast<long>(::getpid()));
}

void make_dirs(const std::string& path) {
  if (path.empty()) return;
  std::error_code ec;
  fs::create_directories(path, ec);
  if (ec) user_error("cannot create folder '{}': {}", path, ec.message());
}

void write_file_atomic(const std::string& path, const std::string& content) {
  make_dirs(fs::path(path).parent_path().string());
  const std::string tmp = temp_path_for(path);
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) user_error("cannot write '{}'", tmp);
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
    out.flush();
    if (!out) user_error("cannot write '{}' (disk full?)", tmp);
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp);
    user_error("cannot rename '{}' to '{}': {}", tmp, path, ec.message());
  }
}

std::string file_fingerprint(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    std::vector<std::string> parts;
    for (const auto& e : fs::directory_iterator(path, ec)) {
      if (e.is_regular_file()) parts.push_back(file_fingerprint(e.path().string()));
    }
    std::sort(parts.begin(), parts.end());
    std::string out;
    for (const auto& p : parts) out += p + ";";
    return out;
  }
  const auto size = fs::file_size(path, ec);
  if (ec) return "missing:" + path;
  const auto mtime = fs::last_write_time(path, ec).time_since_epoch().count();
  return fmt::format("{}:{}:{}", path, size, mtime);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) user_error("cannot read '{}'", path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace grec
