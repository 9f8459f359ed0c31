// Dataset statistics (see stats.h).
#include "data_pipeline/stats.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "core/table.h"

namespace grec::data {

nlohmann::json dataset_stats(const Dataset& d) {
  nlohmann::json s;
  const int64_t U = d.num_users(), I = d.num_items(), N = d.num_interactions();
  s["users"] = U;
  s["items"] = I;
  s["interactions"] = N;
  s["density"] = U > 0 && I > 0 ? double(N) / (double(U) * double(I)) : 0.0;
  std::vector<int64_t> len(static_cast<size_t>(U));
  int64_t n_train = 0, n_valid = 0, n_test = 0, u_valid = 0, u_test = 0;
  for (int64_t u = 0; u < U; ++u) {
    len[size_t(u)] = d.length(u);
    n_train += d.train_end[size_t(u)];
    n_valid += d.valid_end[size_t(u)] - d.train_end[size_t(u)];
    n_test += d.length(u) - d.valid_end[size_t(u)];
    u_valid += d.valid_end[size_t(u)] > d.train_end[size_t(u)];
    u_test += d.length(u) > d.valid_end[size_t(u)];
  }
  std::sort(len.begin(), len.end());
  nlohmann::json sl;
  if (U > 0) {
    // Nearest-rank percentiles.
    auto pct = [&](double p) {
      const size_t r = size_t(std::max(1.0, std::ceil(p / 100.0 * double(U))));
      return len[std::min(r, size_t(U)) - 1];
    };
    sl["min"] = len.front();
    for (int p : {25, 50, 75, 90, 99}) sl[fmt::format("p{}", p)] = pct(p);
    sl["max"] = len.back();
    sl["mean"] = double(N) / double(U);
  }
  s["sequence_length"] = sl;
  s["split"] = {{"kind", d.attrs.value("split", "leave_one_out")},
                {"train", n_train},
                {"valid", n_valid},
                {"test", n_test},
                {"users_with_valid", u_valid},
                {"users_with_test", u_test}};
  s["has_rating"] = d.has_rating();
  if (d.has_rating()) {
    double sum = 0;
    for (float r : d.inter_rating) sum += r;
    s["rating_mean"] = N > 0 ? sum / double(N) : 0.0;
  }
  nlohmann::json cov = nlohmann::json::object();
  for (const auto& kv : d.item_text) {
    int64_t filled = 0;
    for (const auto& t : kv.second) filled += !t.empty();
    cov[kv.first] = I > 0 ? double(filled) / double(I) : 0.0;
  }
  s["text_coverage"] = cov;
  nlohmann::json icov = nlohmann::json::object();
  for (const auto& kv : d.inter_text) {
    int64_t filled = 0;
    for (const auto& t : kv.second) filled += !t.empty();
    icov[kv.first] = N > 0 ? double(filled) / double(N) : 0.0;
  }
  s["interaction_text_coverage"] = icov;
  if (!d.item_ints.empty()) {
    nlohmann::json ints = nlohmann::json::array();
    for (const auto& kv : d.item_ints) ints.push_back(kv.first);
    s["item_int_fields"] = ints;
  }
  for (const char* k : {"source", "timestamp_kind", "skipped_lines"}) {
    if (d.attrs.contains(k)) s[k] = d.attrs[k];
  }
  return s;
}

std::string stats_table(const nlohmann::json& s) {
  Table t({"statistic", "value"});
  auto num = [](const nlohmann::json& v) {
    if (v.is_number_float()) return fmt::format("{:.6g}", v.get<double>());
    if (v.is_string()) return v.get<std::string>();
    return v.dump();
  };
  for (const char* k : {"source", "users", "items", "interactions", "density"}) {
    if (s.contains(k)) t.add_row({k, num(s[k])});
  }
  if (s.contains("sequence_length")) {
    const auto& sl = s["sequence_length"];
    for (const char* k : {"min", "p25", "p50", "p75", "p90", "p99", "max", "mean"}) {
      if (sl.contains(k)) t.add_row({std::string("sequence length ") + k, num(sl[k])});
    }
  }
  if (s.contains("split")) {
    const auto& sp = s["split"];
    for (const char* k :
         {"kind", "train", "valid", "test", "users_with_valid", "users_with_test"}) {
      if (sp.contains(k)) t.add_row({std::string("split ") + k, num(sp[k])});
    }
  }
  if (s.contains("rating_mean")) t.add_row({"rating mean", num(s["rating_mean"])});
  for (const char* group : {"text_coverage", "interaction_text_coverage"}) {
    if (!s.contains(group)) continue;
    for (auto it = s[group].begin(); it != s[group].end(); ++it) {
      t.add_row({std::string(group == std::string("text_coverage") ? "item text " : "event text ") +
                     it.key() + " coverage",
                 fmt::format("{:.1f}%", 100.0 * it.value().get<double>())});
    }
  }
  if (s.contains("timestamp_kind")) t.add_row({"timestamps", num(s["timestamp_kind"])});
  if (s.contains("skipped_lines")) t.add_row({"skipped bad lines", num(s["skipped_lines"])});
  return t.render();
}

}  // namespace grec::data
