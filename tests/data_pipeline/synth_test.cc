// Synthetic data: deterministic for a seed, topic words in titles, and sequential structure that
// a next-item model exploits far better than popularity.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <sstream>

#include "data_pipeline/ingest.h"

namespace grec::data {
namespace {

Dataset synth(int64_t users, int64_t items, uint64_t seed) {
  IngestOptions o;
  o.synth.users = users;
  o.synth.items = items;
  o.synth.seed = seed;
  return ingest(o);
}

TEST(Synth, DeterministicForASeed) {
  const Dataset a = synth(200, 100, 7), b = synth(200, 100, 7), c = synth(200, 100, 8);
  EXPECT_EQ(a.seq_items, b.seq_items);
  EXPECT_EQ(a.item_text, b.item_text);
  EXPECT_EQ(a.inter_time, b.inter_time);
  EXPECT_NE(a.seq_items, c.seq_items);
  EXPECT_EQ(a.num_users(), 200);
  ASSERT_TRUE(a.item_ints.count("topic"));
  EXPECT_EQ(a.item_ints.at("topic").size(), size_t(a.num_items()));
  EXPECT_GE(a.num_items(), 90);  // nearly every item is used
}

// Every topic word (title words other than the shared generic ones and numbers) belongs to the
// items of a single topic, so text clusters can recover the topics.
TEST(Synth, TitleWordsIdentifyTopics) {
  const Dataset d = synth(300, 200, 1);
  const auto& topic = d.item_ints.at("topic");
  const std::set<std::string> generic = {"classic", "deluxe",  "mini",  "pro",
                                         "set",     "edition", "pack",  "original",
                                         "plus",    "select",  "basic", "premium"};
  std::map<std::string, std::set<int64_t>> topics_of_word;
  for (size_t i = 0; i < d.item_raw_ids.size(); ++i) {
    std::istringstream words(d.item_text.at("title")[i]);
    std::string w;
    while (words >> w) {
      std::transform(w.begin(), w.end(), w.begin(), ::tolower);
      if (generic.count(w) || std::isdigit(static_cast<unsigned char>(w[0]))) continue;
      topics_of_word[w].insert(topic[i]);
    }
  }
  ASSERT_GT(topics_of_word.size(), 20u);
  for (const auto& kv : topics_of_word) EXPECT_EQ(kv.second.size(), 1u) << kv.first;
}

// Next-item prediction on the test position: a bigram model (most frequent successors of the
// last item in the training prefixes) against the most popular training items, HR@10.
TEST(Synth, SequentialModelBeatsPopularity) {
  const Dataset d = synth(2000, 400, 3);
  std::map<int64_t, std::map<int64_t, int>> next;
  std::vector<int64_t> pop(size_t(d.num_items()), 0);
  for (int64_t u = 0; u < d.num_users(); ++u) {
    const int64_t* s = d.sequence(u);
    for (int64_t k = 0; k < d.valid_end[u]; ++k) {
      ++pop[size_t(s[k])];
      if (k > 0) ++next[s[k - 1]][s[k]];
    }
  }
  std::vector<int64_t> top(pop.size());
  for (size_t i = 0; i < top.size(); ++i) top[i] = int64_t(i);
  std::stable_sort(top.begin(), top.end(), [&](int64_t a, int64_t b) { return pop[a] > pop[b]; });
  top.resize(10);
  int64_t n = 0, hit_pop = 0, hit_seq = 0;
  for (int64_t u = 0; u < d.num_users(); ++u) {
    if (d.length(u) <= d.valid_end[u]) continue;
    const int64_t target = d.sequence(u)[d.valid_end[u]];
    const int64_t last = d.sequence(u)[d.valid_end[u] - 1];
    ++n;
    hit_pop += std::count(top.begin(), top.end(), target) > 0;
    std::vector<std::pair<int, int64_t>> cand;
    for (const auto& kv : next[last]) cand.push_back({-kv.second, kv.first});
    std::sort(cand.begin(), cand.end());
    for (size_t k = 0; k < cand.size() && k < 10; ++k) hit_seq += cand[k].second == target;
  }
  const double hr_pop = double(hit_pop) / double(n), hr_seq = double(hit_seq) / double(n);
  EXPECT_GT(n, 1500);
  EXPECT_GT(hr_seq, 0.4) << "bigram HR@10";
  EXPECT_GT(hr_seq, 3 * hr_pop) << "bigram " << hr_seq << " popularity " << hr_pop;
  // Popularity is skewed: the top 10% of items hold well over 10% of the interactions.
  std::vector<int64_t> sorted = pop;
  std::sort(sorted.rbegin(), sorted.rend());
  int64_t head = 0, total = 0;
  for (size_t i = 0; i < sorted.size(); ++i) {
    total += sorted[i];
    if (i < sorted.size() / 10) head += sorted[i];
  }
  EXPECT_GT(double(head) / double(total), 0.2);
}

}  // namespace
}  // namespace grec::data
