// Raw events as the readers produce them, before deduplication, filtering and re-indexing.
// Users and items are interned while parsing (index = order of first appearance), so the hot
// loop stores small integers, not strings.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace grec::data {

// Maps raw id strings to 0..n-1 in order of first appearance.
class Interner {
 public:
  int32_t id(std::string_view raw) {
    auto it = index_.find(raw);
    if (it != index_.end()) return it->second;
    // std::deque keeps element addresses stable on push_back, so the keys may view them.
    names_.emplace_back(raw);
    const int32_t id = static_cast<int32_t>(names_.size() - 1);
    index_.emplace(std::string_view(names_.back()), id);
    return id;
  }
  // -1 when unknown.
  int32_t find(std::string_view raw) const {
    auto it = index_.find(raw);
    return it == index_.end() ? -1 : it->second;
  }
  size_t size() const { return names_.size(); }
  const std::string& name(size_t i) const { return names_[i]; }
  void reserve(size_t n) { index_.reserve(n); }

 private:
  std::unordered_map<std::string_view, int32_t> index_;
  std::deque<std::string> names_;
};

// Which part of a presplit source an event came from.
enum class Part : uint8_t { kTrain = 0, kValid = 1, kTest = 2 };

struct RawData {
  Interner users, items;
  std::vector<int32_t> user, item;
  std::vector<int64_t> time;  // unix seconds, or the event's order when the source has none
  std::vector<float> rating;  // empty when the source has no ratings
  std::vector<uint8_t> part;  // empty unless the source is presplit (Part values)
  std::map<std::string, std::vector<std::string>> event_text;  // e.g. "review", per event
  // Item metadata by raw item id: field -> text. Items absent here get "" for every field.
  std::unordered_map<std::string, std::map<std::string, std::string>> item_meta;
  // Integer item fields by interned item id (synthetic data's "topic").
  std::map<std::string, std::vector<int64_t>> item_ints;
  std::string source;         // "movielens:<path>", ...
  int64_t skipped_lines = 0;  // malformed lines skipped under --skip-bad-lines
  bool has_time = true;       // false: time holds the event order

  size_t size() const { return user.size(); }
  void reserve(size_t n) {
    user.reserve(n);
    item.reserve(n);
    time.reserve(n);
  }
};

}  // namespace grec::data
