// The body of POST /v1/recommend: parsing and validation into a serve::Query, or the HTTP status
// and one-sentence message of what is wrong with it.
//
//   {"history": ["raw id", ...], "k": 10, "model": "llm" | "student", "exclude_history": false}
//
// history is required and non-empty; its entries are strings, or JSON integers, which stand for
// their decimal text (raw ids such as MovieLens' are numeric, so 1193 and "1193" name the same
// item). k defaults to 10 (capped to the model's max_k when that is smaller), model to "llm"
// when the server has it (else its first model), exclude_history to false (as `grec recommend`
// and evaluate: the list is what the model ranked). Unknown top-level
// fields are rejected, so a typo ("histroy", "top_k") is an error rather than a silent default.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "serve/recommender.h"

namespace grec::serve {

// What the server's recommender offers, captured once (the recommender is not thread-safe, the
// parser runs on every HTTP thread).
struct ModelInfo {
  std::string name;   // "llm" | "student"
  int64_t max_k = 0;  // largest k a query may ask
};

struct ModelCatalog {
  std::vector<ModelInfo> models;

  static ModelCatalog of(const Recommender& recommender);
  const ModelInfo* find(const std::string& name) const;
  // "llm" when present, else the first model ("" when there is none).
  std::string default_model() const;
  // "llm, student"
  std::string names() const;
};

inline constexpr int64_t kDefaultK = 10;
inline constexpr bool kDefaultExcludeHistory = false;  // the same default as grec recommend

struct ParsedRequest {
  bool ok = false;
  Query query;          // valid when ok
  int status = 400;     // when !ok
  std::string error;    // when !ok: one sentence naming the problem
};

ParsedRequest parse_recommend_request(const std::string& body, const ModelCatalog& catalog);

}  // namespace grec::serve
