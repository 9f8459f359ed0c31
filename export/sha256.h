// SHA-256 of files (OpenSSL's EVP digest), for the bundle manifest's per-file checksums.
#pragma once

#include <cstdint>
#include <string>

namespace grec::bundle {

// Lower-case hex SHA-256 of the file's bytes; *bytes (may be null) gets its size. UserError
// naming the file when it cannot be read.
std::string sha256_file(const std::string& path, int64_t* bytes = nullptr);
// Of a string (tests, small files).
std::string sha256_hex(const std::string& data);

}  // namespace grec::bundle
