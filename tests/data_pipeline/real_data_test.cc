// Exact counts on the real datasets in GREC_SHARED_DATASETS (skipped when absent).
#include <gtest/gtest.h>

#include <filesystem>

#include "data_pipeline/ingest.h"
#include "data_pipeline/stats.h"

namespace grec::data {
namespace {

std::string shared(const std::string& rel) {
  const std::string p = std::string(GREC_SHARED_DATASETS) + "/" + rel;
  return std::filesystem::exists(p) ? p : "";
}

TEST(RealData, MovieLens100k) {
  const std::string dir = shared("ml-100k");
  if (dir.empty() || !std::filesystem::exists(dir + "/u.data")) GTEST_SKIP() << "no ml-100k";
  IngestOptions o;
  o.format = "movielens";
  o.input = dir;
  const Dataset d = ingest(o);
  EXPECT_EQ(d.num_users(), 943);
  EXPECT_EQ(d.num_items(), 1682);
  EXPECT_EQ(d.num_interactions(), 100000);
  EXPECT_EQ(d.item_raw_ids.front(), "1");
  EXPECT_EQ(d.item_text.at("title")[0], "Toy Story (1995)");
  EXPECT_EQ(d.item_text.at("genres")[0], "Animation, Children's, Comedy");
  // u.item is latin-1: item 543's title comes out as UTF-8.
  EXPECT_EQ(d.item_text.at("title")[542], "Mis\xc3\xa9rables, Les (1995)");
  for (const auto& t : d.item_text.at("title")) ASSERT_FALSE(t.empty());
  const auto s = dataset_stats(d);
  EXPECT_EQ(s["split"]["test"], 943);
  EXPECT_EQ(s["sequence_length"]["min"], 20);
}

// Rating >= 4, then 5-core; the counts come from an independent Python computation
// (iterate: drop users and items with fewer than 5 events until stable).
TEST(RealData, MovieLens100kFiltered) {
  const std::string dir = shared("ml-100k");
  if (dir.empty() || !std::filesystem::exists(dir + "/u.data")) GTEST_SKIP() << "no ml-100k";
  IngestOptions o;
  o.format = "movielens";
  o.input = dir;
  o.min_rating = 4;
  o.min_user = 5;
  o.min_item = 5;
  const Dataset d = ingest(o);
  EXPECT_EQ(d.num_users(), 938);
  EXPECT_EQ(d.num_items(), 1008);
  EXPECT_EQ(d.num_interactions(), 54413);
}

TEST(RealData, AmazonBeautyS3Rec) {
  const std::string path = shared("amazon-s3rec/Beauty.txt");
  if (path.empty()) GTEST_SKIP() << "no amazon-s3rec";
  IngestOptions o;
  o.format = "seqtxt";
  o.input = path;
  o.items = shared("amazon-s3rec/Beauty_item2attributes.json");
  const Dataset d = ingest(o);
  EXPECT_EQ(d.num_users(), 22363);
  EXPECT_EQ(d.num_items(), 12101);
  EXPECT_EQ(d.num_interactions(), 198502);
  EXPECT_EQ(d.item_raw_ids[0], "1");  // numeric ids: dense id = raw id - 1
  EXPECT_EQ(d.item_raw_ids[12100], "12101");
  if (!o.items.empty()) {
    EXPECT_TRUE(d.item_text.count("attributes"));
  }
}

TEST(RealData, MicroLens50kPresplit) {
  const std::string dir = shared("microlens-50k");
  if (dir.empty()) GTEST_SKIP() << "no microlens-50k";
  IngestOptions o;
  o.format = "seqtxt";
  o.input = dir + "/sequential_train.txt";
  o.items = dir + "/items.jsonl";
  const Dataset d = ingest(o);
  EXPECT_EQ(d.num_users(), 49887);
  EXPECT_EQ(d.num_items(), 19217);
  EXPECT_EQ(d.num_interactions(), 359048);
  const auto s = dataset_stats(d);
  EXPECT_EQ(s["split"]["kind"], "source");
  EXPECT_EQ(s["split"]["train"], 287768);
  EXPECT_EQ(s["split"]["valid"], 35970);
  EXPECT_EQ(s["split"]["test"], 35310);
  EXPECT_GT(s["text_coverage"]["title"].get<double>(), 0.9);
}

}  // namespace
}  // namespace grec::data
