// Hex formatting and file hashing for core/hash.h.
#include "core/hash.h"

#include <fstream>
#include <vector>

#include <fmt/format.h>

#include "core/error.h"

namespace grec {

std::string hex64(uint64_t v) { return fmt::format("{:016x}", v); }

uint64_t hash_file(const std::string& path, uint64_t h) {
  std::ifstream in(path, std::ios::binary);
  if (!in) user_error("cannot read '{}'", path);
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    h = fnv1a64(buf.data(), static_cast<size_t>(in.gcount()), h);
  }
  return h;
}

}  // namespace grec
