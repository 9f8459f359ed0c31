// TF-IDF item embeddings (the `tfidf` encoder of the embed stage; torch-free): lower-cased text
// split on ASCII non-alphanumerics (bytes >= 0x80 count as letters so UTF-8 words survive; runs
// of CJK characters become overlapping character bigrams), hashed word unigrams and bigrams,
// tf * idf with idf = log((1 + N) / (1 + df)) + 1, L2-normalised rows, then a seeded Gaussian
// random projection or a truncated (randomized) SVD to d dimensions, L2-normalised again.
// Deterministic for a given seed.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace grec::data {

struct TfidfOptions {
  int64_t dim = 128;
  std::string method = "projection";  // "projection" | "svd"
  uint64_t seed = 0;
  int64_t buckets = int64_t{1} << 18;
  bool bigrams = true;
  int64_t svd_oversample = 10;
  int64_t svd_power_iterations = 4;
};

// The tokens of one text (see the file comment).
std::vector<std::string> tfidf_tokens(const std::string& text);

// Hashed features of one text: (bucket, count), sorted by bucket.
std::vector<std::pair<int64_t, double>> tfidf_features(const std::string& text,
                                                       const TfidfOptions& options);

// Sparse TF-IDF rows (CSR), L2-normalised; an empty text gives an empty row.
struct SparseRows {
  std::vector<int64_t> offsets{0};
  std::vector<int64_t> cols;
  std::vector<double> values;
  int64_t rows() const { return static_cast<int64_t>(offsets.size()) - 1; }
};
SparseRows tfidf_matrix(const std::vector<std::string>& texts, const TfidfOptions& options);

// Dense [texts, dim] float32 row-major embeddings. Rows of empty texts are zero (a warning-worthy
// case the caller counts via `empty_rows`).
std::vector<float> tfidf_embed(const std::vector<std::string>& texts, const TfidfOptions& options,
                               int64_t* empty_rows = nullptr);

}  // namespace grec::data
