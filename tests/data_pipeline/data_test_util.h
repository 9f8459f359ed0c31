// Small file writers for the data_pipeline tests (the temp folder is tests/test_util/temp_dir.h).
#pragma once

#include <zlib.h>

#include <fstream>
#include <string>

#include "tests/test_util/temp_dir.h"

namespace grec::test {

inline std::string write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  return path;
}

inline std::string write_gz(const std::string& path, const std::string& text) {
  gzFile g = gzopen(path.c_str(), "wb");
  gzwrite(g, text.data(), static_cast<unsigned>(text.size()));
  gzclose(g);
  return path;
}

}  // namespace grec::test
