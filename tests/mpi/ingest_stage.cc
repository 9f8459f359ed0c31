// The ingest stage on 2 ranks: rank 0 synthesises and writes dataset.h5 while rank 1 waits at
// the pipeline's barrier; afterwards both ranks read the same file, and the metrics record and
// the stage marker exist.
#include <gtest/gtest.h>

#include <filesystem>
#include <optional>

#include "core/config.h"
#include "core/fs.h"
#include "core/log.h"
#include "data_pipeline/dataset.h"
#include "dist/collectives.h"
#include "dist/mpi_env.h"
#include "train/pipeline.h"
#include "stages/stages.h"
#include "tests/test_util/temp_dir.h"

namespace grec {
namespace {

dist::MpiEnv* g_env = nullptr;  // set by main for the test body (read-only)

TEST(IngestStage, RootWritesEveryRankReads) {
  const int rank = g_env->rank();
  // Rank 0's folder, shared by both ranks (one machine); removed when rank 0 leaves the test.
  std::optional<test::TempDir> tmp;
  if (rank == 0) tmp.emplace("ingest_stage");
  const std::string dir = dist::broadcast_string(tmp ? tmp->str() : std::string());
  const std::string yaml = "run: {name: t, dir: " + dir +
                           "}\ningest: {format: synth, synth: {users: 300, items: 120, seed: 5}}\n";
  const Config config = Config::parse(stages::full_schema(), yaml, "<test>");
  ASSERT_EQ(train::run_pipeline(stages::all_stages(), config, *g_env, {{"ingest"}, true, "test"}), 0);
  dist::barrier();
  const std::string path = stages::dataset_path(config);
  EXPECT_EQ(path, dir + "/t/artifacts/ingest/dataset.h5");
  const data::Dataset d = data::read_dataset(path);
  EXPECT_EQ(d.num_users(), 300);
  EXPECT_EQ(d.num_items(), 120);
  const int64_t n = d.num_interactions();
  EXPECT_EQ(dist::allreduce_max(n), n);  // both ranks see the same file
  if (rank == 0) {
    const std::string metrics = read_file(dir + "/t/metrics.jsonl");
    EXPECT_NE(metrics.find("\"event\":\"dataset\""), std::string::npos) << metrics;
    EXPECT_NE(metrics.find("\"interactions\":" + std::to_string(n)), std::string::npos);
    EXPECT_TRUE(std::filesystem::exists(dir + "/t/artifacts/ingest/stage.json"));
  }
  dist::barrier();  // rank 1 is done with the folder before rank 0 removes it
}

}  // namespace
}  // namespace grec

int main(int argc, char** argv) {
  grec::dist::MpiEnv env(&argc, &argv);
  grec::g_env = &env;
  grec::log::init({env.rank(), env.world(), false, false});
  ::testing::InitGoogleTest(&argc, argv);
  const int rc = RUN_ALL_TESTS();
  return static_cast<int>(grec::dist::allreduce_max(rc));
}
