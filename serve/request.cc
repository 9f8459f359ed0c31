// Parsing and validation of POST /v1/recommend bodies (serve/request.h).
#include "serve/request.h"

#include <algorithm>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace grec::serve {

namespace {

using nlohmann::json;

const std::set<std::string>& known_fields() {
  static const std::set<std::string> fields{"history", "k", "model", "exclude_history"};
  return fields;
}

ParsedRequest fail(std::string message, int status = 400) {
  ParsedRequest r;
  r.ok = false;
  r.status = status;
  r.error = std::move(message);
  return r;
}

// nlohmann's messages start with "[json.exception.parse_error.101] "; the id helps nobody here.
std::string without_exception_id(const std::string& what) {
  if (!what.empty() && what.front() == '[') {
    const auto end = what.find("] ");
    if (end != std::string::npos) return what.substr(end + 2);
  }
  return what;
}

// The text of a history entry: a string as is, an integer as its decimal digits.
bool history_entry(const json& v, std::string* out) {
  if (v.is_string()) {
    *out = v.get<std::string>();
    return true;
  }
  if (v.is_number_unsigned()) {
    *out = std::to_string(v.get<uint64_t>());
    return true;
  }
  if (v.is_number_integer()) {
    *out = std::to_string(v.get<int64_t>());
    return true;
  }
  return false;
}

}  // namespace

ModelCatalog ModelCatalog::of(const Recommender& recommender) {
  ModelCatalog c;
  for (const auto& name : recommender.models()) c.models.push_back({name, recommender.max_k(name)});
  return c;
}

const ModelInfo* ModelCatalog::find(const std::string& name) const {
  for (const auto& m : models) {
    if (m.name == name) return &m;
  }
  return nullptr;
}

std::string ModelCatalog::default_model() const {
  if (find("llm")) return "llm";
  return models.empty() ? "" : models.front().name;
}

std::string ModelCatalog::names() const {
  std::string s;
  for (const auto& m : models) s += (s.empty() ? "" : ", ") + m.name;
  return s;
}

ParsedRequest parse_recommend_request(const std::string& body, const ModelCatalog& catalog) {
  if (body.find_first_not_of(" \t\r\n") == std::string::npos) {
    return fail("the request body is empty; expected a JSON object such as "
                "{\"history\": [\"item id\", ...]}");
  }
  json j;
  try {
    j = json::parse(body);
  } catch (const json::parse_error& e) {
    return fail(fmt::format("the request body is not valid JSON (byte {}): {}", e.byte,
                            without_exception_id(e.what())));
  }
  if (!j.is_object()) {
    return fail(fmt::format("the request body must be a JSON object, not {} {}",
                            j.is_array() ? "an" : "a", j.type_name()));
  }

  std::vector<std::string> unknown;
  for (const auto& [key, value] : j.items()) {
    if (!known_fields().count(key)) unknown.push_back("'" + key + "'");
  }
  if (!unknown.empty()) {
    std::string list;
    for (const auto& u : unknown) list += (list.empty() ? "" : ", ") + u;
    return fail(fmt::format("unknown field{} {} (the fields are history, k, model, "
                            "exclude_history)",
                            unknown.size() > 1 ? "s" : "", list));
  }

  ParsedRequest r;
  Query& q = r.query;

  // history
  if (!j.contains("history")) {
    return fail("'history' is missing: give the user's item ids, oldest first, e.g. "
                "{\"history\": [\"1193\", \"661\"]}");
  }
  const json& h = j["history"];
  if (!h.is_array()) {
    return fail(fmt::format("'history' must be an array of item ids, not a {}", h.type_name()));
  }
  if (h.empty()) return fail("'history' is empty: give at least one item id");
  q.history.reserve(h.size());
  for (size_t i = 0; i < h.size(); ++i) {
    std::string id;
    if (!history_entry(h[i], &id)) {
      if (h[i].is_number_float()) {
        return fail(fmt::format("'history[{}]' is the non-integer number {}; item ids are strings "
                                "or integers",
                                i, h[i].dump()));
      }
      return fail(fmt::format("'history[{}]' must be an item id (a string or an integer), not {} {}",
                              i, h[i].is_array() || h[i].is_object() ? "an" : "a",
                              h[i].type_name()));
    }
    q.history.push_back(std::move(id));
  }

  // model
  if (catalog.models.empty()) return fail("the server has no model loaded", 500);
  q.model = catalog.default_model();
  if (j.contains("model")) {
    const json& m = j["model"];
    if (!m.is_string()) {
      return fail(fmt::format("'model' must be a string ({}), not a {}", catalog.names(),
                              m.type_name()));
    }
    q.model = m.get<std::string>();
  }
  const ModelInfo* model = catalog.find(q.model);
  if (!model) {
    return fail(fmt::format("unknown model '{}' (this server has: {})", q.model, catalog.names()));
  }

  // k
  q.k = std::min(kDefaultK, model->max_k);
  if (j.contains("k")) {
    const json& k = j["k"];
    const bool integral = k.is_number_integer() || k.is_number_unsigned();
    if (!integral) {
      return fail(fmt::format("'k' must be an integer between 1 and {}, not {}", model->max_k,
                              k.is_number() ? k.dump() : std::string("a ") + k.type_name()));
    }
    const bool in_range = k.is_number_unsigned()
                              ? k.get<uint64_t>() >= 1 &&
                                    k.get<uint64_t>() <= static_cast<uint64_t>(model->max_k)
                              : k.get<int64_t>() >= 1 && k.get<int64_t>() <= model->max_k;
    if (!in_range) {
      return fail(fmt::format("'k' must be between 1 and {} for model '{}', got {}", model->max_k,
                              q.model, k.dump()));
    }
    q.k = k.get<int64_t>();
  }

  // exclude_history: the HTTP default is set here, not taken from Query's.
  q.exclude_history = kDefaultExcludeHistory;
  if (j.contains("exclude_history")) {
    const json& e = j["exclude_history"];
    if (!e.is_boolean()) {
      return fail(fmt::format("'exclude_history' must be true or false, not {}",
                              e.is_string() || e.is_number() ? e.dump()
                                                             : std::string("a ") + e.type_name()));
    }
    q.exclude_history = e.get<bool>();
  }

  r.ok = true;
  r.status = 200;
  return r;
}

}  // namespace grec::serve
