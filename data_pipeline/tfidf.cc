// TF-IDF + random projection / randomized truncated SVD (see tfidf.h). Plain C++ so that the data
// pipeline stays torch-free; every random number comes from a counter-based hash of (seed,
// feature, component), so results do not depend on corpus order or thread count.
#include "data_pipeline/tfidf.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "core/error.h"
#include "core/hash.h"
#include "core/splitmix64.h"

namespace grec::data {
namespace {

// Standard normal number `index` of the stream (seed, key), by Box-Muller on two hashed uniforms.
double gaussian(uint64_t seed, uint64_t key, uint64_t index) {
  const uint64_t base = splitmix64_hash(seed ^ splitmix64_hash(key * 0x100000001B3ULL + 0x5EED));
  const uint64_t pair = index / 2;
  const uint64_t h1 = splitmix64_hash(base + 2 * pair), h2 = splitmix64_hash(base + 2 * pair + 1);
  const double u1 = (static_cast<double>(h1 >> 11) + 1.0) * 0x1.0p-53;  // (0, 1]
  const double u2 = static_cast<double>(h2 >> 11) * 0x1.0p-53;
  const double r = std::sqrt(-2.0 * std::log(u1));
  const double t = 2.0 * M_PI * u2;
  return index % 2 == 0 ? r * std::cos(t) : r * std::sin(t);
}

bool ascii_alnum(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

// Length of the UTF-8 sequence starting with `lead` (1 for stray continuation bytes).
size_t utf8_length(unsigned char lead) {
  if (lead >= 0xF0 && lead < 0xF8) return 4;
  if (lead >= 0xE0) return 3;
  if (lead >= 0xC0) return 2;
  return 1;
}

uint32_t decode(const std::string& s, size_t pos, size_t len) {
  const auto b = [&](size_t i) { return static_cast<unsigned char>(s[pos + i]); };
  if (len == 1) return b(0);
  if (len == 2) return ((b(0) & 0x1F) << 6) | (b(1) & 0x3F);
  if (len == 3) return ((b(0) & 0x0F) << 12) | ((b(1) & 0x3F) << 6) | (b(2) & 0x3F);
  return ((b(0) & 0x07) << 18) | ((b(1) & 0x3F) << 12) | ((b(2) & 0x3F) << 6) | (b(3) & 0x3F);
}

// Scripts written without spaces: Han, kana, Hangul (their "words" are character n-grams).
bool is_cjk(uint32_t cp) {
  return (cp >= 0x3040 && cp <= 0x30FF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
         (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0xAC00 && cp <= 0xD7AF) ||
         (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x20000 && cp <= 0x2FFFF);
}

// Splits one raw word into tokens: non-CJK pieces stay whole, CJK runs become char bigrams.
void split_word(const std::string& word, std::vector<std::string>& out) {
  std::string plain;
  std::vector<std::string> run;  // CJK characters of the current run
  auto flush_plain = [&] {
    if (!plain.empty()) out.push_back(std::move(plain));
    plain.clear();
  };
  auto flush_run = [&] {
    if (run.size() == 1) out.push_back(run[0]);
    for (size_t i = 0; i + 1 < run.size(); ++i) out.push_back(run[i] + run[i + 1]);
    run.clear();
  };
  for (size_t pos = 0; pos < word.size();) {
    size_t len = std::min(utf8_length(static_cast<unsigned char>(word[pos])), word.size() - pos);
    const uint32_t cp = decode(word, pos, len);
    if (len > 1 && is_cjk(cp)) {
      flush_plain();
      run.push_back(word.substr(pos, len));
    } else {
      flush_run();
      plain.append(word, pos, len);
    }
    pos += len;
  }
  flush_plain();
  flush_run();
}

// Modified Gram-Schmidt on the columns (each a vector of length rows); a column that vanishes
// (rank deficiency) is set to zero.
void orthonormalise(std::vector<std::vector<double>>& cols) {
  for (size_t j = 0; j < cols.size(); ++j) {
    auto& v = cols[j];
    for (size_t p = 0; p < j; ++p) {
      const auto& q = cols[p];
      double dot = 0;
      for (size_t i = 0; i < v.size(); ++i) dot += q[i] * v[i];
      for (size_t i = 0; i < v.size(); ++i) v[i] -= dot * q[i];
    }
    double norm = 0;
    for (double x : v) norm += x * x;
    norm = std::sqrt(norm);
    const double inv = norm > 1e-10 ? 1.0 / norm : 0.0;
    for (double& x : v) x *= inv;
  }
}

// Eigen-decomposition of a symmetric k x k matrix (row-major) by cyclic Jacobi rotations.
// Returns eigenvalues descending; `vecs` receives the matching eigenvectors as columns.
std::vector<double> symmetric_eigen(std::vector<double> a, int64_t k, std::vector<double>& vecs) {
  vecs.assign(k * k, 0.0);
  for (int64_t i = 0; i < k; ++i) vecs[i * k + i] = 1.0;
  for (int sweep = 0; sweep < 100; ++sweep) {
    double off = 0, total = 0;
    for (int64_t i = 0; i < k; ++i)
      for (int64_t j = 0; j < k; ++j) (i == j ? total : off) += a[i * k + j] * a[i * k + j];
    if (off <= 1e-22 * (total + off) || off == 0) break;
    for (int64_t p = 0; p < k; ++p) {
      for (int64_t q = p + 1; q < k; ++q) {
        const double apq = a[p * k + q];
        if (std::abs(apq) < 1e-300) continue;
        const double theta = (a[q * k + q] - a[p * k + p]) / (2 * apq);
        const double t = (theta >= 0 ? 1.0 : -1.0) / (std::abs(theta) + std::sqrt(theta * theta + 1));
        const double c = 1 / std::sqrt(t * t + 1), s = t * c;
        for (int64_t r = 0; r < k; ++r) {  // columns p, q
          const double arp = a[r * k + p], arq = a[r * k + q];
          a[r * k + p] = c * arp - s * arq;
          a[r * k + q] = s * arp + c * arq;
        }
        for (int64_t r = 0; r < k; ++r) {  // rows p, q
          const double apr = a[p * k + r], aqr = a[q * k + r];
          a[p * k + r] = c * apr - s * aqr;
          a[q * k + r] = s * apr + c * aqr;
        }
        for (int64_t r = 0; r < k; ++r) {
          const double vrp = vecs[r * k + p], vrq = vecs[r * k + q];
          vecs[r * k + p] = c * vrp - s * vrq;
          vecs[r * k + q] = s * vrp + c * vrq;
        }
      }
    }
  }
  std::vector<int64_t> order(k);
  for (int64_t i = 0; i < k; ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t x, int64_t y) { return a[x * k + x] > a[y * k + y]; });
  std::vector<double> vals(k), sorted(k * k);
  for (int64_t j = 0; j < k; ++j) {
    vals[j] = a[order[j] * k + order[j]];
    // Fix the sign: the largest-magnitude entry of each eigenvector is positive.
    int64_t arg = 0;
    for (int64_t r = 0; r < k; ++r)
      if (std::abs(vecs[r * k + order[j]]) > std::abs(vecs[arg * k + order[j]])) arg = r;
    const double sign = vecs[arg * k + order[j]] < 0 ? -1.0 : 1.0;
    for (int64_t r = 0; r < k; ++r) sorted[r * k + j] = sign * vecs[r * k + order[j]];
  }
  vecs = std::move(sorted);
  return vals;
}

void l2_normalise_rows(std::vector<float>& x, int64_t n, int64_t d, int64_t* empty_rows) {
  int64_t empty = 0;
  for (int64_t i = 0; i < n; ++i) {
    double s = 0;
    for (int64_t k = 0; k < d; ++k) s += static_cast<double>(x[i * d + k]) * x[i * d + k];
    if (s <= 0) {
      ++empty;
      continue;
    }
    const double inv = 1.0 / std::sqrt(s);
    for (int64_t k = 0; k < d; ++k) x[i * d + k] = static_cast<float>(x[i * d + k] * inv);
  }
  if (empty_rows != nullptr) *empty_rows = empty;
}

}  // namespace

std::vector<std::string> tfidf_tokens(const std::string& text) {
  std::vector<std::string> out;
  std::string word;
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (ascii_alnum(c) || c >= 0x80) {
      word += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : ch;
    } else if (!word.empty()) {
      split_word(word, out);
      word.clear();
    }
  }
  if (!word.empty()) split_word(word, out);
  return out;
}

std::vector<std::pair<int64_t, double>> tfidf_features(const std::string& text,
                                                       const TfidfOptions& options) {
  GREC_CHECK(options.buckets > 0, "tfidf buckets must be > 0");
  const auto tokens = tfidf_tokens(text);
  const auto b = static_cast<uint64_t>(options.buckets);
  std::map<int64_t, double> counts;
  for (size_t i = 0; i < tokens.size(); ++i) {
    counts[static_cast<int64_t>(fnv1a64(tokens[i]) % b)] += 1;
    if (options.bigrams && i + 1 < tokens.size()) {
      // The unit separator cannot occur inside a token, so bigrams never alias unigrams' strings.
      const uint64_t h = fnv1a64(tokens[i + 1], fnv1a64(std::string_view("\x1f"), fnv1a64(tokens[i])));
      counts[static_cast<int64_t>(h % b)] += 1;
    }
  }
  return {counts.begin(), counts.end()};
}

SparseRows tfidf_matrix(const std::vector<std::string>& texts, const TfidfOptions& options) {
  SparseRows m;
  for (const auto& t : texts) {
    for (const auto& [col, count] : tfidf_features(t, options)) {
      m.cols.push_back(col);
      m.values.push_back(count);
    }
    m.offsets.push_back(static_cast<int64_t>(m.cols.size()));
  }
  std::vector<int64_t> df(options.buckets, 0);
  for (int64_t c : m.cols) ++df[c];
  const double n = static_cast<double>(texts.size());
  for (int64_t r = 0; r < m.rows(); ++r) {
    double norm = 0;
    for (int64_t p = m.offsets[r]; p < m.offsets[r + 1]; ++p) {
      m.values[p] *= std::log((1 + n) / (1 + static_cast<double>(df[m.cols[p]]))) + 1;
      norm += m.values[p] * m.values[p];
    }
    const double inv = norm > 0 ? 1.0 / std::sqrt(norm) : 0.0;
    for (int64_t p = m.offsets[r]; p < m.offsets[r + 1]; ++p) m.values[p] *= inv;
  }
  return m;
}

std::vector<float> tfidf_embed(const std::vector<std::string>& texts, const TfidfOptions& options,
                               int64_t* empty_rows) {
  if (options.dim < 1) user_error("config key 'embed.dim' must be >= 1, got {}", options.dim);
  if (options.method != "projection" && options.method != "svd") {
    user_error("config key 'embed.method' must be projection or svd, got '{}'", options.method);
  }
  const SparseRows x = tfidf_matrix(texts, options);
  const int64_t n = x.rows(), d = options.dim;
  // Dense ids for the buckets in use, in bucket order.
  std::vector<int32_t> compact(options.buckets, -1);
  for (int64_t c : x.cols) compact[c] = 0;
  std::vector<int64_t> used;
  for (int64_t c = 0; c < options.buckets; ++c) {
    if (compact[c] == 0) {
      compact[c] = static_cast<int32_t>(used.size());
      used.push_back(c);
    }
  }
  const int64_t u = static_cast<int64_t>(used.size());
  std::vector<float> out(n * d, 0.0f);
  if (options.method == "projection") {
    std::vector<double> r(u * d);
    for (int64_t j = 0; j < u; ++j)
      for (int64_t k = 0; k < d; ++k) r[j * d + k] = gaussian(options.seed, used[j], k);
    std::vector<double> row(d);
    for (int64_t i = 0; i < n; ++i) {
      std::fill(row.begin(), row.end(), 0.0);
      for (int64_t p = x.offsets[i]; p < x.offsets[i + 1]; ++p) {
        const double v = x.values[p];
        const double* rj = r.data() + compact[x.cols[p]] * d;
        for (int64_t k = 0; k < d; ++k) row[k] += v * rj[k];
      }
      for (int64_t k = 0; k < d; ++k) out[i * d + k] = static_cast<float>(row[k]);
    }
  } else {
    // Randomized SVD (Halko et al.): range of X from X·Omega with power iterations, then the exact
    // SVD of the small projected matrix through the eigen-decomposition of B·Bᵀ.
    const int64_t k = std::max<int64_t>(1, std::min<int64_t>({d + options.svd_oversample, n, u}));
    auto times = [&](const std::vector<std::vector<double>>& z) {  // X·Z, z: k columns of length u
      std::vector<std::vector<double>> y(z.size(), std::vector<double>(n, 0.0));
      for (int64_t i = 0; i < n; ++i)
        for (int64_t p = x.offsets[i]; p < x.offsets[i + 1]; ++p)
          for (size_t j = 0; j < z.size(); ++j) y[j][i] += x.values[p] * z[j][compact[x.cols[p]]];
      return y;
    };
    auto times_t = [&](const std::vector<std::vector<double>>& q) {  // Xᵀ·Q
      std::vector<std::vector<double>> z(q.size(), std::vector<double>(u, 0.0));
      for (int64_t i = 0; i < n; ++i)
        for (int64_t p = x.offsets[i]; p < x.offsets[i + 1]; ++p)
          for (size_t j = 0; j < q.size(); ++j) z[j][compact[x.cols[p]]] += x.values[p] * q[j][i];
      return z;
    };
    std::vector<std::vector<double>> omega(k, std::vector<double>(u));
    for (int64_t j = 0; j < k; ++j)
      for (int64_t c = 0; c < u; ++c) omega[j][c] = gaussian(options.seed, used[c], j);
    auto q = times(omega);
    orthonormalise(q);
    for (int64_t it = 0; it < options.svd_power_iterations; ++it) {
      auto z = times_t(q);
      orthonormalise(z);
      q = times(z);
      orthonormalise(q);
    }
    const auto bt = times_t(q);  // Bᵀ = Xᵀ Q, k columns of length u
    std::vector<double> gram(k * k);
    for (int64_t a = 0; a < k; ++a) {
      for (int64_t b = a; b < k; ++b) {
        double s = 0;
        for (int64_t c = 0; c < u; ++c) s += bt[a][c] * bt[b][c];
        gram[a * k + b] = gram[b * k + a] = s;
      }
    }
    std::vector<double> w;
    const auto vals = symmetric_eigen(gram, k, w);
    // X ≈ Q W S Vᵀ, so the item coordinates are U S = Q W S.
    for (int64_t comp = 0; comp < std::min(d, k); ++comp) {
      const double s = std::sqrt(std::max(0.0, vals[comp]));
      for (int64_t i = 0; i < n; ++i) {
        double v = 0;
        for (int64_t a = 0; a < k; ++a) v += q[a][i] * w[a * k + comp];
        out[i * d + comp] = static_cast<float>(v * s);
      }
    }
  }
  l2_normalise_rows(out, n, d, empty_rows);
  return out;
}

}  // namespace grec::data
