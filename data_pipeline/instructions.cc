// LC-Rec instruction builders (see instructions.h): natural samples per task, then mixture
// weighting (whole copies + a seeded subsample) with a per-sample phrasing draw.
#include "data_pipeline/instructions.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <set>

#include "core/error.h"
#include "core/hash.h"
#include "data_pipeline/sequence_batches.h"  // SampleRng

namespace grec::data {
namespace {

// A natural (unweighted) sample: the phrasing kind and its placeholder values, still unwrapped.
struct Draft {
  std::string kind;  // phrasing kind (fusionseqrec has two)
  std::map<std::string, std::string> values;
  std::string response;
  int64_t user = -1, item = -1;
};

// Everything a task builder reads, resolved once.
struct Ctx {
  const Dataset& d;
  const std::vector<std::string>& tokens;
  const InstructionOptions& o;
  const std::vector<std::string>* text = nullptr;  // o.text_field, or null when absent
};

bool blank(const std::string& s) {
  return s.find_first_not_of(" \t\r\n") == std::string::npos;
}

// Seed of one decision: mixes the user's seed with a purpose string and up to two integers.
uint64_t mix_seed(uint64_t seed, const std::string& purpose, uint64_t a = 0, uint64_t b = 0) {
  uint64_t h = fnv1a64(&seed, sizeof seed);
  h = fnv1a64(purpose, h);
  h = fnv1a64(&a, sizeof a, h);
  return fnv1a64(&b, sizeof b, h);
}

// Items seq[max(begin, end - H) .. end) of user u as comma-separated IDs.
std::string id_history(const Ctx& c, int64_t u, int64_t end) {
  const int64_t* s = c.d.sequence(u);
  std::string out;
  for (int64_t k = std::max<int64_t>(0, end - c.o.max_history); k < end; ++k) {
    out += (out.empty() ? "" : ", ") + c.tokens[s[k]];
  }
  return out;
}

// The same window as quoted item texts; items without text are left out.
std::string text_history(const Ctx& c, int64_t u, int64_t end) {
  const int64_t* s = c.d.sequence(u);
  std::string out;
  for (int64_t k = std::max<int64_t>(0, end - c.o.max_history); k < end; ++k) {
    const std::string& t = (*c.text)[s[k]];
    if (!blank(t)) out += (out.empty() ? "\"" : ", \"") + t + "\"";
  }
  return out;
}

// Calls f(u, p) for every kept training prefix: history seq[..p), target seq[p],
// p in [1, train_end).
void for_each_prefix(const Ctx& c, const std::function<void(int64_t, int64_t)>& f) {
  for (int64_t u = 0; u < c.d.num_users(); ++u) {
    for (int64_t p = 1; p < c.d.train_end[u]; ++p) {
      if (!c.o.keep_prefix || c.o.keep_prefix(u, p)) f(u, p);
    }
  }
}

void build_seqrec(const Ctx& c, std::vector<Draft>& out) {
  for_each_prefix(c, [&](int64_t u, int64_t p) {
    const int64_t target = c.d.sequence(u)[p];
    out.push_back({"seqrec", {{"history", id_history(c, u, p)}}, c.tokens[target], u, target});
  });
}

// Items of the item-level tasks: all, or those occurring in some user's training part.
std::vector<int64_t> described_items(const Ctx& c) {
  std::vector<char> use(c.d.num_items(), c.o.item_tasks_all_items ? 1 : 0);
  for (int64_t u = 0; u < c.d.num_users(); ++u) {
    for (int64_t k = 0; k < c.d.train_end[u]; ++k) use[c.d.sequence(u)[k]] = 1;
  }
  std::vector<int64_t> items;
  for (int64_t i = 0; i < c.d.num_items(); ++i) {
    if (use[i] && !blank((*c.text)[i])) items.push_back(i);
  }
  return items;
}

void build_item2index(const Ctx& c, std::vector<Draft>& out) {
  for (int64_t i : described_items(c)) {
    out.push_back({"item2index", {{"text", (*c.text)[i]}}, c.tokens[i], -1, i});
  }
}

void build_index2item(const Ctx& c, std::vector<Draft>& out) {
  for (int64_t i : described_items(c)) {
    out.push_back({"index2item", {{"item", c.tokens[i]}}, (*c.text)[i], -1, i});
  }
}

// Both directions from each prefix: ID history -> next text, text history -> next ID.
void build_fusionseqrec(const Ctx& c, std::vector<Draft>& out) {
  for_each_prefix(c, [&](int64_t u, int64_t p) {
    const int64_t target = c.d.sequence(u)[p];
    const std::string& t = (*c.text)[target];
    if (!blank(t)) {
      out.push_back({"fusionseqrec_id2text", {{"history", id_history(c, u, p)}}, t, u, target});
    }
    std::string h = text_history(c, u, p);
    if (!h.empty()) {
      out.push_back({"fusionseqrec_text2id", {{"history", h}}, c.tokens[target], u, target});
    }
  });
}

// The query of the target interaction (a training one, so no held-out text is read).
void build_itemsearch(const Ctx& c, const std::vector<std::string>& query,
                      std::vector<Draft>& out) {
  for_each_prefix(c, [&](int64_t u, int64_t p) {
    const std::string& q = query[c.d.seq_offsets[u] + p];
    if (blank(q)) return;
    const int64_t target = c.d.sequence(u)[p];
    out.push_back({"itemsearch", {{"history", id_history(c, u, p)}, {"query", q}},
                   c.tokens[target], u, target});
  });
}

// The summary stored on interaction k describes the history up to and including k.
void build_preferenceobtain(const Ctx& c, const std::vector<std::string>& pref,
                            std::vector<Draft>& out) {
  for (int64_t u = 0; u < c.d.num_users(); ++u) {
    for (int64_t k = 0; k < c.d.train_end[u]; ++k) {
      const std::string& s = pref[c.d.seq_offsets[u] + k];
      if (blank(s)) continue;
      out.push_back({"preferenceobtain", {{"history", id_history(c, u, k + 1)}}, s, u, -1});
    }
  }
}

// The natural samples of `task`, or false with a reason when its inputs are absent.
bool build_task(const Ctx& c, const std::string& task, std::vector<Draft>& out,
                std::string& reason) {
  if (task == "seqrec") {
    build_seqrec(c, out);
    return true;
  }
  if (task == "itemsearch") {
    for (const auto& f : c.o.query_fields) {
      auto it = c.d.inter_text.find(f);
      if (it != c.d.inter_text.end()) {
        build_itemsearch(c, it->second, out);
        return true;
      }
    }
    reason = "itemsearch skipped: the dataset has none of the query interaction fields";
    for (const auto& f : c.o.query_fields) reason += " '" + f + "'";
    reason += ".";
    return false;
  }
  if (task == "preferenceobtain") {
    auto it = c.d.inter_text.find(c.o.preference_field);
    if (it == c.d.inter_text.end()) {
      reason = "preferenceobtain skipped: the dataset has no interaction field '" +
               c.o.preference_field + "' with preference summaries.";
      return false;
    }
    build_preferenceobtain(c, it->second, out);
    return true;
  }
  if (!c.text) {
    reason = task + " skipped: the dataset has no item text field '" + c.o.text_field + "'.";
    return false;
  }
  if (task == "item2index") build_item2index(c, out);
  if (task == "index2item") build_index2item(c, out);
  if (task == "fusionseqrec") build_fusionseqrec(c, out);
  return true;
}

Instruction realise(const Draft& dr, const std::string& task, const InstructionOptions& o,
                    size_t phrasing) {
  const auto& ph = o.prompt_style == "compact" ? compact_phrasings(dr.kind)
                                                : instruction_phrasings(dr.kind);
  if (o.prompt_style != "varied") phrasing = 0;
  Instruction in;
  in.task = task;
  in.prompt = fill_placeholders(
      o.prompt_template, {{"instruction", fill_placeholders(ph[phrasing % ph.size()], dr.values)}});
  in.response = dr.response;
  in.user = dr.user;
  in.item = dr.item;
  return in;
}

// round(w * n) samples: whole copies, then a seeded subsample (distinct, in natural order).
void emit_weighted(const std::vector<Draft>& drafts, const std::string& task, double w,
                   const InstructionOptions& o, std::vector<Instruction>& out) {
  const int64_t n = static_cast<int64_t>(drafts.size());
  if (n == 0) return;
  const int64_t total = std::llround(w * double(n));
  const int64_t copies = total / n, rest = total % n;
  auto emit = [&](int64_t i, int64_t copy) {
    SampleRng rng(mix_seed(o.seed, "phrasing/" + task, uint64_t(i), uint64_t(copy)));
    const size_t count = instruction_phrasings(drafts[i].kind).size();
    out.push_back(realise(drafts[i], task, o, size_t(rng.uniform(int64_t(count)))));
  };
  for (int64_t copy = 0; copy < copies; ++copy) {
    for (int64_t i = 0; i < n; ++i) emit(i, copy);
  }
  if (rest == 0) return;
  std::vector<int64_t> idx(n);
  for (int64_t i = 0; i < n; ++i) idx[i] = i;
  SampleRng rng(mix_seed(o.seed, "subsample/" + task));
  for (int64_t i = 0; i < rest; ++i) std::swap(idx[i], idx[i + rng.uniform(n - i)]);
  idx.resize(rest);
  std::sort(idx.begin(), idx.end());
  for (int64_t i : idx) emit(i, copies);
}

void check_common(const Dataset& d, const std::vector<std::string>& item_tokens,
                  const InstructionOptions& o) {
  if (int64_t(item_tokens.size()) != d.num_items()) {
    user_error("item_tokens has {} entries but the dataset has {} items", item_tokens.size(),
               d.num_items());
  }
  for (size_t i = 0; i < item_tokens.size(); ++i) {
    if (item_tokens[i].empty()) user_error("item_tokens[{}] (the ID of item {}) is empty", i, i);
  }
  if (o.prompt_template.find("{instruction}") == std::string::npos) {
    user_error("instruction prompt_template must contain '{{instruction}}'");
  }
  if (o.max_history < 1) user_error("instruction max_history must be >= 1 (got {})", o.max_history);
  if (o.prompt_style != "varied" && o.prompt_style != "fixed" && o.prompt_style != "compact") {
    user_error("instruction prompt_style must be varied, fixed or compact (got '{}')", o.prompt_style);
  }
}

}  // namespace

std::vector<PrefixKey> training_prefixes(const Dataset& d) {
  std::vector<PrefixKey> keys;
  for (int64_t u = 0; u < d.num_users(); ++u) {
    for (int64_t p = 1; p < d.train_end[u]; ++p) keys.push_back({u, p});
  }
  return keys;
}

const std::vector<std::string>& instruction_task_names() {
  static const std::vector<std::string> names = {"seqrec",       "item2index", "index2item",
                                                 "fusionseqrec", "itemsearch", "preferenceobtain"};
  return names;
}

std::string fill_placeholders(const std::string& text,
                              const std::map<std::string, std::string>& values) {
  std::string out;
  size_t i = 0;
  for (;;) {
    const size_t open = text.find('{', i);
    if (open == std::string::npos) break;
    const size_t close = text.find('}', open + 1);
    if (close == std::string::npos) break;
    auto it = values.find(text.substr(open + 1, close - open - 1));
    if (it == values.end()) {  // not a placeholder: keep the brace, rescan after it ("{{x}")
      out.append(text, i, open + 1 - i);
      i = open + 1;
      continue;
    }
    out.append(text, i, open - i);
    out += it->second;
    i = close + 1;
  }
  out.append(text, i, std::string::npos);
  return out;
}

std::vector<Instruction> build_instructions(const Dataset& d,
                                            const std::vector<std::string>& item_tokens,
                                            const InstructionOptions& o,
                                            std::vector<std::string>* skipped) {
  check_common(d, item_tokens, o);
  const auto& known = instruction_task_names();
  auto is_known = [&](const std::string& t) {
    return std::find(known.begin(), known.end(), t) != known.end();
  };
  std::set<std::string> seen;
  for (const auto& t : o.tasks) {
    if (!is_known(t)) {
      user_error("unknown instruction task '{}' (known: seqrec, item2index, index2item, "
                 "fusionseqrec, itemsearch, preferenceobtain)", t);
    }
    if (!seen.insert(t).second) user_error("instruction task '{}' is listed twice", t);
  }
  for (const auto& kv : o.weights) {
    if (!is_known(kv.first)) user_error("instruction weight given for unknown task '{}'", kv.first);
    if (!std::isfinite(kv.second) || kv.second < 0) {
      user_error("instruction weight of task '{}' must be a finite number >= 0 (got {})", kv.first,
                 kv.second);
    }
  }
  Ctx c{d, item_tokens, o};
  auto tf = d.item_text.find(o.text_field);
  if (tf != d.item_text.end()) c.text = &tf->second;

  std::vector<Instruction> out;
  for (const auto& task : o.tasks) {
    auto w = o.weights.find(task);
    const double weight = w == o.weights.end() ? 1.0 : w->second;
    if (weight == 0) continue;
    std::vector<Draft> drafts;
    std::string reason;
    if (!build_task(c, task, drafts, reason)) {
      if (skipped) skipped->push_back(reason);
      continue;
    }
    emit_weighted(drafts, task, weight, o, out);
  }
  return out;
}

Instruction seqrec_eval_instruction(const Dataset& d, const std::vector<std::string>& item_tokens,
                                    int64_t user, const std::string& split,
                                    const InstructionOptions& o) {
  check_common(d, item_tokens, o);
  if (user < 0 || user >= d.num_users()) {
    user_error("user {} out of range [0, {})", user, d.num_users());
  }
  int64_t end = 0;
  if (split == "valid") {
    end = d.train_end[user];
    if (end >= d.valid_end[user]) user_error("user {} has no validation item", user);
  } else if (split == "test") {
    end = d.valid_end[user];
    if (end >= d.length(user)) user_error("user {} has no test item", user);
  } else {
    user_error("evaluation split must be 'valid' or 'test' (got '{}')", split);
  }
  return seqrec_prefix_instruction(d, item_tokens, user, end, o);
}

Instruction seqrec_prefix_instruction(const Dataset& d, const std::vector<std::string>& item_tokens,
                                      int64_t user, int64_t end, const InstructionOptions& o) {
  check_common(d, item_tokens, o);
  if (user < 0 || user >= d.num_users()) {
    user_error("user {} out of range [0, {})", user, d.num_users());
  }
  if (end < 1 || end > d.length(user)) {
    user_error("user {}: history end {} out of range [1, {}]", user, end, d.length(user));
  }
  Ctx c{d, item_tokens, o};
  const int64_t target = end < d.length(user) ? d.sequence(user)[end] : -1;
  Draft dr{"seqrec", {{"history", id_history(c, user, end)}},
           target >= 0 ? item_tokens[target] : std::string(), user, target};
  return realise(dr, "seqrec", o, 0);
}

PromptAroundHistory seqrec_prompt_around_history(const InstructionOptions& o) {
  // A marker no template or phrasing contains: where it lands is where the history goes.
  const std::string marker = "\x01grec-history\x01";
  const Draft dr{"seqrec", {{"history", marker}}, "", -1, -1};
  const std::string prompt = realise(dr, "seqrec", o, 0).prompt;
  const size_t at = prompt.find(marker);
  if (at == std::string::npos || prompt.find(marker, at + 1) != std::string::npos) {
    user_error("the seqrec prompt must contain the history exactly once (align.prompt_template "
               "needs one {{instruction}})");
  }
  return {prompt.substr(0, at), prompt.substr(at + marker.size())};
}

std::map<std::string, int64_t> count_by_task(const std::vector<Instruction>& v) {
  std::map<std::string, int64_t> counts;
  for (const auto& in : v) ++counts[in.task];
  return counts;
}

}  // namespace grec::data
