// TF-IDF encoder: tokeniser, a hand-made corpus against a straightforward reference, determinism,
// the projection's geometry and the SVD path.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "core/hash.h"
#include "data_pipeline/tfidf.h"

namespace grec::data {
namespace {

TEST(Tfidf, Tokens) {
  EXPECT_EQ(tfidf_tokens("The Matrix (1999), Sci-Fi|Action"),
            (std::vector<std::string>{"the", "matrix", "1999", "sci", "fi", "action"}));
  EXPECT_EQ(tfidf_tokens("Café au lait"), (std::vector<std::string>{"café", "au", "lait"}));
  // CJK runs become character bigrams; a lone CJK character stays.
  EXPECT_EQ(tfidf_tokens("猫和狗 dog 猫"),
            (std::vector<std::string>{"猫和", "和狗", "dog", "猫"}));
  EXPECT_TRUE(tfidf_tokens("  ,;  ").empty());
}

TEST(Tfidf, MatchesReferenceOnHandMadeCorpus) {
  const std::vector<std::string> texts = {"red apple pie", "green apple", "red red wine", ""};
  TfidfOptions o;
  o.buckets = 1 << 18;
  const SparseRows x = tfidf_matrix(texts, o);
  // Reference: explicit strings, then hashed the same way.
  std::vector<std::map<std::string, double>> tf(texts.size());
  const std::vector<std::vector<std::string>> toks = {
      {"red", "apple", "pie"}, {"green", "apple"}, {"red", "red", "wine"}, {}};
  for (size_t d = 0; d < toks.size(); ++d) {
    for (size_t i = 0; i < toks[d].size(); ++i) {
      tf[d][toks[d][i]] += 1;
      if (i + 1 < toks[d].size()) tf[d][toks[d][i] + "\x1f" + toks[d][i + 1]] += 1;
    }
  }
  std::map<std::string, double> df;
  for (const auto& m : tf)
    for (const auto& kv : m) df[kv.first] += 1;
  const double n = 4;
  for (size_t d = 0; d < texts.size(); ++d) {
    std::map<int64_t, double> expect;
    double norm = 0;
    for (const auto& [term, count] : tf[d]) {
      const double w = count * (std::log((1 + n) / (1 + df[term])) + 1);
      uint64_t h;
      const size_t sep = term.find('\x1f');
      if (sep == std::string::npos) {
        h = fnv1a64(term);
      } else {
        h = fnv1a64(term.substr(sep + 1), fnv1a64(std::string_view("\x1f"), fnv1a64(term.substr(0, sep))));
      }
      expect[static_cast<int64_t>(h % o.buckets)] += w;
    }
    for (const auto& kv : expect) norm += kv.second * kv.second;
    ASSERT_EQ(x.offsets[d + 1] - x.offsets[d], static_cast<int64_t>(expect.size())) << "doc " << d;
    for (int64_t p = x.offsets[d]; p < x.offsets[d + 1]; ++p) {
      ASSERT_TRUE(expect.count(x.cols[p]));
      EXPECT_NEAR(x.values[p], expect[x.cols[p]] / std::sqrt(norm), 1e-12);
    }
  }
  // "red" (df 2) weighs less than "pie" (df 1) within document 0.
  double red = 0, pie = 0;
  for (int64_t p = x.offsets[0]; p < x.offsets[1]; ++p) {
    if (x.cols[p] == static_cast<int64_t>(fnv1a64("red") % o.buckets)) red = x.values[p];
    if (x.cols[p] == static_cast<int64_t>(fnv1a64("pie") % o.buckets)) pie = x.values[p];
  }
  EXPECT_LT(red, pie);
}

double dot(const std::vector<float>& e, int64_t d, int64_t a, int64_t b) {
  double s = 0;
  for (int64_t k = 0; k < d; ++k) s += static_cast<double>(e[a * d + k]) * e[b * d + k];
  return s;
}

TEST(Tfidf, ProjectionIsDeterministicNormalisedAndKeepsSimilarity) {
  std::vector<std::string> texts;
  for (int i = 0; i < 40; ++i) {
    texts.push_back(i % 2 ? "space alien invasion starship laser galaxy " + std::to_string(i)
                          : "romantic comedy wedding love paris " + std::to_string(i));
  }
  texts.push_back("");
  TfidfOptions o;
  o.dim = 64;
  o.seed = 1;
  int64_t empty = -1;
  const auto a = tfidf_embed(texts, o, &empty);
  const auto b = tfidf_embed(texts, o);
  EXPECT_EQ(a, b);
  EXPECT_EQ(empty, 1);
  const int64_t d = o.dim;
  for (int64_t i = 0; i < 40; ++i) EXPECT_NEAR(dot(a, d, i, i), 1.0, 1e-5);
  EXPECT_EQ(dot(a, d, 40, 40), 0.0);
  double same = 0, cross = 0;
  for (int64_t i = 0; i < 40; ++i) {
    for (int64_t j = i + 1; j < 40; ++j) ((i % 2 == j % 2) ? same : cross) += dot(a, d, i, j);
  }
  EXPECT_GT(same / 380, cross / 400 + 0.3);
  o.seed = 2;
  EXPECT_NE(tfidf_embed(texts, o), a);
}

TEST(Tfidf, SvdSeparatesTopicsAndIsDeterministic) {
  std::vector<std::string> texts;
  for (int i = 0; i < 60; ++i) {
    const int topic = i % 3;
    texts.push_back(topic == 0   ? "guitar drums bass band concert"
                    : topic == 1 ? "soccer goal striker league match"
                                 : "recipe oven flour butter bake");
    texts.back() += " x" + std::to_string(i);
  }
  TfidfOptions o;
  o.dim = 3;  // the three topics span the top singular directions
  o.method = "svd";
  const auto a = tfidf_embed(texts, o);
  EXPECT_EQ(a, tfidf_embed(texts, o));
  const int64_t d = o.dim;
  for (int64_t i = 0; i < 60; ++i) {
    EXPECT_NEAR(dot(a, d, i, i), 1.0, 1e-5);
    for (int64_t j = i + 1; j < 60; ++j) {
      if (i % 3 == j % 3) EXPECT_GT(dot(a, d, i, j), 0.95) << i << " " << j;
      else EXPECT_LT(std::abs(dot(a, d, i, j)), 0.05) << i << " " << j;
    }
  }
}

TEST(Tfidf, BadOptions) {
  TfidfOptions o;
  o.dim = 0;
  EXPECT_ANY_THROW(tfidf_embed({"a"}, o));
  o.dim = 4;
  o.method = "pca";
  EXPECT_ANY_THROW(tfidf_embed({"a"}, o));
}

}  // namespace
}  // namespace grec::data
