// LC-Rec instruction data: exact prompts/targets on a hand-made user, exact prefix counts, no
// held-out item or text in any training sample, mixture weights, phrasing draws, the tokenized
// loss boundary with left truncation, and length bucketing.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <set>

#include "core/error.h"
#include "data_pipeline/instruction_batches.h"
#include "data_pipeline/instructions.h"

namespace grec::data {
namespace {

// Builds a dataset from per-user sequences with leave-one-out split (last = test, one before =
// valid); interaction text fields are given per user per position.
Dataset make_dataset(const std::vector<std::vector<int64_t>>& seqs, int64_t num_items,
                     const std::vector<std::string>& titles) {
  Dataset d;
  for (int64_t i = 0; i < num_items; ++i) d.item_raw_ids.push_back("i" + std::to_string(i));
  d.item_text["title"] = titles;
  d.seq_offsets = {0};
  for (size_t u = 0; u < seqs.size(); ++u) {
    d.user_raw_ids.push_back("u" + std::to_string(u));
    for (size_t k = 0; k < seqs[u].size(); ++k) {
      d.inter_user.push_back(int64_t(u));
      d.inter_item.push_back(seqs[u][k]);
      d.inter_time.push_back(int64_t(k));
      d.seq_items.push_back(seqs[u][k]);
    }
    d.seq_offsets.push_back(int64_t(d.seq_items.size()));
    const int64_t n = int64_t(seqs[u].size());
    d.train_end.push_back(std::max<int64_t>(0, n - 2));
    d.valid_end.push_back(std::max<int64_t>(0, n - 1));
  }
  return d;
}

std::vector<std::string> tokens_for(int64_t n) {
  std::vector<std::string> t;
  for (int64_t i = 0; i < n; ++i) {
    t.push_back("<a_" + std::to_string(i / 16) + "><b_" + std::to_string(i % 16) + ">");
  }
  return t;
}

// Independent of fill_placeholders: plain find-and-replace of every occurrence.
std::string replace_all(std::string s, const std::string& key, const std::string& value) {
  for (size_t p = s.find(key); p != std::string::npos; p = s.find(key, p + value.size())) {
    s.replace(p, key.size(), value);
  }
  return s;
}

// The index of the phrasing of `kind` that yields `prompt` (template "{instruction}"), or -1.
int phrasing_of(const std::string& prompt, const std::string& kind,
                const std::map<std::string, std::string>& values) {
  const auto& ph = instruction_phrasings(kind);
  for (size_t j = 0; j < ph.size(); ++j) {
    std::string s = ph[j];
    for (const auto& kv : values) s = replace_all(s, "{" + kv.first + "}", kv.second);
    if (s == prompt) return int(j);
  }
  return -1;
}

// One user: items 0 1 2 | 3 (valid) | 4 (test); item 1 has no title.
Dataset one_user() {
  Dataset d = make_dataset({{0, 1, 2, 3, 4}}, 5,
                           {"Red Shoe", "", "Blue Hat", "Green Coat", "Gold Ring"});
  validate(d);
  return d;
}

TEST(Instructions, HandMadeUserExactPromptsAndTargets) {
  const Dataset d = one_user();
  const auto tok = tokens_for(5);
  InstructionOptions o;
  o.prompt_template = "{instruction}";
  const auto v = build_instructions(d, tok, o, nullptr);
  // seqrec: p=1,2; item tasks: train items {0,1,2} with a title = {0,2}; fusionseqrec: p=1 has an
  // untitled target (text2id only), p=2 both directions.
  const std::map<std::string, int64_t> want = {
      {"seqrec", 2}, {"item2index", 2}, {"index2item", 2}, {"fusionseqrec", 3}};
  EXPECT_EQ(count_by_task(v), want);
  ASSERT_EQ(v.size(), 9u);
  const std::string h0 = "<a_0><b_0>", h01 = "<a_0><b_0>, <a_0><b_1>";
  EXPECT_GE(phrasing_of(v[0].prompt, "seqrec", {{"history", h0}}), 0) << v[0].prompt;
  EXPECT_EQ(v[0].response, "<a_0><b_1>");
  EXPECT_EQ(v[0].user, 0);
  EXPECT_EQ(v[0].item, 1);
  EXPECT_GE(phrasing_of(v[1].prompt, "seqrec", {{"history", h01}}), 0) << v[1].prompt;
  EXPECT_EQ(v[1].response, "<a_0><b_2>");
  EXPECT_GE(phrasing_of(v[2].prompt, "item2index", {{"text", "Red Shoe"}}), 0);
  EXPECT_EQ(v[2].response, "<a_0><b_0>");
  EXPECT_EQ(v[2].user, -1);
  EXPECT_GE(phrasing_of(v[3].prompt, "item2index", {{"text", "Blue Hat"}}), 0);
  EXPECT_EQ(v[3].response, "<a_0><b_2>");
  EXPECT_GE(phrasing_of(v[4].prompt, "index2item", {{"item", "<a_0><b_0>"}}), 0);
  EXPECT_EQ(v[4].response, "Red Shoe");
  EXPECT_GE(phrasing_of(v[5].prompt, "index2item", {{"item", "<a_0><b_2>"}}), 0);
  EXPECT_EQ(v[5].response, "Blue Hat");
  EXPECT_GE(phrasing_of(v[6].prompt, "fusionseqrec_text2id", {{"history", "\"Red Shoe\""}}), 0);
  EXPECT_EQ(v[6].response, "<a_0><b_1>");
  EXPECT_GE(phrasing_of(v[7].prompt, "fusionseqrec_id2text", {{"history", h01}}), 0);
  EXPECT_EQ(v[7].response, "Blue Hat");
  EXPECT_GE(phrasing_of(v[8].prompt, "fusionseqrec_text2id", {{"history", "\"Red Shoe\""}}), 0);
  EXPECT_EQ(v[8].response, "<a_0><b_2>");
}

TEST(Instructions, EvalPromptsUsePhrasingZeroAndTheRightHistory) {
  const Dataset d = one_user();
  const auto tok = tokens_for(5);
  InstructionOptions o;  // default template
  const std::string head =
      "Below is an instruction that describes a task. Write a response that appropriately "
      "completes the request.\n\n### Instruction:\nA user interacted with these items, oldest "
      "first: ";
  const std::string tail =
      ". Predict the item the user will interact with next.\n\n### Response:\n";
  const Instruction va = seqrec_eval_instruction(d, tok, 0, "valid", o);
  EXPECT_EQ(va.prompt, head + "<a_0><b_0>, <a_0><b_1>, <a_0><b_2>" + tail);
  EXPECT_EQ(va.response, "<a_0><b_3>");
  const Instruction te = seqrec_eval_instruction(d, tok, 0, "test", o);
  EXPECT_EQ(te.prompt, head + "<a_0><b_0>, <a_0><b_1>, <a_0><b_2>, <a_0><b_3>" + tail);
  EXPECT_EQ(te.response, "<a_0><b_4>");
  EXPECT_EQ(te.item, 4);
  o.max_history = 2;  // most recent kept
  EXPECT_EQ(seqrec_eval_instruction(d, tok, 0, "test", o).prompt,
            head + "<a_0><b_2>, <a_0><b_3>" + tail);
  EXPECT_THROW(seqrec_eval_instruction(d, tok, 0, "train", o), UserError);
  EXPECT_THROW(seqrec_eval_instruction(d, tok, 1, "test", o), UserError);
  // A training position (stage distill's teacher): the history items[0, end) and nothing after.
  o.max_history = 20;
  const Instruction p2 = seqrec_prefix_instruction(d, tok, 0, 2, o);
  EXPECT_EQ(p2.prompt, head + "<a_0><b_0>, <a_0><b_1>" + tail);
  EXPECT_EQ(p2.item, 2);
  EXPECT_EQ(seqrec_prefix_instruction(d, tok, 0, 3, o).prompt, va.prompt);  // end = train_end
  Dataset changed = d;  // every item from position 2 on replaced: the prompt at end 2 stays
  for (int64_t k = d.seq_offsets[0] + 2; k < d.seq_offsets[1]; ++k) changed.seq_items[k] = 0;
  EXPECT_EQ(seqrec_prefix_instruction(changed, tok, 0, 2, o).prompt, p2.prompt);
  EXPECT_EQ(seqrec_prefix_instruction(d, tok, 0, d.length(0), o).item, -1);
  EXPECT_THROW(seqrec_prefix_instruction(d, tok, 0, 0, o), UserError);
  EXPECT_THROW(seqrec_prefix_instruction(d, tok, 0, d.length(0) + 1, o), UserError);
}

// Random users; items >= kTrainItems occur only in valid/test positions, and every held-out
// interaction carries review/preference text marked HELDOUT.
constexpr int64_t kItems = 300, kTrainItems = 250;

Dataset random_dataset(uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::vector<int64_t>> seqs;
  for (int u = 0; u < 150; ++u) {
    const int n = 1 + int(rng() % 14);
    std::vector<int64_t> s;
    for (int k = 0; k < n; ++k) {
      const bool held_out = k >= n - 2;
      s.push_back(int64_t(rng() % uint64_t(held_out ? kItems : kTrainItems)));
    }
    seqs.push_back(s);
  }
  std::vector<std::string> titles;
  for (int64_t i = 0; i < kItems; ++i) {
    titles.push_back(i % 7 == 3 ? "" : "T" + std::to_string(i) + "x");
  }
  Dataset d = make_dataset(seqs, kItems, titles);
  auto& review = d.inter_text["review"];
  auto& pref = d.inter_text["preference"];
  for (int64_t u = 0; u < d.num_users(); ++u) {
    for (int64_t k = 0; k < d.length(u); ++k) {
      const bool held_out = k >= d.train_end[u];
      const std::string tag = held_out ? "HELDOUT" : "ok";
      review.push_back(k % 3 == 2 ? "" : "review " + tag + std::to_string(k));
      pref.push_back(k % 2 == 1 ? "" : "likes " + tag + std::to_string(k));
    }
  }
  validate(d);
  return d;
}

const std::vector<std::string> kAllTasks = {"seqrec",       "item2index", "index2item",
                                            "fusionseqrec", "itemsearch", "preferenceobtain"};

TEST(Instructions, PrefixCountsAreExact) {
  const Dataset d = random_dataset(3);
  const auto& title = d.item_text.at("title");
  const auto& review = d.inter_text.at("review");
  const auto& pref = d.inter_text.at("preference");
  int64_t seqrec = 0, fusion = 0, search = 0, prefs = 0;
  std::set<int64_t> train_items;
  for (int64_t u = 0; u < d.num_users(); ++u) {
    const int64_t* s = d.sequence(u);
    for (int64_t k = 0; k < d.train_end[u]; ++k) {
      train_items.insert(s[k]);
      prefs += !pref[d.seq_offsets[u] + k].empty();
    }
    for (int64_t p = 1; p < d.train_end[u]; ++p) {
      ++seqrec;
      fusion += !title[s[p]].empty();
      bool any = false;
      for (int64_t k = std::max<int64_t>(0, p - 20); k < p; ++k) any |= !title[s[k]].empty();
      fusion += any;
      search += !review[d.seq_offsets[u] + p].empty();
    }
  }
  int64_t titled = 0;
  for (int64_t i : train_items) titled += !title[i].empty();
  InstructionOptions o;
  o.tasks = kAllTasks;
  std::vector<std::string> skipped;
  const auto counts = count_by_task(build_instructions(d, tokens_for(kItems), o, &skipped));
  EXPECT_TRUE(skipped.empty());
  EXPECT_GT(seqrec, 300);
  EXPECT_EQ(counts.at("seqrec"), seqrec);
  EXPECT_EQ(counts.at("fusionseqrec"), fusion);
  EXPECT_EQ(counts.at("itemsearch"), search);
  EXPECT_EQ(counts.at("preferenceobtain"), prefs);
  EXPECT_EQ(counts.at("item2index"), titled);
  EXPECT_EQ(counts.at("index2item"), titled);
}

TEST(Instructions, NoHeldOutItemOrTextInTraining) {
  const Dataset d = random_dataset(5);
  const auto tok = tokens_for(kItems);
  const auto& title = d.item_text.at("title");
  std::vector<std::set<int64_t>> user_train(d.num_users());
  std::set<int64_t> train_items;
  for (int64_t u = 0; u < d.num_users(); ++u) {
    for (int64_t k = 0; k < d.train_end[u]; ++k) {
      user_train[u].insert(d.sequence(u)[k]);
      train_items.insert(d.sequence(u)[k]);
    }
  }
  int64_t held_out_only = 0;
  for (int64_t i = 0; i < kItems; ++i) held_out_only += !train_items.count(i) && !title[i].empty();
  ASSERT_GT(held_out_only, 10);  // the check below has something to catch

  InstructionOptions o;
  o.tasks = kAllTasks;
  const auto v = build_instructions(d, tok, o, nullptr);
  for (const auto& in : v) {
    const std::string text = in.prompt + "\n" + in.response;
    EXPECT_EQ(text.find("HELDOUT"), std::string::npos) << in.task << ": " << text;
    // A user's sample mentions only that user's training items; an item sample only items in
    // some training part (by token and by title).
    const std::set<int64_t>& allowed = in.user >= 0 ? user_train[in.user] : train_items;
    for (int64_t i = 0; i < kItems; ++i) {
      if (allowed.count(i)) continue;
      ASSERT_EQ(text.find(tok[i]), std::string::npos) << in.task << " u" << in.user << ": " << text;
      if (title[i].empty()) continue;
      ASSERT_EQ(text.find("\"" + title[i] + "\""), std::string::npos) << text;
      ASSERT_NE(in.response, title[i]) << in.task;
    }
  }
  // The restriction is what keeps them out: over all items, held-out-only items do appear.
  o.tasks = {"index2item"};
  o.item_tasks_all_items = true;
  int64_t described_held_out = 0;
  for (const auto& in : build_instructions(d, tok, o, nullptr)) {
    described_held_out += !train_items.count(in.item);
  }
  EXPECT_EQ(described_held_out, held_out_only);
}

TEST(Instructions, WeightsScaleCountsDeterministically) {
  const Dataset d = random_dataset(7);
  const auto tok = tokens_for(kItems);
  InstructionOptions o;
  o.tasks = {"seqrec", "item2index", "index2item"};
  const auto natural = count_by_task(build_instructions(d, tok, o, nullptr));
  o.weights = {{"seqrec", 2.5}, {"item2index", 0.3}, {"index2item", 0}};
  o.seed = 11;
  const auto a = build_instructions(d, tok, o, nullptr);
  const auto counts = count_by_task(a);
  EXPECT_EQ(counts.at("seqrec"), std::llround(2.5 * natural.at("seqrec")));
  EXPECT_EQ(counts.at("item2index"), std::llround(0.3 * natural.at("item2index")));
  EXPECT_EQ(counts.count("index2item"), 0u);
  // Whole copies: each (user, target) pair occurs 2x or 3x as often as in the natural set.
  std::map<std::pair<int64_t, int64_t>, int> nat, got;
  InstructionOptions plain = o;
  plain.weights.clear();
  for (const auto& in : build_instructions(d, tok, plain, nullptr)) {
    if (in.task == "seqrec") ++nat[{in.user, in.item}];
  }
  for (const auto& in : a) {
    if (in.task == "seqrec") ++got[{in.user, in.item}];
  }
  ASSERT_EQ(nat.size(), got.size());
  for (const auto& kv : nat) {
    EXPECT_GE(got[kv.first], 2 * kv.second);
    EXPECT_LE(got[kv.first], 3 * kv.second);
  }
  const auto b = build_instructions(d, tok, o, nullptr);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].prompt, b[i].prompt);
    ASSERT_EQ(a[i].response, b[i].response);
  }
  o.seed = 12;  // a different subsample of item2index
  std::set<int64_t> items_a, items_c;
  for (const auto& in : a) if (in.task == "item2index") items_a.insert(in.item);
  for (const auto& in : build_instructions(d, tok, o, nullptr)) {
    if (in.task == "item2index") items_c.insert(in.item);
  }
  EXPECT_EQ(items_a.size(), items_c.size());  // distinct items: a subsample without repeats
  EXPECT_NE(items_a, items_c);
}

TEST(Instructions, PhrasingDrawIsDeterministicAndVaried) {
  const Dataset d = random_dataset(9);
  const auto tok = tokens_for(kItems);
  InstructionOptions o;
  o.tasks = {"seqrec"};
  o.prompt_template = "{instruction}";
  const auto a = build_instructions(d, tok, o, nullptr);
  const auto b = build_instructions(d, tok, o, nullptr);
  o.seed = 1;
  const auto c = build_instructions(d, tok, o, nullptr);
  ASSERT_EQ(a.size(), c.size());
  std::set<int> used;
  size_t differ = 0;
  size_t i = 0;
  for (int64_t u = 0; u < d.num_users(); ++u) {
    for (int64_t p = 1; p < d.train_end[u]; ++p, ++i) {
      std::string h;
      for (int64_t k = std::max<int64_t>(0, p - 20); k < p; ++k) {
        h += (h.empty() ? "" : ", ") + tok[d.sequence(u)[k]];
      }
      const int j = phrasing_of(a[i].prompt, "seqrec", {{"history", h}});
      ASSERT_GE(j, 0) << a[i].prompt;
      used.insert(j);
      EXPECT_EQ(a[i].prompt, b[i].prompt);
      differ += a[i].prompt != c[i].prompt;
    }
  }
  EXPECT_EQ(used.size(), instruction_phrasings("seqrec").size());
  EXPECT_GT(differ, a.size() / 2);
  EXPECT_GE(instruction_phrasings("fusionseqrec_id2text").size(), 3u);
}

TEST(Instructions, FixedAndCompactStylesUseOnePhrasingAlsoInEvaluation) {
  const Dataset d = random_dataset(9);
  const auto tok = tokens_for(kItems);
  InstructionOptions o;
  o.tasks = {"seqrec", "item2index", "index2item"};
  o.prompt_template = "{instruction}";
  o.text_field = "title";
  const auto varied = build_instructions(d, tok, o, nullptr);
  for (const char* style : {"fixed", "compact"}) {
    o.prompt_style = style;
    const auto got = build_instructions(d, tok, o, nullptr);
    ASSERT_EQ(got.size(), varied.size()) << style;
    size_t i = 0, shorter = 0;
    for (int64_t u = 0; u < d.num_users(); ++u) {
      for (int64_t p = 1; p < d.train_end[u]; ++p, ++i) {
        std::string h;
        for (int64_t k = std::max<int64_t>(0, p - 20); k < p; ++k) {
          h += (h.empty() ? "" : ", ") + tok[d.sequence(u)[k]];
        }
        const std::string& want = std::string(style) == "fixed"
                                      ? instruction_phrasings("seqrec")[0]
                                      : compact_phrasings("seqrec")[0];
        ASSERT_EQ(got[i].prompt, fill_placeholders(want, {{"history", h}})) << style;
        EXPECT_EQ(got[i].response, varied[i].response);
        shorter += got[i].prompt.size() < varied[i].prompt.size();
      }
    }
    if (std::string(style) == "compact") EXPECT_EQ(shorter, i);  // every seqrec prompt
    // Evaluation asks in the same words the model was trained on.
    for (int64_t u = 0; u < d.num_users(); ++u) {
      if (d.train_end[u] < 1 || d.train_end[u] >= d.valid_end[u]) continue;
      const Instruction e = seqrec_eval_instruction(d, tok, u, "valid", o);
      EXPECT_EQ(e.prompt.rfind(std::string(style) == "fixed" ? "A user interacted" : "History: ", 0), 0u)
          << e.prompt;
      break;
    }
  }
  o.prompt_style = "terse";
  EXPECT_THROW(build_instructions(d, tok, o, nullptr), grec::UserError);
}

TEST(Instructions, MissingInputsSkipWithReason) {
  Dataset d = one_user();
  InstructionOptions o;
  o.tasks = {"seqrec", "itemsearch", "preferenceobtain"};
  std::vector<std::string> skipped;
  const auto counts = count_by_task(build_instructions(d, tokens_for(5), o, &skipped));
  EXPECT_EQ(counts, (std::map<std::string, int64_t>{{"seqrec", 2}}));
  ASSERT_EQ(skipped.size(), 2u);
  EXPECT_NE(skipped[0].find("itemsearch"), std::string::npos);
  EXPECT_NE(skipped[1].find("preferenceobtain"), std::string::npos);
  o.tasks = {"index2item"};
  o.text_field = "description";
  skipped.clear();
  EXPECT_TRUE(build_instructions(d, tokens_for(5), o, &skipped).empty());
  ASSERT_EQ(skipped.size(), 1u);
  EXPECT_NE(skipped[0].find("'description'"), std::string::npos);
}

TEST(Instructions, BadInputIsAUserError) {
  const Dataset d = one_user();
  const auto tok = tokens_for(5);
  auto run = [&](InstructionOptions o, std::vector<std::string> t) {
    build_instructions(d, t, o, nullptr);
  };
  InstructionOptions o;
  EXPECT_NO_THROW(run(o, tok));
  EXPECT_THROW(run(o, tokens_for(4)), UserError);
  auto empty_token = tok;
  empty_token[2] = "";
  EXPECT_THROW(run(o, empty_token), UserError);
  InstructionOptions bad = o;
  bad.tasks = {"seqrec", "nexttitle"};
  EXPECT_THROW(run(bad, tok), UserError);
  bad = o;
  bad.tasks = {"seqrec", "seqrec"};
  EXPECT_THROW(run(bad, tok), UserError);
  bad = o;
  bad.weights = {{"seqrec", -0.5}};
  EXPECT_THROW(run(bad, tok), UserError);
  bad.weights = {{"seqrec", NAN}};
  EXPECT_THROW(run(bad, tok), UserError);
  bad = o;
  bad.prompt_template = "### Instruction: {instr}";
  EXPECT_THROW(run(bad, tok), UserError);
  bad = o;
  bad.max_history = 0;
  EXPECT_THROW(run(bad, tok), UserError);
}

TEST(Instructions, PlaceholdersAreFilledOnce) {
  EXPECT_EQ(fill_placeholders("a {x} b {y} {z}", {{"x", "{y}"}, {"y", "Y"}}), "a {y} b Y {z}");
  EXPECT_EQ(fill_placeholders("{{x}}", {{"x", "1"}}), "{1}");
}

// ---- tokenizing -------------------------------------------------------------------------------

std::vector<int64_t> char_ids(const std::string& s) {
  std::vector<int64_t> ids;
  for (unsigned char ch : s) ids.push_back(int64_t(ch) + 10);
  return ids;
}

TEST(InstructionBatches, LossBoundaryIsExact) {
  const Dataset d = one_user();
  InstructionOptions o;
  const auto v = build_instructions(d, tokens_for(5), o, nullptr);
  const auto t = tokenize_instructions(v, char_ids, -1, 2, 100000);
  ASSERT_EQ(t.size(), v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    auto p = char_ids(v[i].prompt), r = char_ids(v[i].response);
    r.push_back(2);
    ASSERT_EQ(t[i].prompt_len, int64_t(p.size()));
    EXPECT_EQ(std::vector<int64_t>(t[i].ids.begin(), t[i].ids.begin() + t[i].prompt_len), p);
    EXPECT_EQ(std::vector<int64_t>(t[i].ids.begin() + t[i].prompt_len, t[i].ids.end()), r);
  }
  const auto tb = tokenize_instructions(v, char_ids, 1, 2, 100000);
  EXPECT_EQ(tb[0].ids[0], 1);
  EXPECT_EQ(tb[0].prompt_len, t[0].prompt_len + 1);
  EXPECT_EQ(std::vector<int64_t>(tb[0].ids.begin() + 1, tb[0].ids.end()), t[0].ids);
}

TEST(InstructionBatches, TruncatesThePromptFromTheLeft) {
  Instruction in;
  in.prompt = "0123456789";
  in.response = "abc";
  const auto t = tokenize_instructions({in}, char_ids, 1, 2, 9);  // BOS + 4 prompt + 3 + EOS
  ASSERT_EQ(t[0].ids.size(), 9u);
  EXPECT_EQ(t[0].prompt_len, 5);
  std::vector<int64_t> want = {1};
  for (int64_t id : char_ids("6789abc")) want.push_back(id);
  want.push_back(2);
  EXPECT_EQ(t[0].ids, want);
  // Response + EOS exactly fill max_len: no prompt left, still valid.
  const auto u = tokenize_instructions({in}, char_ids, -1, 2, 4);
  EXPECT_EQ(u[0].prompt_len, 0);
  EXPECT_EQ(u[0].ids.size(), 4u);
  EXPECT_THROW(tokenize_instructions({in}, char_ids, -1, 2, 3), UserError);
  EXPECT_THROW(tokenize_instructions({in}, char_ids, 1, 2, 4), UserError);
  // With a report: too-long responses are left out and counted per task, the rest kept in order.
  Instruction long_title = in, short_one = in;
  long_title.task = "index2item";
  long_title.response = "a much longer title";
  short_one.task = "seqrec";
  short_one.response = "x";
  std::map<std::string, int64_t> too_long;
  const auto kept = tokenize_instructions({short_one, long_title, long_title, in}, char_ids, 1, 2, 8,
                                          &too_long);
  ASSERT_EQ(kept.size(), 2u);
  EXPECT_EQ(kept[0].ids.back(), 2);
  EXPECT_EQ(kept[0].ids[kept[0].ids.size() - 2], char_ids("x")[0]);
  EXPECT_EQ(kept[1].ids[kept[1].ids.size() - 2], char_ids("c")[0]);
  EXPECT_EQ(too_long, (std::map<std::string, int64_t>{{"index2item", 2}}));
}

// ---- bucketing --------------------------------------------------------------------------------

TEST(InstructionBatches, BucketingCutsPaddingAndCoversEveryIndexOnce) {
  std::mt19937_64 rng(4);
  std::vector<int64_t> lengths;
  for (int i = 0; i < 2003; ++i) {  // a quarter long, the rest short
    lengths.push_back(i % 4 == 0 ? 400 + int64_t(rng() % 600) : 20 + int64_t(rng() % 200));
  }
  const Bucketed b = bucket_by_length(lengths, 16, 8, 42);
  std::vector<int> seen(lengths.size(), 0);
  size_t short_batches = 0;
  for (const auto& batch : b.batches) {
    short_batches += batch.size() != 16;
    for (int64_t i : batch) ++seen[size_t(i)];
  }
  EXPECT_EQ(short_batches, 1u);  // 2003 = 125 * 16 + 3
  EXPECT_TRUE(std::all_of(seen.begin(), seen.end(), [](int c) { return c == 1; }));
  // Random batches of the same size, as the reference.
  std::vector<int64_t> order(lengths.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = int64_t(i);
  std::shuffle(order.begin(), order.end(), rng);
  std::vector<std::vector<int64_t>> random;
  for (size_t i = 0; i < order.size(); i += 16) {
    random.emplace_back(order.begin() + i, order.begin() + std::min(order.size(), i + 16));
  }
  const double random_waste = padding_waste(lengths, random);
  EXPECT_DOUBLE_EQ(b.padding_waste, padding_waste(lengths, b.batches));
  EXPECT_LT(b.padding_waste, random_waste / 3) << b.padding_waste << " vs " << random_waste;
  // Deterministic per seed, different across seeds.
  EXPECT_EQ(bucket_by_length(lengths, 16, 8, 42).batches, b.batches);
  EXPECT_NE(bucket_by_length(lengths, 16, 8, 43).batches, b.batches);
  EXPECT_THROW(bucket_by_length(lengths, 0, 8, 1), UserError);
  EXPECT_THROW(bucket_by_length(lengths, 4, 0, 1), UserError);
}

TEST(InstructionBatches, PaddingWasteByHand) {
  // Batches {1,4} and {2,3}: slots 2*4 + 2*3 = 14, tokens 10.
  EXPECT_DOUBLE_EQ(padding_waste({1, 2, 3, 4}, {{0, 3}, {1, 2}}), 4.0 / 14.0);
  EXPECT_DOUBLE_EQ(padding_waste({}, {}), 0.0);
  EXPECT_THROW(padding_waste({1, 2}, {{0, 2}}), UserError);
}

}  // namespace
}  // namespace grec::data
