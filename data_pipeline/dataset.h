// The in-memory dataset and its HDF5 store, dataset.h5 (schema in docs/dataset.md).
//
// Items and users carry dense ids 0..n-1 (their index) and keep their raw ids. Interactions are
// sorted by (user, time) after deduplication and filtering. Sequences are the same interactions
// as CSR rows per user. The split is positional per user: train = [0, train_end),
// valid = [train_end, valid_end), test = [valid_end, length).
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace grec::data {

constexpr int64_t kDatasetFormatVersion = 1;

struct Dataset {
  // /items
  std::vector<std::string> item_raw_ids;
  // Text fields per item ("title", "categories", "description", "genres", ...), each of
  // item_raw_ids.size() UTF-8 strings ("" when unknown).
  std::map<std::string, std::vector<std::string>> item_text;
  // Integer fields per item, e.g. "topic" (the planted topic of synthetic data, for purity
  // checks); kept apart from item_text so that labels never leak into item text.
  std::map<std::string, std::vector<int64_t>> item_ints;
  // /users
  std::vector<std::string> user_raw_ids;
  // /interactions, sorted by (user, timestamp), one row per kept event.
  std::vector<int64_t> inter_user;
  std::vector<int64_t> inter_item;
  std::vector<int64_t> inter_time;  // unix seconds, or the event's order when unknown
  std::vector<float> inter_rating;  // empty when the source has no ratings
  std::map<std::string, std::vector<std::string>> inter_text;  // e.g. "review"; may be empty
  // /sequences (CSR): items of user u are seq_items[seq_offsets[u] .. seq_offsets[u+1])
  std::vector<int64_t> seq_offsets;
  std::vector<int64_t> seq_items;
  // /split, per user, positions inside the user's sequence.
  std::vector<int64_t> train_end;
  std::vector<int64_t> valid_end;
  // Root attributes: source, format, filters, counts, split kind (stored as HDF5 attributes).
  nlohmann::json attrs = nlohmann::json::object();

  int64_t num_users() const { return static_cast<int64_t>(user_raw_ids.size()); }
  int64_t num_items() const { return static_cast<int64_t>(item_raw_ids.size()); }
  int64_t num_interactions() const { return static_cast<int64_t>(seq_items.size()); }
  int64_t length(int64_t user) const { return seq_offsets[user + 1] - seq_offsets[user]; }
  const int64_t* sequence(int64_t user) const { return seq_items.data() + seq_offsets[user]; }
  // The user's item at split position `pos` (e.g. valid target = sequence(u)[train_end[u]]).
  bool has_rating() const { return !inter_rating.empty(); }
};

// Writes through a temporary file and a rename: a failure never leaves a partial file.
void write_dataset(const Dataset& dataset, const std::string& path);
// Reads and validates (format version, shapes, id ranges); errors name the file and the object.
Dataset read_dataset(const std::string& path);
// Checks the invariants above; throws grec::Error naming the first violation.
void validate(const Dataset& dataset);

}  // namespace grec::data
