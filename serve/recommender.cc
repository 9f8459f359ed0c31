// The recommender over a serving bundle; see recommender.h.
#include "serve/recommender.h"

#include <algorithm>
#include <limits>
#include <map>

#include <fmt/format.h>
#include <torch/torch.h>

#include "core/error.h"
#include "eval/generative.h"
#include "export/bundle.h"
#include "tokenizer/prompt_encoding.h"

namespace grec::serve {
namespace {

// A query resolved to dense ids, or rejected.
struct Resolved {
  std::vector<int64_t> history;
  std::vector<std::string> warnings;
  std::string error;
};

class BundleRecommender : public Recommender {
 public:
  BundleRecommender(std::shared_ptr<const bundle::Bundle> b, RecommenderOptions o)
      : bundle_(std::move(b)), options_(o) {
    if (!bundle_->has_llm() && !bundle_->has_student()) {
      user_error("bundle {} holds neither an LLM nor a student", bundle_->dir);
    }
    if (bundle_->has_llm()) {
      lm_ = bundle_->llm;  // shares the module; forward needs a non-const handle
      beams_ = options_.num_beams > 0 ? options_.num_beams : bundle_->num_beams;
      if (beams_ < 1) user_error("the beam count must be at least 1 (got {})", beams_);
    }
    if (bundle_->has_student()) student_ = bundle_->student;
    if (options_.batch_size < 1) user_error("the batch size must be at least 1 (got {})", options_.batch_size);
  }

  std::vector<std::string> models() const override {
    std::vector<std::string> m;
    if (bundle_->has_llm()) m.push_back("llm");
    if (bundle_->has_student()) m.push_back("student");
    return m;
  }

  int64_t max_k(const std::string& model) const override {
    if (model == "llm" && bundle_->has_llm()) {
      return std::min<int64_t>(beams_, bundle_->trie.num_items());
    }
    if (model == "student" && bundle_->has_student()) return bundle_->student->options().num_items();
    return 0;
  }

  std::vector<Answer> recommend(const std::vector<Query>& queries) override {
    std::vector<Answer> answers(queries.size());
    std::map<std::string, std::vector<size_t>> by_model;
    std::vector<Resolved> resolved(queries.size());
    for (size_t i = 0; i < queries.size(); ++i) {
      resolved[i] = resolve(queries[i]);
      answers[i].warnings = resolved[i].warnings;
      answers[i].error = resolved[i].error;
      if (resolved[i].error.empty()) by_model[queries[i].model].push_back(i);
    }
    torch::NoGradGuard no_grad;
    if (by_model.count("llm")) answer_llm(queries, resolved, by_model["llm"], answers);
    if (by_model.count("student")) answer_student(queries, resolved, by_model["student"], answers);
    return answers;
  }

 private:
  Resolved resolve(const Query& q) const {
    Resolved r;
    const int64_t max = max_k(q.model);
    if (max == 0) {
      r.error = fmt::format("model '{}' is not in this bundle (it has: {})", q.model,
                            fmt::join(models(), ", "));
      return r;
    }
    if (q.k < 1 || q.k > max) {
      r.error = fmt::format("k must be in [1, {}] for model '{}' (got {})", max, q.model, q.k);
      return r;
    }
    if (q.history.empty()) {
      r.error = "the history is empty: give at least one item id";
      return r;
    }
    std::vector<std::string> unknown;
    for (const std::string& raw : q.history) {
      const int64_t item = bundle_->item_of(raw);
      if (item < 0) {
        unknown.push_back(raw);
      } else {
        r.history.push_back(item);
      }
    }
    if (r.history.empty()) {
      r.error = fmt::format("none of the history's item ids is in the bundle: {}",
                            fmt::join(unknown, ", "));
    } else if (!unknown.empty()) {
      r.warnings.push_back(fmt::format("unknown item ids skipped: {}", fmt::join(unknown, ", ")));
    }
    return r;
  }

  RecommendedItem item(int64_t i, double score) const {
    const auto& it = bundle_->items[i];
    return {i, it.raw_id, it.title, score};
  }

  void answer_llm(const std::vector<Query>& queries, const std::vector<Resolved>& resolved,
                  const std::vector<size_t>& which, std::vector<Answer>& answers) {
    const bundle::Bundle& b = *bundle_;
    std::vector<std::vector<int64_t>> prompts;
    for (size_t i : which) {
      std::vector<std::string> tokens;
      for (int64_t item : resolved[i].history) tokens.push_back(b.items[item].tokens);
      prompts.push_back(tok::encode_prompt(*b.tokenizer, b.prompt.fill(tokens), b.prompt.max_prompt_tokens));
    }
    eval::GenerativeOptions gen;
    gen.num_beams = beams_;
    gen.batch_size = options_.batch_size;
    gen.pad_id = std::max<int64_t>(0, b.tokenizer->pad_id());
    const auto hits = eval::generate_hits(lm_, prompts, b.trie, b.token_ids, gen);
    for (size_t j = 0; j < which.size(); ++j) {
      const size_t i = which[j];
      const Query& q = queries[i];
      auto& out = answers[i].items;
      for (const auto& h : hits[j]) {
        if (static_cast<int64_t>(out.size()) == q.k) break;
        if (q.exclude_history && std::count(resolved[i].history.begin(), resolved[i].history.end(), h.item)) continue;
        out.push_back(item(h.item, h.score));
      }
      if (static_cast<int64_t>(out.size()) < q.k) {
        answers[i].warnings.push_back(fmt::format(
            "{} of the {} beams were history items: {} items returned", hits[j].size() - out.size(),
            hits[j].size(), out.size()));
      }
    }
  }

  void answer_student(const std::vector<Query>& queries, const std::vector<Resolved>& resolved,
                      const std::vector<size_t>& which, std::vector<Answer>& answers) {
    const int64_t max_len = student_->options().max_len();
    for (size_t start = 0; start < which.size(); start += options_.batch_size) {
      const size_t end = std::min(which.size(), start + static_cast<size_t>(options_.batch_size));
      int64_t width = 1;
      for (size_t j = start; j < end; ++j) {
        width = std::max<int64_t>(width, std::min<int64_t>(max_len, resolved[which[j]].history.size()));
      }
      const int64_t rows = static_cast<int64_t>(end - start);
      std::vector<int64_t> seq(rows * width, 0);  // left padding with 0; item i is i + 1
      for (size_t j = start; j < end; ++j) {
        const auto& h = resolved[which[j]].history;
        const int64_t n = std::min<int64_t>(width, h.size());
        for (int64_t t = 0; t < n; ++t) {
          seq[(j - start) * width + (width - n) + t] = h[h.size() - n + t] + 1;
        }
      }
      torch::Tensor scores = student_->score_all(torch::tensor(seq, torch::kLong).view({rows, width}))
                                 .to(torch::kFloat)
                                 .cpu();
      for (size_t j = start; j < end; ++j) {
        const size_t i = which[j];
        torch::Tensor row = scores[j - start].clone();
        if (queries[i].exclude_history) {
          for (int64_t item : resolved[i].history) row[item] = -std::numeric_limits<float>::infinity();
        }
        // Ties broken by the smaller item id (sort is stable on the descending scores).
        const auto sorted = row.sort(/*stable=*/true, /*dim=*/0, /*descending=*/true);
        const auto idx = std::get<1>(sorted);
        const auto val = std::get<0>(sorted);
        const int64_t k = std::min<int64_t>(queries[i].k, row.size(0));
        for (int64_t r = 0; r < k; ++r) {
          const float v = val[r].item<float>();
          if (v == -std::numeric_limits<float>::infinity()) break;
          answers[i].items.push_back(item(idx[r].item<int64_t>(), v));
        }
      }
    }
  }

  std::shared_ptr<const bundle::Bundle> bundle_;
  RecommenderOptions options_;
  model::CausalLM lm_{nullptr};
  model::SASRec student_{nullptr};
  int64_t beams_ = 0;
};

}  // namespace

std::unique_ptr<Recommender> make_bundle_recommender(std::shared_ptr<const bundle::Bundle> bundle,
                                                     RecommenderOptions options) {
  return std::make_unique<BundleRecommender>(std::move(bundle), options);
}

}  // namespace grec::serve
