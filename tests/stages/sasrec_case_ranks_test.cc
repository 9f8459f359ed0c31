// stages/sasrec_case_ranks: SASRec metrics over a subset of users from the stored per-case ranks,
// and the reasons given when they cannot be reported.
#include "stages/sasrec_case_ranks.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "tests/test_util/temp_dir.h"

namespace gt = grec::stages;
namespace fs = std::filesystem;

TEST(SasrecCaseRanks, SubsetMetricsAndClearReasons) {
  const grec::test::TempDir tmp("case_ranks");
  const grec::RunDir run(tmp.str());
  std::string why;
  const nlohmann::json absent = gt::read_sasrec_case_ranks(run, &why);
  EXPECT_TRUE(absent.is_null());
  EXPECT_NE(why.find("does not exist"), std::string::npos) << why;
  EXPECT_TRUE(gt::sasrec_metrics_for_users(absent, "test", {1}, {1, 10}, &why).is_null());
  EXPECT_NE(why.find("does not exist"), std::string::npos) << why;  // the reason is kept

  fs::create_directories(run.artifacts("sasrec"));
  std::ofstream(gt::sasrec_case_ranks_path(run))
      << R"({"test": {"users": [3, 5, 8, 9], "ranks": [1, 12, 4, 2]}, "mask_history": true})";
  const nlohmann::json ranks = gt::read_sasrec_case_ranks(run, &why);
  ASSERT_FALSE(ranks.is_null()) << why;
  // Users 5 and 9: ranks 12 and 2 -> HR@10 = 0.5, HR@1 = 0, NDCG@10 = (1/log2(3)) / 2.
  const nlohmann::json m = gt::sasrec_metrics_for_users(ranks, "test", {5, 9}, {1, 10}, &why);
  ASSERT_FALSE(m.is_null()) << why;
  EXPECT_EQ(m["users"], 2);
  EXPECT_DOUBLE_EQ(m["HR@10"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(m["HR@1"].get<double>(), 0.0);
  EXPECT_NEAR(m["NDCG@10"].get<double>(), 0.5 / std::log2(3.0), 1e-12);
  EXPECT_EQ(m["mask_history"], true);
  // A user without a rank, or a split that is not there: no row, and why.
  EXPECT_TRUE(gt::sasrec_metrics_for_users(ranks, "test", {5, 7}, {10}, &why).is_null());
  EXPECT_NE(why.find("user 7"), std::string::npos) << why;
  EXPECT_TRUE(gt::sasrec_metrics_for_users(ranks, "valid", {5}, {10}, &why).is_null());
  EXPECT_NE(why.find("no split 'valid'"), std::string::npos) << why;
}
