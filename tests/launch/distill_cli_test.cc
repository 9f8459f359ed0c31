// Stage distill end to end through the grec command on a tiny synthetic config: the teacher's
// lists (training positions only, real items, best first) and item embeddings in teacher.h5, the
// distilled and plain students and the serving speed in results.json, the distilled SASRec saved
// as a plain SASRec (teacher term folded in) that the serving bundle loads, the same lists on 2
// ranks as on 1, and bad input refused naming the file with nothing written.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "core/h5.h"
#include "data_pipeline/dataset.h"
#include "export/student.h"
#include "tests/test_util/grec_cli.h"
#include "tests/test_util/temp_dir.h"

namespace {

namespace fs = std::filesystem;

using Result = grec::test::ShellResult;

Result grec(const std::string& args) { return grec::test::run_grec(args); }
Result grec_two_ranks(const std::string& args) { return grec::test::run_grec_two_ranks(args); }

class DistillCli : public ::testing::Test {
 protected:
  void SetUp() override {
    config_ = (dir_ / "tiny.yaml").string();
    std::ofstream(config_) << grec::test::tiny_run_yaml((dir_ / "runs").string())
                           << "align:\n  prompt_template: \"{instruction}\\n\"\n"
                           << "  model: { hidden: 32, layers: 1, heads: 2, kv_heads: 1, intermediate: 64 }\n"
                           << "  tokenizer: { vocab_size: 400 }\n  valid: { users: 20, num_beams: 10 }\n"
                           << "  tasks: [seqrec, item2index]\n"
                           << "  train: { max_steps: 6, global_batch_size: 32, lr: 3.0e-3 }\n"
                           << "evaluate: { num_beams: 10, max_users: 30, max_valid_users: 20 }\n"
                           << "distill:\n  enabled: true\n"
                           << "  teacher: { num_beams: 10, top_k: 5, batch_size: 16 }\n"
                           << "  train: { epochs: 4 }\n";
  }
  fs::path root() const { return dir_ / "runs" / "tiny"; }
  fs::path artifacts() const { return root() / "artifacts" / "distill"; }
  fs::path teacher() const { return artifacts() / "teacher.h5"; }

  grec::test::TempDir tmp_{"distill_cli"};
  const fs::path dir_ = tmp_.path();
  std::string config_;
};

TEST_F(DistillCli, TeacherListsStudentsAndTwoRanksAsOne) {
  Result run = grec("run " + config_ + " --set 'run.stages=[ingest,sasrec,embed,rqvae,align,evaluate,distill]'");
  ASSERT_EQ(run.code, 0) << run.out;
  EXPECT_NE(run.out.find("distilled sasrec"), std::string::npos) << run.out;  // the table
  ASSERT_TRUE(fs::exists(teacher()));
  const grec::data::Dataset d = grec::data::read_dataset((root() / "artifacts" / "ingest" / "dataset.h5").string());
  grec::h5::File f = grec::h5::File::open(teacher().string());
  const auto users = f.read_i64("/user"), ends = f.read_i64("/end"), items = f.read_i64("/items");
  const auto scores = f.read_f32("/scores");
  int64_t want = 0;
  for (int64_t u = 0; u < d.num_users(); ++u) want += d.train_end[u] >= 2;
  ASSERT_EQ(static_cast<int64_t>(users.size()), want);
  ASSERT_EQ(items.size(), users.size() * 5);
  int64_t real = 0;
  for (size_t s = 0; s < users.size(); ++s) {
    EXPECT_EQ(ends[s], d.train_end[users[s]] - 1) << s;  // a training position, never valid/test
    for (int64_t k = 0; k < 5; ++k) {
      const int64_t item = items[s * 5 + k];
      EXPECT_TRUE(item >= -1 && item < d.num_items()) << item;
      real += item >= 0;
      if (k > 0 && item >= 0) EXPECT_LE(scores[s * 5 + k], scores[s * 5 + k - 1]) << s;
    }
  }
  EXPECT_EQ(real, static_cast<int64_t>(items.size()));  // 10 beams over 50 items: always 5
  EXPECT_EQ(f.shape("/item_embedding"), (std::vector<uint64_t>{50, 32}));

  const auto results = nlohmann::json::parse(std::ifstream(artifacts() / "results.json"));
  for (const char* key : {"distilled", "plain", "teacher", "teacher_pass", "serving"}) {
    EXPECT_TRUE(results.contains(key)) << key << " " << results.dump();
  }
  EXPECT_EQ(results["distilled"]["test"]["users"], results["plain"]["test"]["users"]);
  EXPECT_GT(results["serving"]["speedup"].get<double>(), 1.0) << results.dump();
  EXPECT_EQ(results["embedding"], "text");  // synthetic items have titles
  // The students train as stage sasrec does, except where distill.train says otherwise.
  EXPECT_EQ(results["train"]["epochs"], 4);             // distill.train
  EXPECT_EQ(results["train"]["global_batch_size"], 64);  // sasrec.train (the default is 128)
  EXPECT_DOUBLE_EQ(results["train"]["lr"].get<double>(), 1e-3);
  // The distilled SASRec is saved folded: a plain SASRec the serving bundle loads.
  EXPECT_NO_THROW(grec::bundle::load_student(artifacts().string()));

  // 2 ranks: the same lists (the teacher file is removed so that it is computed again).
  const auto one_items = items;
  const auto one_scores = scores;
  fs::remove(teacher());
  Result two = grec_two_ranks("stage distill " + config_ + " --force");
  ASSERT_EQ(two.code, 0) << two.out;
  grec::h5::File g = grec::h5::File::open(teacher().string());
  EXPECT_EQ(g.read_i64("/items"), one_items);
  const auto two_scores = g.read_f32("/scores");
  ASSERT_EQ(two_scores.size(), one_scores.size());
  for (size_t i = 0; i < one_scores.size(); ++i) {
    EXPECT_NEAR(two_scores[i], one_scores[i], 1e-5 * std::max(1.0f, std::abs(one_scores[i]))) << i;
  }

  // The GRU4Rec student on the cached teacher (its key does not involve the student); it is not
  // a SASRec, so no serving model is left in artifacts/distill.
  const auto teacher_time = fs::last_write_time(teacher());
  Result gru = grec("stage distill " + config_ + " --force --set distill.student=gru4rec");
  ASSERT_EQ(gru.code, 0) << gru.out;
  EXPECT_NE(gru.out.find("distilled gru4rec"), std::string::npos) << gru.out;
  EXPECT_EQ(fs::last_write_time(teacher()), teacher_time);
  const auto g_results = nlohmann::json::parse(std::ifstream(artifacts() / "results.json"));
  EXPECT_EQ(g_results["student"], "gru4rec");
  EXPECT_DOUBLE_EQ(g_results["train"]["lr"].get<double>(), 5e-3);  // GRU4Rec's own default
  EXPECT_EQ(g_results["train"]["early_stop_patience"], 20);
  EXPECT_GT(g_results["distilled"]["test"]["HR@10"].get<double>(), 0.0) << g_results.dump();
  EXPECT_TRUE(g_results.contains("plain"));
  EXPECT_FALSE(fs::exists(artifacts() / "model.safetensors"));
}

TEST_F(DistillCli, BadInputIsRefusedNamingTheFile) {
  // No aligned model yet.
  Result up = grec("run " + config_ + " --set 'run.stages=[ingest,sasrec,embed,rqvae]'");
  ASSERT_EQ(up.code, 0) << up.out;
  Result none = grec("stage distill " + config_);
  EXPECT_EQ(none.code, 1) << none.out;
  EXPECT_NE(none.out.find("align"), std::string::npos) << none.out;
  EXPECT_FALSE(fs::exists(artifacts() / "results.json"));

  Result aligned = grec("run " + config_ + " --set 'run.stages=[align,evaluate,distill]' --set distill.compare_plain=false");
  ASSERT_EQ(aligned.code, 0) << aligned.out;
  const fs::path kept = dir_ / "teacher_top5.h5";
  fs::copy_file(teacher(), kept);
  fs::remove(artifacts() / "results.json");
  // A teacher file computed with another teacher config.
  Result other = grec("stage distill " + config_ + " --set distill.teacher.top_k=4 --set distill.teacher.file=" +
                      kept.string());
  EXPECT_EQ(other.code, 1) << other.out;
  EXPECT_NE(other.out.find(kept.string()), std::string::npos) << other.out;
  EXPECT_NE(other.out.find("another dataset, model or teacher config"), std::string::npos) << other.out;
  EXPECT_FALSE(fs::exists(artifacts() / "results.json"));
  // Not a teacher file at all.
  const fs::path junk = dir_ / "junk.h5";
  std::ofstream(junk) << "not hdf5";
  Result bad = grec("stage distill " + config_ + " --set distill.teacher.file=" + junk.string());
  EXPECT_EQ(bad.code, 1) << bad.out;
  EXPECT_NE(bad.out.find(junk.string()), std::string::npos) << bad.out;
  // top_k above the beams.
  Result k = grec("stage distill " + config_ + " --set distill.teacher.top_k=11");
  EXPECT_EQ(k.code, 1) << k.out;
  EXPECT_NE(k.out.find("distill.teacher.top_k"), std::string::npos) << k.out;
  EXPECT_FALSE(fs::exists(artifacts() / "results.json"));
  // The matching file is accepted.
  Result good = grec("stage distill " + config_ + " --set distill.teacher.file=" + kept.string() +
                     " --set distill.compare_plain=false");
  EXPECT_EQ(good.code, 0) << good.out;
  EXPECT_TRUE(fs::exists(artifacts() / "results.json"));
}

}  // namespace
