// SHA-256 through OpenSSL's EVP interface; see sha256.h.
#include "export/sha256.h"

#include <cstdio>
#include <memory>
#include <vector>

#include <openssl/evp.h>

#include "core/error.h"

namespace grec::bundle {
namespace {

struct Digest {
  Digest() : ctx(EVP_MD_CTX_new()) {
    GREC_CHECK(ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) == 1, "EVP_DigestInit_ex failed");
  }
  ~Digest() { EVP_MD_CTX_free(ctx); }
  void update(const void* data, size_t n) {
    GREC_CHECK(EVP_DigestUpdate(ctx, data, n) == 1, "EVP_DigestUpdate failed");
  }
  std::string hex() {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    GREC_CHECK(EVP_DigestFinal_ex(ctx, out, &n) == 1, "EVP_DigestFinal_ex failed");
    static const char* digits = "0123456789abcdef";
    std::string s;
    for (unsigned int i = 0; i < n; ++i) {
      s += digits[out[i] >> 4];
      s += digits[out[i] & 15];
    }
    return s;
  }
  EVP_MD_CTX* ctx;
};

}  // namespace

std::string sha256_file(const std::string& path, int64_t* bytes) {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) user_error("cannot read {}", path);
  Digest d;
  std::vector<char> buf(1 << 20);
  int64_t total = 0;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), f.get())) > 0) {
    d.update(buf.data(), n);
    total += static_cast<int64_t>(n);
  }
  if (std::ferror(f.get())) user_error("error while reading {}", path);
  if (bytes) *bytes = total;
  return d.hex();
}

std::string sha256_hex(const std::string& data) {
  Digest d;
  d.update(data.data(), data.size());
  return d.hex();
}

}  // namespace grec::bundle
