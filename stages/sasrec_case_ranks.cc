// SASRec per-case ranks (see sasrec_case_ranks.h).
#include "stages/sasrec_case_ranks.h"

#include <filesystem>
#include <unordered_map>

#include "core/fs.h"
#include "eval/ranking.h"

namespace grec::stages {

std::string sasrec_case_ranks_path(const RunDir& run) {
  return run.artifacts("sasrec") + "/case_ranks.json";
}

nlohmann::json read_sasrec_case_ranks(const RunDir& run, std::string* why) {
  const std::string path = sasrec_case_ranks_path(run);
  if (!std::filesystem::exists(path)) {
    *why = path + " does not exist (run stage sasrec, with --force if it is cached)";
    return nullptr;
  }
  try {
    return nlohmann::json::parse(read_file(path));
  } catch (const nlohmann::json::exception& e) {
    *why = path + " is not valid JSON: " + e.what();
    return nullptr;
  }
}

nlohmann::json sasrec_metrics_for_users(const nlohmann::json& j, const std::string& split,
                                        const std::vector<int64_t>& users,
                                        const std::vector<int64_t>& ks, std::string* why) {
  if (j.is_null()) return nullptr;  // *why was set by read_sasrec_case_ranks
  if (!j.contains(split)) {
    *why = "the SASRec ranks have no split '" + split + "'";
    return nullptr;
  }
  const auto u = j[split].at("users").get<std::vector<int64_t>>();
  const auto r = j[split].at("ranks").get<std::vector<int64_t>>();
  if (u.size() != r.size()) {
    *why = "the SASRec " + split + " users and ranks differ in length";
    return nullptr;
  }
  std::vector<std::vector<int64_t>> held;
  if (j[split].contains("held_out_ranks")) {
    held = j[split]["held_out_ranks"].get<std::vector<std::vector<int64_t>>>();
    if (held.size() != u.size()) {
      *why = "the SASRec " + split + " users and held-out ranks differ in length";
      return nullptr;
    }
  }
  std::unordered_map<int64_t, size_t> case_of;
  for (size_t i = 0; i < u.size(); ++i) case_of.emplace(u[i], i);
  std::vector<int64_t> picked;
  std::vector<std::vector<int64_t>> picked_held;
  picked.reserve(users.size());
  for (int64_t user : users) {
    auto it = case_of.find(user);
    if (it == case_of.end()) {
      *why = "the SASRec ranks have no " + split + " rank for user " + std::to_string(user);
      return nullptr;
    }
    picked.push_back(r[it->second]);
    if (!held.empty()) picked_held.push_back(held[it->second]);
  }
  eval::RankingOptions o;
  o.ks = ks;
  o.mask_history = j.value("mask_history", false);
  return eval::metrics_from_ranks(picked, o, held.empty() ? nullptr : &picked_held);
}

}  // namespace grec::stages
