// Processing on hand-checked examples: k-core, leave-one-out, rating threshold, malformed lines
// (file:line messages, --skip-bad-lines counts), missing fields, empty results.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/error.h"
#include "data_pipeline/build.h"
#include "data_pipeline/ingest.h"
#include "tests/data_pipeline/data_test_util.h"

namespace grec::data {
namespace {

using test::TempDir;
using test::write_text;

std::string error_of(const IngestOptions& o) {
  try {
    ingest(o);
  } catch (const UserError& e) {
    return e.what();
  }
  return "";
}

IngestOptions csv_options(const std::string& path) {
  IngestOptions o;
  o.format = "csv";
  o.input = path;
  o.csv.header = false;
  o.csv.user = "0";
  o.csv.item = "1";
  o.csv.timestamp = "2";
  return o;
}

// Users a..e, items 1..5. With min_user = min_item = 2:
//   round 1: user e (1 event) goes; item 5 (only e and d) keeps 1 event -> goes;
//   then user d has one event (item 4) -> goes in round 2, and item 4 keeps two (a, b).
const char* kCoreEvents =
    "a,1,1\na,2,2\na,3,3\na,4,4\n"
    "b,1,1\nb,2,2\nb,4,3\n"
    "c,2,1\nc,3,2\n"
    "d,4,1\nd,5,2\n"
    "e,5,1\n";

TEST(Processing, IterativeKCore) {
  TempDir dir;
  auto o = csv_options(write_text(dir.sub("e.csv"), kCoreEvents));
  o.min_user = 2;
  o.min_item = 2;
  Dataset d = ingest(o);
  EXPECT_EQ(d.user_raw_ids, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(d.item_raw_ids, (std::vector<std::string>{"1", "2", "3", "4"}));
  EXPECT_EQ(d.num_interactions(), 9);
  EXPECT_EQ(d.attrs["dropped_kcore"], 3);
  // min_user 3: c goes, then item 3 has only a -> with min_item 2 it goes too.
  o.min_user = 3;
  Dataset e = ingest(o);
  EXPECT_EQ(e.user_raw_ids, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(e.item_raw_ids, (std::vector<std::string>{"1", "2", "4"}));
  EXPECT_EQ(e.num_interactions(), 6);
}

TEST(Processing, LeaveOneOutSplit) {
  TempDir dir;
  auto o = csv_options(write_text(dir.sub("e.csv"), kCoreEvents));
  Dataset d = ingest(o);
  // a: 4 items -> train 2, valid 1, test 1; b: 3 -> 1/1/1; c, d: 2 and e: 1 -> train only.
  EXPECT_EQ(d.train_end, (std::vector<int64_t>{2, 1, 2, 2, 1}));
  EXPECT_EQ(d.valid_end, (std::vector<int64_t>{3, 2, 2, 2, 1}));
  EXPECT_EQ(d.sequence(0)[d.train_end[0]], 2);  // a's valid item is raw "3" -> dense 2
  EXPECT_EQ(d.sequence(0)[d.valid_end[0]], 3);  // a's test item is raw "4"
  EXPECT_EQ(d.attrs["users_without_holdout"], 3);
}

TEST(Processing, RatingThresholdAndDedupeKeepFirst) {
  TempDir dir;
  auto o =
      csv_options(write_text(dir.sub("e.csv"), "u,1,5,1\nu,2,1,2\nu,1,2,3\nu,3,4,4\nv,2,5,1\n"));
  o.csv.rating = "2";
  o.csv.timestamp = "3";
  Dataset all = ingest(o);
  EXPECT_EQ(all.num_interactions(), 4);  // (u,1) twice: the first (rating 5) is kept
  EXPECT_FLOAT_EQ(all.inter_rating[0], 5.0f);
  o.min_rating = 4;
  Dataset liked = ingest(o);
  EXPECT_EQ(liked.num_interactions(), 3);
  EXPECT_EQ(liked.attrs["dropped_rating"], 2);
}

TEST(Processing, MalformedLineNamesFileAndLine) {
  TempDir dir;
  const std::string path = write_text(dir.sub("bad.csv"), "a,1,1\na,2\nb,1,x\nb,2,2\n");
  auto o = csv_options(path);
  const std::string msg = error_of(o);
  EXPECT_NE(msg.find(path + ":2: expected at least 3 fields, got 2"), std::string::npos) << msg;
  o.skip_bad_lines = true;
  Dataset d = ingest(o);
  EXPECT_EQ(d.attrs["skipped_lines"], 2);
  EXPECT_EQ(d.num_interactions(), 2);
}

TEST(Processing, MovielensBadRatingLine) {
  TempDir dir;
  write_text(dir.sub("u.data"), "1\t1\t5\t10\n1\t2\tfive\t11\n");
  IngestOptions o;
  o.format = "movielens";
  o.input = dir.path().string();
  EXPECT_NE(error_of(o).find("u.data:2: rating 'five' is not a number"), std::string::npos)
      << error_of(o);
}

TEST(Processing, MissingFieldsAreNamed) {
  TempDir dir;
  IngestOptions o;
  o.format = "amazon";
  o.input = write_text(dir.sub("r.json"),
                       "{\"reviewerID\": \"A\", \"asin\": \"B\", \"unixReviewTime\": 1}\n"
                       "{\"reviewerID\": \"A\", \"unixReviewTime\": 2}\n");
  EXPECT_NE(error_of(o).find("r.json:2: missing field 'asin'"), std::string::npos) << error_of(o);
  auto c = csv_options(write_text(dir.sub("h.csv"), "user,item\nu,i\n"));
  c.csv.header = true;
  c.csv.user = "user";
  c.csv.item = "item";
  c.csv.timestamp = "time";
  EXPECT_NE(error_of(c).find("no column 'time' for the timestamp"), std::string::npos)
      << error_of(c);
}

TEST(Processing, EmptyAfterFilteringIsAnErrorAndWritesNothing) {
  TempDir dir;
  auto o = csv_options(write_text(dir.sub("e.csv"), kCoreEvents));
  o.min_user = 10;
  const std::string out = dir.sub("out/dataset.h5");
  try {
    ingest_to_file(o, out);
    FAIL() << "expected an error";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("no interactions left after filtering"),
              std::string::npos);
  }
  EXPECT_FALSE(std::filesystem::exists(out));
}

TEST(Processing, RawIdOrder) {
  EXPECT_EQ(rank_raw_ids({"10", "9", "100"}), (std::vector<int64_t>{1, 0, 2}));
  EXPECT_EQ(rank_raw_ids({"b", "a", "10"}), (std::vector<int64_t>{2, 1, 0}));
}

}  // namespace
}  // namespace grec::data
