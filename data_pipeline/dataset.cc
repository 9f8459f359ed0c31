// dataset.h5 reader, writer and invariant checks (schema in docs/dataset.md).
#include "data_pipeline/dataset.h"

#include <cstdio>
#include <filesystem>

#include "core/error.h"
#include "core/fs.h"
#include "core/h5.h"

namespace grec::data {

namespace {

// Names of /items and /interactions datasets that are not free text fields.
bool reserved_item_name(const std::string& n) { return n == "raw_id"; }
bool reserved_inter_name(const std::string& n) {
  return n == "user" || n == "item" || n == "timestamp" || n == "rating";
}

nlohmann::json names_of(const std::map<std::string, std::vector<std::string>>& m) {
  nlohmann::json j = nlohmann::json::array();
  for (const auto& kv : m) j.push_back(kv.first);
  return j;
}

// Root attributes as individual HDF5 attributes (for h5py users) plus the whole JSON (for
// an exact round trip).
void write_attrs(h5::File& f, const Dataset& d) {
  nlohmann::json attrs = d.attrs;
  attrs["format_version"] = kDatasetFormatVersion;
  attrs["num_users"] = d.num_users();
  attrs["num_items"] = d.num_items();
  attrs["num_interactions"] = d.num_interactions();
  attrs["item_text_fields"] = names_of(d.item_text);
  nlohmann::json ints = nlohmann::json::array();
  for (const auto& kv : d.item_ints) ints.push_back(kv.first);
  attrs["item_int_fields"] = ints;
  attrs["interaction_text_fields"] = names_of(d.inter_text);
  attrs["has_rating"] = d.has_rating();
  for (auto it = attrs.begin(); it != attrs.end(); ++it) {
    const auto& v = it.value();
    if (v.is_number_integer() || v.is_boolean()) {
      f.set_attr("/", it.key(), v.is_boolean() ? int64_t(v.get<bool>()) : v.get<int64_t>());
    } else if (v.is_number()) {
      f.set_attr("/", it.key(), v.get<double>());
    } else if (v.is_string()) {
      f.set_attr("/", it.key(), v.get<std::string>());
    } else {
      f.set_attr("/", it.key(), v.dump());
    }
  }
  f.set_attr("/", "metadata_json", attrs.dump());
}

}  // namespace

void validate(const Dataset& d) {
  const int64_t U = d.num_users(), I = d.num_items();
  const size_t N = d.seq_items.size();
  GREC_CHECK(d.seq_offsets.size() == size_t(U + 1), "seq_offsets has {} entries for {} users",
             d.seq_offsets.size(), U);
  GREC_CHECK(d.seq_offsets.front() == 0 && d.seq_offsets.back() == int64_t(N),
             "seq_offsets must run from 0 to {} (got {}..{})", N, d.seq_offsets.front(),
             d.seq_offsets.back());
  GREC_CHECK(d.inter_user.size() == N && d.inter_item.size() == N && d.inter_time.size() == N,
             "interaction columns have {}/{}/{} rows for {} sequence items", d.inter_user.size(),
             d.inter_item.size(), d.inter_time.size(), N);
  GREC_CHECK(d.inter_rating.empty() || d.inter_rating.size() == N,
             "rating has {} rows for {} interactions", d.inter_rating.size(), N);
  for (const auto& kv : d.inter_text) {
    GREC_CHECK(kv.second.size() == N, "interaction field '{}' has {} rows for {} interactions",
               kv.first, kv.second.size(), N);
  }
  for (const auto& kv : d.item_text) {
    GREC_CHECK(kv.second.size() == size_t(I), "item field '{}' has {} rows for {} items", kv.first,
               kv.second.size(), I);
  }
  for (const auto& kv : d.item_ints) {
    GREC_CHECK(kv.second.size() == size_t(I), "item field '{}' has {} rows for {} items", kv.first,
               kv.second.size(), I);
  }
  GREC_CHECK(d.train_end.size() == size_t(U) && d.valid_end.size() == size_t(U),
             "split has {}/{} rows for {} users", d.train_end.size(), d.valid_end.size(), U);
  for (int64_t u = 0; u < U; ++u) {
    const int64_t b = d.seq_offsets[u], e = d.seq_offsets[u + 1];
    GREC_CHECK(b <= e, "seq_offsets decrease at user {}", u);
    GREC_CHECK(0 <= d.train_end[u] && d.train_end[u] <= d.valid_end[u] && d.valid_end[u] <= e - b,
               "user {}: split positions {}/{} outside its {} items", u, d.train_end[u],
               d.valid_end[u], e - b);
    for (int64_t k = b; k < e; ++k) {
      GREC_CHECK(d.inter_user[k] == u,
                 "interaction {} belongs to user {} but lies in user {}'s row", k, d.inter_user[k],
                 u);
      GREC_CHECK(d.inter_item[k] == d.seq_items[k], "interaction {} item {} != sequence item {}", k,
                 d.inter_item[k], d.seq_items[k]);
      GREC_CHECK(0 <= d.seq_items[k] && d.seq_items[k] < I, "item id {} out of range [0, {})",
                 d.seq_items[k], I);
      GREC_CHECK(k == b || d.inter_time[k - 1] <= d.inter_time[k],
                 "user {}: timestamps decrease at interaction {}", u, k);
    }
  }
}

void write_dataset(const Dataset& d, const std::string& path) {
  validate(d);
  namespace fs = std::filesystem;
  const auto parent = fs::path(path).parent_path();
  if (!parent.empty()) make_dirs(parent.string());
  const std::string tmp = temp_path_for(path);
  try {
    h5::File f = h5::File::create(tmp);
    f.write_strings("/items/raw_id", d.item_raw_ids);
    for (const auto& kv : d.item_text) {
      GREC_CHECK(!reserved_item_name(kv.first), "item text field may not be named '{}'", kv.first);
      f.write_strings("/items/" + kv.first, kv.second);
    }
    for (const auto& kv : d.item_ints) {
      GREC_CHECK(!reserved_item_name(kv.first) && !d.item_text.count(kv.first),
                 "item int field '{}' clashes with another item field", kv.first);
      f.write_i64("/items/" + kv.first, kv.second);
    }
    f.write_strings("/users/raw_id", d.user_raw_ids);
    f.write_i64("/interactions/user", d.inter_user);
    f.write_i64("/interactions/item", d.inter_item);
    f.write_i64("/interactions/timestamp", d.inter_time);
    if (d.has_rating()) f.write_f32("/interactions/rating", d.inter_rating);
    for (const auto& kv : d.inter_text) {
      GREC_CHECK(!reserved_inter_name(kv.first), "interaction field may not be named '{}'",
                 kv.first);
      f.write_strings("/interactions/" + kv.first, kv.second);
    }
    f.write_i64("/sequences/offsets", d.seq_offsets);
    f.write_i64("/sequences/items", d.seq_items);
    f.write_i64("/split/train_end", d.train_end);
    f.write_i64("/split/valid_end", d.valid_end);
    write_attrs(f, d);
    f.close();
    std::error_code ec;
    fs::rename(tmp, path, ec);
    if (ec) user_error("cannot rename '{}' to '{}': {}", tmp, path, ec.message());
  } catch (...) {
    std::error_code ec;
    fs::remove(tmp, ec);
    throw;
  }
}

Dataset read_dataset(const std::string& path) {
  h5::File f = h5::File::open(path);
  if (!f.has_attr("/", "format_version") || !f.has_attr("/", "metadata_json")) {
    user_error("{}: not a grec dataset (no format_version attribute)", path);
  }
  const int64_t version = f.attr_i64("/", "format_version");
  if (version != kDatasetFormatVersion) {
    user_error("{}: dataset format version {} is not supported (this grec reads version {})", path,
               version, kDatasetFormatVersion);
  }
  for (const char* obj : {"/items/raw_id", "/users/raw_id", "/interactions/user",
                          "/interactions/item", "/interactions/timestamp", "/sequences/offsets",
                          "/sequences/items", "/split/train_end", "/split/valid_end"}) {
    if (!f.exists(obj)) user_error("{}: dataset '{}' is missing", path, obj);
  }
  Dataset d;
  nlohmann::json meta = nlohmann::json::parse(f.attr_string("/", "metadata_json"));
  d.item_raw_ids = f.read_strings("/items/raw_id");
  for (const auto& name : meta.value("item_text_fields", nlohmann::json::array())) {
    d.item_text[name] = f.read_strings("/items/" + name.get<std::string>());
  }
  for (const auto& name : meta.value("item_int_fields", nlohmann::json::array())) {
    d.item_ints[name] = f.read_i64("/items/" + name.get<std::string>());
  }
  d.user_raw_ids = f.read_strings("/users/raw_id");
  d.inter_user = f.read_i64("/interactions/user");
  d.inter_item = f.read_i64("/interactions/item");
  d.inter_time = f.read_i64("/interactions/timestamp");
  if (f.exists("/interactions/rating")) d.inter_rating = f.read_f32("/interactions/rating");
  for (const auto& name : meta.value("interaction_text_fields", nlohmann::json::array())) {
    d.inter_text[name] = f.read_strings("/interactions/" + name.get<std::string>());
  }
  d.seq_offsets = f.read_i64("/sequences/offsets");
  d.seq_items = f.read_i64("/sequences/items");
  d.train_end = f.read_i64("/split/train_end");
  d.valid_end = f.read_i64("/split/valid_end");
  // Drop what write_attrs derives, so a read-then-write round trip is exact.
  for (const char* k :
       {"format_version", "num_users", "num_items", "num_interactions", "item_text_fields",
        "item_int_fields", "interaction_text_fields", "has_rating"}) {
    meta.erase(k);
  }
  d.attrs = meta;
  try {
    validate(d);
  } catch (const UserError&) {
    throw;
  } catch (const Error& e) {
    user_error("{}: invalid dataset: {}", path, e.what());
  }
  return d;
}

}  // namespace grec::data
