// TF-IDF item embeddings on the real datasets (ML-100K titles + genres, MicroLens-50K titles):
// wall time of the projection and the SVD reduction, one JSON object per line. Skips datasets
// that are absent from GREC_SHARED_DATASETS.
#include <chrono>
#include <cmath>
#include <filesystem>
#include <iostream>

#include <nlohmann/json.hpp>

#include "data_pipeline/ingest.h"
#include "data_pipeline/item_text.h"
#include "data_pipeline/tfidf.h"

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void run(const std::string& name, const grec::data::IngestOptions& ingest, int64_t dim) {
  const grec::data::Dataset d = grec::data::ingest(ingest);
  const auto texts = grec::data::build_item_texts(d, grec::data::default_item_text_fields());
  nlohmann::json out = {{"bench", "embed_tfidf"}, {"dataset", name}, {"items", d.num_items()},
                        {"dim", dim}};
  grec::data::TfidfOptions o;
  o.dim = dim;
  auto t0 = std::chrono::steady_clock::now();
  const auto x = grec::data::tfidf_matrix(texts, o);
  out["tfidf_matrix_s"] = seconds_since(t0);
  out["nnz"] = x.cols.size();
  for (const char* method : {"projection", "svd"}) {
    o.method = method;
    int64_t empty = 0;
    t0 = std::chrono::steady_clock::now();
    const auto e = grec::data::tfidf_embed(texts, o, &empty);
    out["grec"][method] = {{"wall_s", seconds_since(t0)}, {"empty_items", empty}};
    // Mean cosine of consecutive item pairs, a cheap sanity figure (unit rows, so dot products).
    double s = 0;
    for (int64_t i = 0; i + 1 < d.num_items(); ++i)
      for (int64_t k = 0; k < dim; ++k) s += static_cast<double>(e[i * dim + k]) * e[(i + 1) * dim + k];
    out["grec"][method]["mean_cos_consecutive"] = s / std::max<int64_t>(1, d.num_items() - 1);
  }
  std::cout << out.dump() << std::endl;
}

}  // namespace

int main() {
  const std::string root = GREC_SHARED_DATASETS;
  if (std::filesystem::exists(root + "/ml-100k/u.data")) {
    grec::data::IngestOptions o;
    o.format = "movielens";
    o.input = root + "/ml-100k";
    run("ml-100k", o, 128);
  }
  if (std::filesystem::exists(root + "/microlens-50k/items.jsonl")) {
    grec::data::IngestOptions o;
    o.format = "seqtxt";
    o.input = root + "/microlens-50k/sequential_train.txt";
    o.items = root + "/microlens-50k/items.jsonl";
    run("microlens-50k", o, 128);
  }
  return 0;
}
