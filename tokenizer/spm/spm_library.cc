// Loading of libgrec_spm.so with dlopen; see spm_library.h for why it is not linked.
#include "tokenizer/spm/spm_library.h"

#include <dlfcn.h>  // dlmopen (glibc; _GNU_SOURCE is on with g++)
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <vector>

#include "core/error.h"

namespace grec::tok {
namespace {

namespace fs = std::filesystem;
constexpr const char* kModuleName = "libgrec_spm.so";

std::vector<std::string> candidates() {
  std::vector<std::string> out;
  if (const char* env = std::getenv("GREC_SPM_LIBRARY"); env && *env) out.emplace_back(env);
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    out.push_back((exe.parent_path() / kModuleName).string());
    out.push_back((exe.parent_path().parent_path() / "lib" / kModuleName).string());
  }
#ifdef GREC_SPM_BUILD_PATH
  out.emplace_back(GREC_SPM_BUILD_PATH);
#endif
  return out;
}

struct Loaded {
  const GrecSpmApi* api = nullptr;
  std::string error;
};

// Loaded once and never unloaded: the module is immutable code, shared by every tokenizer.
const Loaded& loaded() {
  static const Loaded result = [] {
    Loaded r;
    std::string tried;
    for (const std::string& path : candidates()) {
      if (!fs::exists(path)) {
        tried += "\n  " + path + " (absent)";
        continue;
      }
      void* handle = dlmopen(LM_ID_NEWLM, path.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (!handle) {
        tried += "\n  " + path + " (" + dlerror() + ")";
        continue;
      }
      const auto* api = static_cast<const GrecSpmApi*>(dlsym(handle, "grec_spm_api"));
      if (!api || api->abi_version != kGrecSpmAbiVersion) {
        tried += "\n  " + path + " (not a grec SentencePiece module of this version)";
        dlclose(handle);
        continue;
      }
      r.api = api;
      return r;
    }
    r.error = "SentencePiece support is not available: " + std::string(kModuleName) +
              " could not be loaded (build grec with libsentencepiece-dev installed, or set "
              "GREC_SPM_LIBRARY). Tried:" + tried;
    return r;
  }();
  return result;
}

}  // namespace

const GrecSpmApi& spm_api() {
  const Loaded& l = loaded();
  if (!l.api) user_error("{}", l.error);
  return *l.api;
}

bool spm_available() { return loaded().api != nullptr; }

}  // namespace grec::tok
