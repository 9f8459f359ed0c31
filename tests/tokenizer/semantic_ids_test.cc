// semantic_ids.h5 round trip, the TSV view, the trie built from it and the sanity figure.
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "core/fs.h"
#include "data_pipeline/dataset.h"
#include "tests/test_util/temp_dir.h"
#include "tokenizer/prefix_trie.h"
#include "tokenizer/semantic_ids.h"

namespace grec::tok {
namespace {

using test::TempDir;

SemanticIds sample_ids() {
  SemanticIds ids;
  ids.items = 3;
  ids.levels = 3;
  ids.rq_levels = 2;
  ids.codebook_size = 4;
  ids.code_dim = 2;
  ids.codes = {1, 2, 0, 1, 2, 1, 3, 0, 0};
  ids.level_sizes = {4, 4, 2};
  ids.codebooks = {{0, 1, 2, 3, 4, 5, 6, 7}, {-1, -2, -3, -4, -5, -6, -7, -8.5f}};
  ids.method = "sinkhorn";
  ids.stats = {{"collision_rate_before", 0.5}};
  ids.config = {{"levels", 2}};
  return ids;
}

TEST(SemanticIds, RoundTrip) {
  TempDir tmp;
  const auto ids = sample_ids();
  write_semantic_ids(ids, tmp.sub("semantic_ids.h5"));
  const auto back = read_semantic_ids(tmp.sub("semantic_ids.h5"));
  EXPECT_EQ(back.items, 3);
  EXPECT_EQ(back.levels, 3);
  EXPECT_EQ(back.rq_levels, 2);
  EXPECT_EQ(back.codes, ids.codes);
  EXPECT_EQ(back.level_sizes, ids.level_sizes);
  EXPECT_EQ(back.codebooks, ids.codebooks);
  EXPECT_EQ(back.method, "sinkhorn");
  EXPECT_EQ(back.stats, ids.stats);
  EXPECT_EQ(back.config, ids.config);
  EXPECT_EQ(token_string(back, 1), "<a_1><b_2><c_1>");
  const auto trie = build_trie(back);
  EXPECT_EQ(trie.allowed_next({1, 2}), (std::vector<int64_t>{0, 1}));
}

TEST(SemanticIds, InvalidContentIsRejected) {
  TempDir tmp;
  auto ids = sample_ids();
  ids.codes[0] = 4;  // outside level size 4
  EXPECT_THROW(write_semantic_ids(ids, tmp.sub("bad.h5")), Error);
  write_file_atomic(tmp.sub("junk.h5"), "not hdf5");
  EXPECT_THROW(read_semantic_ids(tmp.sub("junk.h5")), UserError);
  auto dup = sample_ids();
  dup.codes = {1, 2, 0, 1, 2, 0, 3, 0, 0};
  EXPECT_THROW(build_trie(dup), UserError);
}

TEST(SemanticIds, TsvView) {
  TempDir tmp;
  data::Dataset d;
  d.item_raw_ids = {"i1", "i2", "i3"};
  d.item_text["title"] = {"One", "Two\tTabs", "Three"};
  write_semantic_ids_tsv(sample_ids(), &d, tmp.sub("ids.tsv"));
  EXPECT_EQ(read_file(tmp.sub("ids.tsv")),
            "item_id\traw_id\ttitle\tcodes\ttokens\n"
            "0\ti1\tOne\t1,2,0\t<a_1><b_2><c_0>\n"
            "1\ti2\tTwo Tabs\t1,2,1\t<a_1><b_2><c_1>\n"
            "2\ti3\tThree\t3,0,0\t<a_3><b_0><c_0>\n");
}

TEST(SemanticIds, FirstCodeCosine) {
  // Items 0,1 share first code 0 and point the same way; item 2 (code 1) is orthogonal.
  SemanticIds ids;
  ids.items = 4;
  ids.levels = 1;
  ids.codes = {0, 0, 1, 1};
  ids.level_sizes = {2};
  const std::vector<float> emb = {1, 0, 2, 0, 0, 1, 0, 3};
  double other = 0;
  EXPECT_DOUBLE_EQ(mean_cosine_sharing_first_code(emb, 4, 2, ids, &other), 1.0);
  EXPECT_DOUBLE_EQ(other, 0.0);
  // Sampled path: many items, two clusters; the sampled means equal the exact ones (1 and 0).
  SemanticIds big;
  big.items = 400;
  big.levels = 1;
  big.level_sizes = {2};
  std::vector<float> e;
  for (int64_t i = 0; i < 400; ++i) {
    big.codes.push_back(i % 2);
    e.push_back(i % 2 ? 0.f : 1.f);
    e.push_back(i % 2 ? 1.f : 0.f);
  }
  const double same = mean_cosine_sharing_first_code(e, 400, 2, big, &other, 1, 1000);
  EXPECT_DOUBLE_EQ(same, 1.0);
  EXPECT_DOUBLE_EQ(other, 0.0);
}

}  // namespace
}  // namespace grec::tok
