// TempDir: the tests' one temporary-folder helper. Each object makes a fresh folder with a unique
// name under the system temp directory (mkdtemp: unique even across processes and parallel CTest
// runs) and removes it, with everything in it, when it goes away.
#pragma once

#include <stdlib.h>  // mkdtemp (POSIX)

#include <cerrno>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

namespace grec::test {

class TempDir {
 public:
  // `tag` goes into the folder's name, so a folder left behind (keep()) says who made it.
  explicit TempDir(const std::string& tag = "test") {
    const std::string pattern =
        (std::filesystem::temp_directory_path() / ("grec_" + tag + "_XXXXXX")).string();
    std::vector<char> name(pattern.begin(), pattern.end());
    name.push_back('\0');
    if (::mkdtemp(name.data()) == nullptr) {
      throw std::system_error(errno, std::generic_category(), "mkdtemp " + pattern);
    }
    path_ = name.data();
  }
  ~TempDir() {
    if (keep_) return;
    std::error_code ec;  // never throw from a destructor; a leftover folder is harmless
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::string str() const { return path_.string(); }
  // The path of `name` inside the folder (nothing is created).
  std::string sub(const std::string& name) const { return (path_ / name).string(); }
  // Leave the folder in place when this object goes away (to inspect a failed run).
  void keep() { keep_ = true; }

 private:
  std::filesystem::path path_;
  bool keep_ = false;
};

}  // namespace grec::test
