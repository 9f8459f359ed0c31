// Processing of raw events into a Dataset (see build.h and docs/dataset.md, "Processing").
#include "data_pipeline/build.h"

#include <algorithm>
#include <numeric>

#include "core/error.h"
#include "core/log.h"
#include "data_pipeline/text_input.h"

namespace grec::data {

std::vector<int64_t> rank_raw_ids(const std::vector<std::string>& raw_ids) {
  const size_t n = raw_ids.size();
  std::vector<int64_t> num(n);
  bool numeric = true;
  for (size_t k = 0; k < n && numeric; ++k) numeric = parse_i64(raw_ids[k], &num[k]);
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  if (numeric) {
    std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
      return num[a] != num[b] ? num[a] < num[b] : raw_ids[a] < raw_ids[b];
    });
  } else {
    std::sort(order.begin(), order.end(),
              [&](int64_t a, int64_t b) { return raw_ids[a] < raw_ids[b]; });
  }
  std::vector<int64_t> rank(n);
  for (size_t r = 0; r < n; ++r) rank[size_t(order[r])] = int64_t(r);
  return rank;
}

Dataset build_dataset(RawData&& raw, const IngestOptions& o) {
  const size_t n_raw = raw.size();
  const size_t U = raw.users.size(), I = raw.items.size();
  const bool has_rating = !raw.rating.empty();
  const bool presplit = !raw.part.empty();
  GREC_CHECK(!has_rating || raw.rating.size() == n_raw, "rating rows {} != events {}",
             raw.rating.size(), n_raw);
  if (o.min_rating > 0 && !has_rating) {
    user_error("--min-rating / ingest.min_rating is {} but the source '{}' has no ratings",
               o.min_rating, raw.source);
  }

  // 1. Rating threshold, then a stable counting sort by user (file order kept inside a user).
  std::vector<int64_t> count(U + 1, 0);
  int64_t rating_dropped = 0;
  std::vector<uint8_t> keep(n_raw, 1);
  for (size_t e = 0; e < n_raw; ++e) {
    if (has_rating && o.min_rating > 0 && raw.rating[e] < o.min_rating) {
      keep[e] = 0;
      ++rating_dropped;
      continue;
    }
    ++count[size_t(raw.user[e]) + 1];
  }
  std::partial_sum(count.begin(), count.end(), count.begin());
  std::vector<int64_t> idx(static_cast<size_t>(count[U]));
  {
    std::vector<int64_t> fill(count.begin(), count.end() - 1);
    for (size_t e = 0; e < n_raw; ++e) {
      if (keep[e]) idx[size_t(fill[size_t(raw.user[e])]++)] = int64_t(e);
    }
  }
  // 2. Stable sort by time inside each user; 3. drop repeated (user, item), keeping the first.
  std::vector<int64_t> seen(I, -1);
  std::vector<int64_t> ev;  // kept event indices grouped by interned user, in time order
  ev.reserve(idx.size());
  std::vector<int64_t> ubeg(U), uend(U);
  int64_t duplicates = 0;
  for (size_t u = 0; u < U; ++u) {
    auto b = idx.begin() + count[u], e = idx.begin() + count[u + 1];
    auto by_time = [&](int64_t x, int64_t y) { return raw.time[size_t(x)] < raw.time[size_t(y)]; };
    if (!std::is_sorted(b, e, by_time)) std::stable_sort(b, e, by_time);
    ubeg[u] = int64_t(ev.size());
    for (auto it = b; it != e; ++it) {
      const int32_t item = raw.item[size_t(*it)];
      if (seen[size_t(item)] == int64_t(u)) {
        ++duplicates;
        continue;
      }
      seen[size_t(item)] = int64_t(u);
      ev.push_back(*it);
    }
    uend[u] = int64_t(ev.size());
  }
  idx.clear();
  idx.shrink_to_fit();

  // 4. Iterative k-core: drop users and items below the thresholds until none is.
  int64_t kcore_rounds = 0, kcore_dropped = 0;
  std::vector<uint8_t> alive(ev.size(), 1);
  if (o.min_user > 0 || o.min_item > 0) {
    std::vector<int64_t> ucnt(U), icnt(I);
    while (true) {
      std::fill(ucnt.begin(), ucnt.end(), 0);
      std::fill(icnt.begin(), icnt.end(), 0);
      for (size_t u = 0; u < U; ++u) {
        for (int64_t k = ubeg[u]; k < uend[u]; ++k) {
          if (!alive[size_t(k)]) continue;
          ++ucnt[u];
          ++icnt[size_t(raw.item[size_t(ev[size_t(k)])])];
        }
      }
      int64_t dropped = 0;
      for (size_t u = 0; u < U; ++u) {
        for (int64_t k = ubeg[u]; k < uend[u]; ++k) {
          if (!alive[size_t(k)]) continue;
          const size_t item = size_t(raw.item[size_t(ev[size_t(k)])]);
          if (ucnt[u] < o.min_user || icnt[item] < o.min_item) {
            alive[size_t(k)] = 0;
            ++dropped;
          }
        }
      }
      ++kcore_rounds;
      kcore_dropped += dropped;
      if (dropped == 0) break;
    }
  }

  // 5. Dense ids for the users and items that are left, ordered by raw id.
  std::vector<int64_t> ucnt(U, 0);
  std::vector<uint8_t> item_used(I, 0);
  int64_t n_kept = 0;
  for (size_t u = 0; u < U; ++u) {
    for (int64_t k = ubeg[u]; k < uend[u]; ++k) {
      if (!alive[size_t(k)]) continue;
      ++ucnt[u];
      item_used[size_t(raw.item[size_t(ev[size_t(k)])])] = 1;
      ++n_kept;
    }
  }
  if (n_kept == 0) {
    user_error(
        "no interactions left after filtering {} raw events of '{}' (min_rating {}, "
        "min_user {}, min_item {}); no dataset written",
        n_raw, raw.source, o.min_rating, o.min_user, o.min_item);
  }
  std::vector<int64_t> kept_users, kept_items;  // interned ids
  std::vector<std::string> user_names, item_names;
  for (size_t u = 0; u < U; ++u) {
    if (ucnt[u] > 0) {
      kept_users.push_back(int64_t(u));
      user_names.push_back(raw.users.name(u));
    }
  }
  for (size_t i = 0; i < I; ++i) {
    if (item_used[i]) {
      kept_items.push_back(int64_t(i));
      item_names.push_back(raw.items.name(i));
    }
  }
  const std::vector<int64_t> urank = rank_raw_ids(user_names);
  const std::vector<int64_t> irank = rank_raw_ids(item_names);
  std::vector<int64_t> item_dense(I, -1);
  for (size_t k = 0; k < kept_items.size(); ++k) item_dense[size_t(kept_items[k])] = irank[k];
  std::vector<int64_t> user_by_dense(kept_users.size());
  for (size_t k = 0; k < kept_users.size(); ++k) user_by_dense[size_t(urank[k])] = kept_users[k];

  Dataset d;
  d.user_raw_ids.resize(kept_users.size());
  for (size_t k = 0; k < kept_users.size(); ++k) d.user_raw_ids[size_t(urank[k])] = user_names[k];
  d.item_raw_ids.resize(kept_items.size());
  for (size_t k = 0; k < kept_items.size(); ++k) d.item_raw_ids[size_t(irank[k])] = item_names[k];

  // 6. Interactions and sequences in dense user order; the split per user.
  const bool use_source_split = presplit && o.split != "loo";
  d.inter_user.reserve(size_t(n_kept));
  d.inter_item.reserve(size_t(n_kept));
  d.inter_time.reserve(size_t(n_kept));
  if (has_rating) d.inter_rating.reserve(size_t(n_kept));
  for (auto& kv : raw.event_text) d.inter_text[kv.first].reserve(size_t(n_kept));
  d.seq_offsets.reserve(kept_users.size() + 1);
  d.seq_offsets.push_back(0);
  int64_t users_short = 0;
  for (size_t du = 0; du < user_by_dense.size(); ++du) {
    const size_t u = size_t(user_by_dense[du]);
    int64_t n = 0, n_train = 0, n_valid = 0;
    for (int64_t k = ubeg[u]; k < uend[u]; ++k) {
      if (!alive[size_t(k)]) continue;
      const size_t e = size_t(ev[size_t(k)]);
      d.inter_user.push_back(int64_t(du));
      d.inter_item.push_back(item_dense[size_t(raw.item[e])]);
      d.inter_time.push_back(raw.time[e]);
      if (has_rating) d.inter_rating.push_back(raw.rating[e]);
      for (auto& kv : raw.event_text) d.inter_text[kv.first].push_back(std::move(kv.second[e]));
      if (presplit) {
        n_train += raw.part[e] == uint8_t(Part::kTrain);
        n_valid += raw.part[e] == uint8_t(Part::kValid);
      }
      ++n;
    }
    d.seq_offsets.push_back(d.seq_offsets.back() + n);
    if (use_source_split) {
      d.train_end.push_back(n_train);
      d.valid_end.push_back(n_train + n_valid);
    } else if (n >= 3) {
      d.train_end.push_back(n - 2);
      d.valid_end.push_back(n - 1);
    } else {
      // Too short to hold out two items: everything is training data (as in SASRec).
      d.train_end.push_back(n);
      d.valid_end.push_back(n);
      ++users_short;
    }
  }
  d.seq_items = d.inter_item;

  // 7. Item text (every field any kept item has; "" where unknown) and integer fields.
  std::vector<std::string> fields;
  for (const auto& kv : raw.item_meta) {
    for (const auto& f : kv.second) {
      if (std::find(fields.begin(), fields.end(), f.first) == fields.end())
        fields.push_back(f.first);
    }
  }
  int64_t items_with_meta = 0;
  for (const auto& f : fields) d.item_text[f].assign(d.item_raw_ids.size(), "");
  for (size_t di = 0; di < d.item_raw_ids.size(); ++di) {
    auto it = raw.item_meta.find(d.item_raw_ids[di]);
    if (it == raw.item_meta.end()) continue;
    ++items_with_meta;
    for (auto& f : it->second) d.item_text[f.first][di] = std::move(f.second);
  }
  for (const auto& kv : raw.item_ints) {
    auto& out = d.item_ints[kv.first];
    out.assign(d.item_raw_ids.size(), 0);
    for (size_t i = 0; i < I; ++i) {
      if (item_dense[i] >= 0) out[size_t(item_dense[i])] = kv.second[i];
    }
  }

  d.attrs["source"] = raw.source;
  d.attrs["format"] = o.format;
  d.attrs["split"] = use_source_split ? "source" : "leave_one_out";
  d.attrs["timestamp_kind"] = raw.has_time ? "unix_seconds" : "order";
  d.attrs["filters"] = {{"min_user", o.min_user},
                        {"min_item", o.min_item},
                        {"min_rating", o.min_rating},
                        {"dedupe", "keep_first"},
                        {"kcore_rounds", kcore_rounds}};
  d.attrs["raw_events"] = int64_t(n_raw);
  d.attrs["skipped_lines"] = raw.skipped_lines;
  d.attrs["dropped_rating"] = rating_dropped;
  d.attrs["dropped_duplicates"] = duplicates;
  d.attrs["dropped_kcore"] = kcore_dropped;
  d.attrs["users_without_holdout"] = users_short;
  d.attrs["items_with_metadata"] = items_with_meta;
  validate(d);
  return d;
}

}  // namespace grec::data
