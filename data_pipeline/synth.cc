// Synthetic data generator (see synth.h for the model of users and items).
#include "data_pipeline/synth.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "core/error.h"
#include "core/splitmix64.h"

namespace grec::data {

namespace {

// core/splitmix64.h, seeded so that consecutive seeds give unrelated streams.
class Rng {
 public:
  // The seed is mixed first: consecutive seeds must not give shifted copies of one stream.
  explicit Rng(uint64_t seed) : s_(seed ^ 0x632BE59BD9B4E019ULL) { s_ = next(); }
  uint64_t next() { return splitmix64(s_); }
  double uniform() { return unit_double(next()); }
  int64_t below(int64_t n) { return int64_t(next() % uint64_t(n)); }

 private:
  uint64_t s_;
};

const char* const kSyllables[] = {"ka", "lo", "mi", "ru", "te", "sa", "no", "vi", "ze", "po",
                                  "da", "fi", "gu", "he", "ju", "ne", "qo", "ri", "su", "ta",
                                  "wu", "xi", "yo", "be", "ma", "ko", "li", "de", "ra", "tu"};
const char* const kGeneric[] = {"classic", "deluxe",   "mini", "pro",    "set",   "edition",
                                "pack",    "original", "plus", "select", "basic", "premium"};

std::string make_word(Rng* rng) {
  const int n = 2 + int(rng->below(2));
  std::string w;
  for (int k = 0; k < n; ++k) w += kSyllables[rng->below(int64_t(std::size(kSyllables)))];
  return w;
}

// Index drawn from cumulative weights `cum` (last element = total).
size_t draw(const std::vector<double>& cum, Rng* rng) {
  const double x = rng->uniform() * cum.back();
  return size_t(std::upper_bound(cum.begin(), cum.end(), x) - cum.begin());
}

std::vector<double> zipf_cumulative(size_t n, double s) {
  std::vector<double> cum(n);
  double acc = 0;
  for (size_t k = 0; k < n; ++k) cum[k] = (acc += 1.0 / std::pow(double(k + 1), s));
  return cum;
}

}  // namespace

RawData synthesize(const SynthOptions& o) {
  if (o.users < 1) user_error("synth users must be at least 1, got {}", o.users);
  if (o.items < 4) user_error("synth items must be at least 4, got {}", o.items);
  const int64_t T = o.topics > 0 ? o.topics : std::max<int64_t>(2, o.items / 25);
  if (T > o.items / 2) {
    user_error("synth topics ({}) must be at most half the items ({})", T, o.items);
  }
  Rng rng(o.seed);
  RawData raw;
  raw.source = "synth:seed=" + std::to_string(o.seed);

  // Topic vocabularies: a name and five keywords each, all distinct.
  std::set<std::string> used;
  auto fresh = [&]() {
    std::string w;
    do {
      w = make_word(&rng);
    } while (!used.insert(w).second);
    return w;
  };
  std::vector<std::string> topic_name(static_cast<size_t>(T));
  std::vector<std::vector<std::string>> topic_words(static_cast<size_t>(T));
  for (int64_t t = 0; t < T; ++t) {
    topic_name[size_t(t)] = fresh();
    for (int k = 0; k < 5; ++k) topic_words[size_t(t)].push_back(fresh());
  }

  // Items: a random permutation dealt round-robin into topics; a topic's list is its walk order.
  std::vector<int64_t> perm(size_t(o.items));
  for (int64_t i = 0; i < o.items; ++i) perm[size_t(i)] = i;
  for (int64_t i = o.items - 1; i > 0; --i)
    std::swap(perm[size_t(i)], perm[size_t(rng.below(i + 1))]);
  std::vector<std::vector<int64_t>> topic_items(static_cast<size_t>(T));
  auto& topic_of = raw.item_ints["topic"];
  topic_of.assign(size_t(o.items), 0);
  for (int64_t k = 0; k < o.items; ++k) {
    topic_items[size_t(k % T)].push_back(perm[size_t(k)]);
    topic_of[size_t(perm[size_t(k)])] = k % T;
  }
  for (int64_t i = 0; i < o.items; ++i) raw.items.id(std::to_string(i + 1));
  for (int64_t i = 0; i < o.items; ++i) {
    const auto t = size_t(topic_of[size_t(i)]);
    const auto& w = topic_words[t];
    auto cap = [](std::string s) {
      s[0] = char(std::toupper(static_cast<unsigned char>(s[0])));
      return s;
    };
    auto& meta = raw.item_meta[std::to_string(i + 1)];
    const size_t a = size_t(rng.below(5)), b = (a + 1 + size_t(rng.below(4))) % 5;  // a != b
    meta["title"] = cap(kGeneric[rng.below(int64_t(std::size(kGeneric)))]) + " " + cap(w[a]) + " " +
                    w[b] + " " + std::to_string(1 + rng.below(99));
    meta["categories"] = cap(topic_name[t]) + " > " + cap(w[size_t(rng.below(5))]);
  }

  // Popularity: Zipf over topics and, inside a topic, over a random ranking of its items.
  const std::vector<double> topic_cum = zipf_cumulative(size_t(T), 0.7);
  std::vector<std::vector<double>> pos_cum(static_cast<size_t>(T));
  std::vector<std::vector<size_t>> pos_by_rank(static_cast<size_t>(T));
  for (int64_t t = 0; t < T; ++t) {
    const size_t n = topic_items[size_t(t)].size();
    pos_cum[size_t(t)] = zipf_cumulative(n, 1.0);
    auto& r = pos_by_rank[size_t(t)];
    r.resize(n);
    for (size_t k = 0; k < n; ++k) r[k] = k;
    for (size_t k = n - 1; k > 0; --k) std::swap(r[k], r[size_t(rng.below(int64_t(k) + 1))]);
  }
  auto popular_pos = [&](size_t t) { return pos_by_rank[t][draw(pos_cum[t], &rng)]; };

  const int64_t max_len = std::max<int64_t>(5, std::min<int64_t>(50, o.items / 2));
  raw.reserve(size_t(o.users * 16));
  for (int64_t u = 0; u < o.users; ++u) {
    const int32_t uid = raw.users.id(std::to_string(u + 1));
    // Two or three preferred topics.
    std::vector<size_t> prefs;
    const size_t n_pref = std::min<size_t>(size_t(T), size_t(2 + rng.below(2)));
    while (prefs.size() < n_pref) {
      const size_t t = draw(topic_cum, &rng);
      if (std::find(prefs.begin(), prefs.end(), t) == prefs.end()) prefs.push_back(t);
    }
    const int64_t len =
        std::min<int64_t>(max_len, 5 + int64_t(-std::log(1.0 - rng.uniform()) * 10.0));
    size_t t = prefs[0];
    size_t pos = popular_pos(t);
    int64_t time = 1600000000 + rng.below(30000000);
    std::set<int64_t> had;
    for (int64_t k = 0; k < len; ++k) {
      // Step past items the user already has, so the sequence keeps its length.
      for (size_t tries = 0; tries < topic_items[t].size() && had.count(topic_items[t][pos]);
           ++tries)
        pos = (pos + 1) % topic_items[t].size();
      const int64_t item = topic_items[t][pos];
      had.insert(item);
      raw.user.push_back(uid);
      raw.item.push_back(int32_t(item));
      raw.time.push_back(time);
      time += 60 + rng.below(86400);
      const double r = rng.uniform();
      if (r < 0.75) {
        const double s = rng.uniform();
        pos = (pos + (s < 0.65 ? 1 : s < 0.9 ? 2 : 3)) % topic_items[t].size();
      } else if (r < 0.93) {
        t = prefs[size_t(rng.below(int64_t(prefs.size())))];
        pos = popular_pos(t);
      } else {
        t = draw(topic_cum, &rng);
        pos = popular_pos(t);
      }
    }
  }
  return raw;
}

}  // namespace grec::data
