// Bucket assignment.
#include "dist/buckets.h"

#include <map>

#include "core/error.h"

namespace grec::dist {

std::vector<BucketPlan> assign_buckets(const std::vector<BucketItem>& items, int64_t first_bytes,
                                       int64_t bytes) {
  GREC_CHECK(first_bytes > 0 && bytes > 0, "bucket sizes must be > 0 ({}, {})", first_bytes, bytes);
  std::vector<BucketPlan> out;
  std::map<std::string, size_t> open;  // group -> index of its open bucket in `out`
  for (int64_t i = static_cast<int64_t>(items.size()) - 1; i >= 0; --i) {
    const BucketItem& it = items[static_cast<size_t>(i)];
    auto o = open.find(it.group);
    if (o != open.end()) {
      BucketPlan& b = out[o->second];
      const int64_t cap = o->second == 0 ? first_bytes : bytes;
      if (b.bytes + it.bytes > cap) {
        open.erase(o);
        o = open.end();
      }
    }
    if (o == open.end()) {
      out.push_back(BucketPlan{it.group, {}, 0});
      o = open.emplace(it.group, out.size() - 1).first;
    }
    BucketPlan& b = out[o->second];
    b.items.push_back(i);
    b.bytes += it.bytes;
    // A bucket already at its cap takes nothing more.
    if (b.bytes >= (o->second == 0 ? first_bytes : bytes)) open.erase(o);
  }
  return out;
}

}  // namespace grec::dist
