// Filesystem helpers: atomic writes (temporary name, then rename) and small reads.
#pragma once

#include <string>

namespace grec {

// Writes `content` to `path` through `path.tmp.<pid>` and a rename, creating parent folders.
void write_file_atomic(const std::string& path, const std::string& content);
// Whole file as a string; a UserError naming the file when it cannot be read.
std::string read_file(const std::string& path);
// A temporary sibling name for `path` (same folder, so the final rename is atomic).
std::string temp_path_for(const std::string& path);
// A cheap fingerprint of a file's identity and content version: path, size, modification
// time ("missing:<path>" when absent). For a folder, the same for every regular file in it.
std::string file_fingerprint(const std::string& path);
// Creates the folder and its parents.
void make_dirs(const std::string& path);

}  // namespace grec
