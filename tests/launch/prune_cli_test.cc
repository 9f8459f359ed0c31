// Stage prune end to end through the grec command on a tiny synthetic config: kept.h5 and
// results.json, align training on the kept prefixes only, the same scores and kept set on
// 2 ranks (mpiexec) as on 1, and bad input refused with the key named and nothing written.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "data_pipeline/dataset.h"
#include "stages/prune_kept.h"
#include "tests/test_util/grec_cli.h"
#include "tests/test_util/temp_dir.h"

namespace {

namespace fs = std::filesystem;

using Result = grec::test::ShellResult;

Result grec(const std::string& args) { return grec::test::run_grec(args); }
Result grec_two_ranks(const std::string& args) { return grec::test::run_grec_two_ranks(args); }

class PruneCli : public ::testing::Test {
 protected:
  void SetUp() override {
    config_ = (dir_ / "tiny.yaml").string();
    std::ofstream(config_) << grec::test::tiny_run_yaml((dir_ / "runs").string())
                           << "prune:\n  keep: 0.25\n  influence: { depth: 60, repeats: 2, batch_size: 64 }\n"
                           << "  effort: { warmup_steps: 4, valid_users: 10 }\n"
                           << "align:\n  prompt_template: \"{instruction}\\n\"\n"
                           << "  model: { hidden: 32, layers: 1, heads: 2, kv_heads: 1, intermediate: 64 }\n"
                           << "  tokenizer: { vocab_size: 400 }\n  valid: { users: 20, num_beams: 10 }\n"
                           << "  tasks: [seqrec, item2index]\n"
                           << "  train: { max_steps: 4, global_batch_size: 32, lr: 3.0e-3 }\n"
                           << "evaluate: { num_beams: 10, max_users: 30, max_valid_users: 20 }\n";
  }
  fs::path root() const { return dir_ / "runs" / "tiny"; }
  fs::path kept() const { return root() / "artifacts" / "prune" / "kept.h5"; }

  grec::test::TempDir tmp_{"prune_cli"};
  const fs::path dir_ = tmp_.path();
  std::string config_;
};

TEST_F(PruneCli, AlignTrainsOnTheKeptSetAndTwoRanksScoreAsOne) {
  Result first = grec("run " + config_ + " --set 'run.stages=[ingest,sasrec,embed,rqvae,prune,align]'");
  ASSERT_EQ(first.code, 0) << first.out;
  ASSERT_TRUE(fs::exists(kept()));
  const grec::data::Dataset d = grec::data::read_dataset((root() / "artifacts" / "ingest" / "dataset.h5").string());
  const grec::stages::PruneTable one = grec::stages::read_prune_table(kept().string());
  const int64_t n = static_cast<int64_t>(one.keys.size());
  int64_t prefixes = 0, kept_count = 0;
  for (int64_t u = 0; u < d.num_users(); ++u) prefixes += std::max<int64_t>(0, d.train_end[u] - 1);
  ASSERT_EQ(n, prefixes);
  for (int64_t i = 0; i < n; ++i) {
    // Never a validation or test position.
    EXPECT_GE(one.keys[i].end, 1);
    EXPECT_LT(one.keys[i].end, d.train_end[one.keys[i].user]);
    EXPECT_TRUE(std::isfinite(one.influence[i]) && std::isfinite(one.effort[i])) << i;
    EXPECT_GT(one.effort[i], 0.0);
    kept_count += one.kept[i];
    if (one.kept[i]) {
      EXPECT_GE(one.stratum[i], 0) << "a dropped-as-hardest sample was kept";
    }
  }
  EXPECT_EQ(kept_count, std::llround(0.25 * double(n)));
  auto results = nlohmann::json::parse(std::ifstream(root() / "artifacts" / "prune" / "results.json"));
  EXPECT_EQ(results["kept"], kept_count);
  EXPECT_TRUE(results["phases"]["influence"]["per_sample"].contains("samples_per_s")) << results.dump();
  EXPECT_TRUE(results["phases"]["effort"].contains("samples_per_s")) << results.dump();
  // Align's seqrec samples are the kept prefixes (weight 1), its item tasks whole.
  auto align = nlohmann::json::parse(std::ifstream(root() / "artifacts" / "align" / "results.json"));
  EXPECT_EQ(align["samples"]["seqrec"], kept_count) << align.dump();
  EXPECT_EQ(align["pruned"]["kept"], kept_count);

  // 2 ranks: the same scores (1e-5 relative) and the same kept set. The warm-up's checkpoints
  // are removed so that it trains again on 2 ranks instead of resuming.
  fs::remove_all(root() / "checkpoints" / "prune");
  Result two = grec_two_ranks("stage prune " + config_ + " --force");
  ASSERT_EQ(two.code, 0) << two.out;
  const grec::stages::PruneTable t2 = grec::stages::read_prune_table(kept().string());
  ASSERT_EQ(static_cast<int64_t>(t2.keys.size()), n);
  double inf_scale = 0, eff_scale = 0;
  for (int64_t i = 0; i < n; ++i) {
    inf_scale = std::max(inf_scale, std::abs(one.influence[i]));
    eff_scale = std::max(eff_scale, std::abs(one.effort[i]));
  }
  for (int64_t i = 0; i < n; ++i) {
    ASSERT_EQ(t2.keys[i], one.keys[i]);
    EXPECT_NEAR(t2.influence[i], one.influence[i], 1e-5 * inf_scale) << i;
    EXPECT_NEAR(t2.effort[i], one.effort[i], 1e-5 * eff_scale) << i;
  }
  EXPECT_EQ(t2.kept, one.kept);
}

TEST_F(PruneCli, BadInputIsRefusedWithTheKeyAndNothingWritten) {
  Result up = grec("run " + config_ + " --set 'run.stages=[ingest,sasrec,embed,rqvae]' --set prune.method=random");
  ASSERT_EQ(up.code, 0) << up.out;
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"prune.keep=0", "prune.keep"},
      {"prune.keep=-0.5", "prune.keep"},
      {"prune.keep=2.5", "prune.keep"},
      {"prune.keep=100000000", "larger than"},
      {"prune.influence.params=blocks.7.q_proj.weight", "prune.influence.params"},
      {"prune.influence.scale=0", "prune.influence.scale"},
  };
  for (const auto& [set, expect] : cases) {
    Result r = grec("stage prune " + config_ + " --set " + set);
    EXPECT_EQ(r.code, 1) << set << "\n" << r.out;
    EXPECT_NE(r.out.find(expect), std::string::npos) << set << "\n" << r.out;
    EXPECT_FALSE(fs::exists(kept())) << set;
    EXPECT_FALSE(fs::exists(root() / "artifacts" / "prune" / "results.json")) << set;
  }
  // A surrogate trained on another item count.
  const fs::path cfg = root() / "artifacts" / "sasrec" / "config.json";
  auto c = nlohmann::json::parse(std::ifstream(cfg));
  c["num_items"] = c["num_items"].get<int64_t>() + 3;
  std::ofstream(cfg) << c.dump();
  Result r = grec("stage prune " + config_);
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("items"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(kept()));
  // random needs no surrogate: it runs.
  Result random = grec("stage prune " + config_ + " --set prune.method=random");
  ASSERT_EQ(random.code, 0) << random.out;
  EXPECT_TRUE(fs::exists(kept()));
}

}  // namespace
