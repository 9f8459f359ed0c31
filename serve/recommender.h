// Recommendations from a serving bundle (export/bundle.h): the LLM by trie-constrained beam search
// over the semantic-ID tuples (the same prompt, tokenizer and search as stage evaluate), or the
// student (SASRec) by full ranking. Queries name items by their raw ids; unknown ids are skipped
// with a warning, and a query with no known item is rejected. Answers do not depend on which
// other queries share a batch, so the HTTP server may micro-batch freely.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace grec::bundle {
class Bundle;
}

namespace grec::serve {

struct Query {
  std::vector<std::string> history;  // raw item ids, oldest first
  int64_t k = 10;
  std::string model = "llm";         // "llm" | "student"
  bool exclude_history = false;      // leave the history's items out of the list (stage
                                     // evaluate ranks the LLM without excluding them)
};

struct RecommendedItem {
  int64_t item = -1;   // dense id (row of items.jsonl)
  std::string id;      // raw id
  std::string title;   // item text ("" when the dataset has none)
  double score = 0;    // llm: sequence log-probability of the item's ID tokens; student: logit
};

struct Answer {
  std::vector<RecommendedItem> items;  // best first, at most k
  std::vector<std::string> warnings;   // e.g. unknown raw ids that were skipped
  std::string error;                   // non-empty: the query was rejected (a user error)
};

// What `grec recommend` and `grec serve` call. Not thread-safe: one caller at a time (the server's
// batching thread).
class Recommender {
 public:
  virtual ~Recommender() = default;
  // "llm" and/or "student", as the bundle holds them.
  virtual std::vector<std::string> models() const = 0;
  // The largest k a query for `model` may ask (llm: the beam count; student: the item count).
  virtual int64_t max_k(const std::string& model) const = 0;
  // One answer per query, in order. Queries for several models are allowed (grouped inside);
  // a bad query gets Answer::error and does not affect the others.
  virtual std::vector<Answer> recommend(const std::vector<Query>& queries) = 0;
};

struct RecommenderOptions {
  int64_t batch_size = 32;  // LLM prompts decoded together (each with num_beams hypotheses)
  int64_t num_beams = 0;    // 0 = the bundle's generation_config.json num_beams
};

// Over a loaded bundle (UserError when it holds neither model).
std::unique_ptr<Recommender> make_bundle_recommender(std::shared_ptr<const bundle::Bundle> bundle,
                                                     RecommenderOptions options = {});

}  // namespace grec::serve
