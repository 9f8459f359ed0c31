// Stage augment (LLM-Rec, engagement-only eng) end to end through the grec command on a tiny
// synthetic config: aug_eng is the PPR neighbours' text, computed from training interactions
// only; 2 ranks write what 1 rank writes; embed reads aug_eng when embed.fields names it; prompts
// that need generation, and aug_* fields without the stage, are refused with the key named.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "core/h5.h"
#include "data_pipeline/dataset.h"
#include "data_pipeline/item_text.h"
#include "data_pipeline/ppr.h"
#include "tests/test_util/grec_cli.h"
#include "tests/test_util/temp_dir.h"

namespace {

namespace fs = std::filesystem;

using Result = grec::test::ShellResult;

Result grec(const std::string& args) { return grec::test::run_grec(args); }

class AugmentCli : public ::testing::Test {
 protected:
  void SetUp() override {
    config_ = (dir_ / "tiny.yaml").string();
    std::ofstream(config_) << grec::test::tiny_run_yaml((dir_ / "runs").string());
  }
  fs::path root() const { return dir_ / "runs" / "tiny"; }
  fs::path text_file() const { return root() / "artifacts" / "augment" / "item_text.h5"; }
  fs::path embeddings() const { return root() / "artifacts" / "embed" / "embeddings.h5"; }

  grec::test::TempDir tmp_{"augment_cli"};
  const fs::path dir_ = tmp_.path();
  std::string config_;
};

struct AugmentFile {
  std::vector<std::string> eng;
  std::vector<int64_t> neighbours;
  std::vector<double> scores;
};

AugmentFile read_augment(const fs::path& path) {
  grec::h5::File f = grec::h5::File::open(path.string());
  return {f.read_strings("/items/aug_eng"), f.read_i64("/ppr/neighbours"),
          f.read_f64("/ppr/scores")};
}

TEST_F(AugmentCli, EngIsTheNeighboursTextAndTwoRanksWriteTheSame) {
  Result first = grec("run " + config_ +
                      " --set 'run.stages=[ingest,augment,embed]' --set 'augment.prompts=[eng]'"
                      " --set augment.ppr.top=2 --set 'embed.fields=[title,aug_eng]'");
  ASSERT_EQ(first.code, 0) << first.out;
  ASSERT_TRUE(fs::exists(text_file())) << first.out;
  const grec::data::Dataset d =
      grec::data::read_dataset((root() / "artifacts" / "ingest" / "dataset.h5").string());
  const int64_t n = d.num_items();
  const AugmentFile one = read_augment(text_file());
  ASSERT_EQ(static_cast<int64_t>(one.eng.size()), n);
  ASSERT_EQ(static_cast<int64_t>(one.neighbours.size()), n * 2);

  // Items that appear in some user's training part; only they can be neighbours.
  std::set<int64_t> trained;
  for (int64_t u = 0; u < d.num_users(); ++u) {
    for (int64_t p = 0; p < d.train_end[u]; ++p) trained.insert(d.sequence(u)[p]);
  }
  const std::vector<std::string> texts =
      grec::data::build_item_texts(d, grec::data::default_item_text_fields());
  int64_t with_text = 0;
  for (int64_t i = 0; i < n; ++i) {
    std::string expect;
    for (int64_t j = 0; j < 2; ++j) {
      const int64_t k = one.neighbours[i * 2 + j];
      if (k < 0) continue;
      EXPECT_NE(k, i);
      EXPECT_TRUE(trained.count(k)) << "item " << i << " has neighbour " << k
                                    << ", which no user trains on";
      if (j == 1) EXPECT_LE(one.scores[i * 2 + 1], one.scores[i * 2]);
      if (!expect.empty()) expect += "; ";
      expect += texts[k];
    }
    EXPECT_EQ(one.eng[i], expect) << "item " << i;
    with_text += !one.eng[i].empty();
  }
  EXPECT_GT(with_text, n / 2);
  // The stage's lists are ppr_neighbours' with the configured options (push, alpha 0.85,
  // degree power 0.75).
  grec::data::PprOptions o;
  o.top = 2;
  o.degree_power = 0.75;
  std::vector<int64_t> all(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) all[i] = i;
  EXPECT_EQ(grec::data::ppr_neighbours(grec::data::training_graph(d), all, o).items,
            one.neighbours);

  // embed used aug_eng: its settings name the field, and the vectors differ from title alone.
  {
    grec::h5::File f = grec::h5::File::open(embeddings().string());
    const auto settings = nlohmann::json::parse(f.attr_string("/", "settings"));
    EXPECT_EQ(settings["fields"], nlohmann::json({"title", "aug_eng"})) << settings.dump();
  }
  const std::vector<float> with_aug = grec::h5::File::open(embeddings().string()).read_f32("/embeddings");
  Result plain = grec("stage embed " + config_ + " --set 'embed.fields=[title]'");
  ASSERT_EQ(plain.code, 0) << plain.out;
  EXPECT_NE(grec::h5::File::open(embeddings().string()).read_f32("/embeddings"), with_aug);

  // 2 ranks: the same file contents.
  Result two = grec::test::run_grec_two_ranks("stage augment " + config_ +
                                              " --set 'augment.prompts=[eng]' --set augment.ppr.top=2 --force");
  ASSERT_EQ(two.code, 0) << two.out;
  const AugmentFile t2 = read_augment(text_file());
  EXPECT_EQ(t2.eng, one.eng);
  EXPECT_EQ(t2.neighbours, one.neighbours);
  EXPECT_EQ(t2.scores, one.scores);
}

TEST_F(AugmentCli, OffByDefaultAndBadInputIsRefusedWithTheKey) {
  Result up = grec("run " + config_ + " --set 'run.stages=[ingest,augment]'");
  ASSERT_EQ(up.code, 0) << up.out;
  EXPECT_FALSE(fs::exists(text_file())) << "augment ran without augment.prompts";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"stage augment " + config_ + " --set 'augment.prompts=[para]'", "augment.model.path"},
      {"stage augment " + config_ + " --set 'augment.prompts=[eng,bogus]'", "unknown prompt 'bogus'"},
      {"stage augment " + config_ + " --set 'augment.prompts=[eng,eng]'", "twice"},
      {"stage augment " + config_ + " --set 'augment.prompts=[eng]' --set augment.model.path=/x",
       "not built yet"},
      {"stage augment " + config_ + " --set 'augment.prompts=[eng]' --set augment.ppr.alpha=1",
       "augment.ppr.alpha"},
      {"stage augment " + config_ + " --set 'augment.prompts=[eng]' --set augment.ppr.method=exact",
       "augment.ppr.method"},
      {"stage embed " + config_ + " --set 'embed.fields=[title,aug_eng]'", "embed.fields"},
  };
  for (const auto& [args, expect] : cases) {
    Result r = grec(args);
    EXPECT_EQ(r.code, 1) << args << "\n" << r.out;
    EXPECT_NE(r.out.find(expect), std::string::npos) << args << "\n" << r.out;
    EXPECT_FALSE(fs::exists(text_file())) << args;
  }
}

}  // namespace
