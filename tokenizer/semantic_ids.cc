// semantic_ids.h5 reader/writer, the TSV view, the trie over the tuples and the semantic sanity
// figure (mean text-embedding cosine of pairs sharing the first code vs. pairs that don't).
#include "tokenizer/semantic_ids.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <random>

#include "core/error.h"
#include "core/fs.h"
#include "core/h5.h"
#include "data_pipeline/dataset.h"
#include "tokenizer/prefix_trie.h"

namespace grec::tok {
namespace {

std::string clean_cell(std::string s) {
  for (char& ch : s) {
    if (ch == '\t' || ch == '\n' || ch == '\r') ch = ' ';
  }
  return s;
}

}  // namespace

void SemanticIds::validate() const {
  GREC_CHECK(items >= 0 && levels >= 1, "semantic ids: items {} levels {}", items, levels);
  GREC_CHECK(static_cast<int64_t>(codes.size()) == items * levels,
             "semantic ids: {} codes for {} items x {} levels", codes.size(), items, levels);
  GREC_CHECK(static_cast<int64_t>(level_sizes.size()) == levels,
             "semantic ids: {} level sizes for {} levels", level_sizes.size(), levels);
  GREC_CHECK(rq_levels >= 0 && rq_levels <= levels, "semantic ids: rq_levels {} of {}", rq_levels,
             levels);
  for (int64_t i = 0; i < items; ++i) {
    for (int64_t l = 0; l < levels; ++l) {
      const int64_t c = code(i, l);
      GREC_CHECK(c >= 0 && c < level_sizes[l], "semantic ids: item {} level {} code {} not in [0, {})",
                 i, l, c, level_sizes[l]);
    }
  }
  GREC_CHECK(codebooks.empty() || static_cast<int64_t>(codebooks.size()) == rq_levels,
             "semantic ids: {} codebooks for {} RQ levels", codebooks.size(), rq_levels);
  for (size_t l = 0; l < codebooks.size(); ++l) {
    GREC_CHECK(static_cast<int64_t>(codebooks[l].size()) == level_sizes[l] * code_dim,
               "semantic ids: codebook {} holds {} values, expected {} x {}", l, codebooks[l].size(),
               level_sizes[l], code_dim);
  }
}

void write_semantic_ids(const SemanticIds& ids, const std::string& path) {
  ids.validate();
  const std::string tmp = temp_path_for(path);
  {
    h5::File f = h5::File::create(tmp);
    f.write_i64("/codes", ids.codes,
                {static_cast<uint64_t>(ids.items), static_cast<uint64_t>(ids.levels)});
    f.write_i64("/level_sizes", ids.level_sizes);
    f.create_group("/codebooks");
    for (size_t l = 0; l < ids.codebooks.size(); ++l) {
      f.write_f32("/codebooks/level_" + std::to_string(l), ids.codebooks[l],
                  {static_cast<uint64_t>(ids.level_sizes[l]), static_cast<uint64_t>(ids.code_dim)});
    }
    f.set_attr("/", "format_version", kSemanticIdsFormatVersion);
    f.set_attr("/", "items", ids.items);
    f.set_attr("/", "levels", ids.levels);
    f.set_attr("/", "rq_levels", ids.rq_levels);
    f.set_attr("/", "codebook_size", ids.codebook_size);
    f.set_attr("/", "code_dim", ids.code_dim);
    f.set_attr("/", "method", ids.method);
    f.set_attr("/", "stats", ids.stats.dump());
    f.set_attr("/", "config", ids.config.dump());
    f.close();
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    user_error("cannot rename {} to {}", tmp, path);
  }
}

SemanticIds read_semantic_ids(const std::string& path) {
  h5::File f = h5::File::open(path);
  if (!f.has_attr("/", "format_version") ||
      f.attr_i64("/", "format_version") != kSemanticIdsFormatVersion) {
    user_error("{} is not a semantic_ids.h5 file of format version {}", path,
               kSemanticIdsFormatVersion);
  }
  SemanticIds ids;
  const auto shape = f.shape("/codes");
  if (shape.size() != 2) user_error("{}: /codes must be 2-D [items, levels]", path);
  ids.items = static_cast<int64_t>(shape[0]);
  ids.levels = static_cast<int64_t>(shape[1]);
  ids.codes = f.read_i64("/codes");
  ids.level_sizes = f.read_i64("/level_sizes");
  ids.rq_levels = f.attr_i64("/", "rq_levels");
  ids.codebook_size = f.attr_i64("/", "codebook_size");
  ids.code_dim = f.attr_i64("/", "code_dim");
  ids.method = f.attr_string("/", "method");
  try {
    ids.stats = nlohmann::json::parse(f.attr_string("/", "stats"));
    ids.config = nlohmann::json::parse(f.attr_string("/", "config"));
  } catch (const nlohmann::json::exception& e) {
    user_error("{}: the stats/config attributes are not valid JSON ({})", path, e.what());
  }
  for (int64_t l = 0; l < ids.rq_levels; ++l) {
    const std::string name = "/codebooks/level_" + std::to_string(l);
    if (!f.exists(name)) break;
    ids.codebooks.push_back(f.read_f32(name));
  }
  try {
    ids.validate();
  } catch (const UserError&) {
    throw;
  } catch (const Error& e) {
    user_error("{} is inconsistent: {}", path, e.what());
  }
  return ids;
}

std::string token_string(const SemanticIds& ids, int64_t item) {
  std::string s;
  for (int64_t l = 0; l < ids.levels; ++l) s += semantic_token(l, ids.code(item, l));
  return s;
}

void write_semantic_ids_tsv(const SemanticIds& ids, const data::Dataset* dataset,
                            const std::string& path) {
  const std::vector<std::string>* titles = nullptr;
  if (dataset != nullptr) {
    GREC_CHECK(dataset->num_items() == ids.items, "dataset has {} items, semantic ids {}",
               dataset->num_items(), ids.items);
    auto it = dataset->item_text.find("title");
    if (it != dataset->item_text.end()) titles = &it->second;
  }
  std::string out = "item_id\traw_id\ttitle\tcodes\ttokens\n";
  for (int64_t i = 0; i < ids.items; ++i) {
    std::string tuple;
    for (int64_t l = 0; l < ids.levels; ++l) tuple += (l ? "," : "") + std::to_string(ids.code(i, l));
    out += std::to_string(i) + '\t' + (dataset ? clean_cell(dataset->item_raw_ids[i]) : "") + '\t' +
           (titles ? clean_cell((*titles)[i]) : "") + '\t' + tuple + '\t' + token_string(ids, i) +
           '\n';
  }
  write_file_atomic(path, out);
}

PrefixTrie build_trie(const SemanticIds& ids) {
  return PrefixTrie::build(ids.codes, ids.items, ids.levels);
}

double mean_cosine_sharing_first_code(const std::vector<float>& embeddings, int64_t n, int64_t d,
                                      const SemanticIds& ids, double* mean_not_sharing,
                                      uint64_t seed, int64_t max_pairs) {
  GREC_CHECK(n == ids.items && static_cast<int64_t>(embeddings.size()) == n * d,
             "embeddings [{} x {}] ({} values) do not match {} items", n, d, embeddings.size(),
             ids.items);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  // Unit rows, so a cosine is a dot product.
  std::vector<double> unit(embeddings.begin(), embeddings.end());
  for (int64_t i = 0; i < n; ++i) {
    double s = 0;
    for (int64_t k = 0; k < d; ++k) s += unit[i * d + k] * unit[i * d + k];
    const double inv = s > 0 ? 1.0 / std::sqrt(s) : 0.0;
    for (int64_t k = 0; k < d; ++k) unit[i * d + k] *= inv;
  }
  auto cosine = [&](int64_t a, int64_t b) {
    double s = 0;
    for (int64_t k = 0; k < d; ++k) s += unit[a * d + k] * unit[b * d + k];
    return s;
  };
  double same = 0, diff = 0;
  int64_t n_same = 0, n_diff = 0;
  const int64_t all_pairs = n * (n - 1) / 2;
  if (all_pairs <= max_pairs) {
    for (int64_t a = 0; a < n; ++a) {
      for (int64_t b = a + 1; b < n; ++b) {
        const double c = cosine(a, b);
        if (ids.code(a, 0) == ids.code(b, 0)) {
          same += c;
          ++n_same;
        } else {
          diff += c;
          ++n_diff;
        }
      }
    }
  } else {
    // Half the budget on uniform random pairs (mostly different first codes), half on pairs drawn
    // inside first-code groups (weighted by the group's pair count), so both means exist.
    std::mt19937_64 rng(seed);
    std::map<int64_t, std::vector<int64_t>> groups;
    for (int64_t i = 0; i < n; ++i) groups[ids.code(i, 0)].push_back(i);
    std::vector<const std::vector<int64_t>*> gs;
    std::vector<double> weights;
    for (const auto& kv : groups) {
      const double m = static_cast<double>(kv.second.size());
      if (m >= 2) {
        gs.push_back(&kv.second);
        weights.push_back(m * (m - 1) / 2);
      }
    }
    std::uniform_int_distribution<int64_t> any(0, n - 1);
    for (int64_t p = 0; p < max_pairs / 2; ++p) {
      const int64_t a = any(rng), b = any(rng);
      if (a == b || ids.code(a, 0) == ids.code(b, 0)) continue;
      diff += cosine(a, b);
      ++n_diff;
    }
    if (!gs.empty()) {
      std::discrete_distribution<size_t> pick(weights.begin(), weights.end());
      for (int64_t p = 0; p < max_pairs / 2; ++p) {
        const auto& g = *gs[pick(rng)];
        std::uniform_int_distribution<size_t> in(0, g.size() - 1);
        const size_t x = in(rng), y = in(rng);
        if (x == y) continue;
        same += cosine(g[x], g[y]);
        ++n_same;
      }
    }
  }
  if (mean_not_sharing != nullptr) *mean_not_sharing = n_diff ? diff / n_diff : nan;
  return n_same ? same / n_same : nan;
}

}  // namespace grec::tok
