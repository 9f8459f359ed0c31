// The grec command end to end: `grec run` on a tiny synthetic config through every stage (run
// directory, results, the aligned model and the generative table, metrics, caching of up-to-date
// stages, checkpoints of a changed config set aside), config errors and usage errors with their exit codes.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "core/h5.h"
#include "core/safetensors.h"
#include "tests/test_util/shell.h"
#include "tests/test_util/temp_dir.h"

namespace {

namespace fs = std::filesystem;

using Result = grec::test::ShellResult;

Result run(const std::string& args) { return grec::test::run_shell(std::string(GREC_BINARY) + " " + args); }

// The summary table has a row "<stage>  <status>  ..." (columns padded to the widest entry).
bool has_status(const std::string& out, const std::string& stage, const std::string& status) {
  return std::regex_search(out, std::regex("(^|\\n)" + stage + " +" + status + " "));
}

class RunCli : public ::testing::Test {
 protected:
  void SetUp() override {
    config_ = (dir_ / "tiny.yaml").string();
    // One intra-op thread: CTest runs tests in parallel, and spinning OpenMP threads of two
    // processes on two cores slow each other down by orders of magnitude.
    std::ofstream(config_) << "run: { name: tiny, dir: " << (dir_ / "runs").string() << " }\n"
                           << "dist: { threads: 1 }\n"
                           << "ingest:\n  format: synth\n  synth: { users: 200, items: 60, seed: 3 }\n"
                           << "sasrec:\n  hidden: 16\n  max_len: 20\n"
                           << "  train: { epochs: 2, global_batch_size: 64, log_every: 1 }\n"
                           << "rqvae:\n  codebook_size: 8\n  train: { epochs: 300 }\n"
                           << "align:\n  prompt_template: \"{instruction}\\n\"\n"
                           << "  model: { hidden: 32, layers: 1, heads: 2, kv_heads: 1, intermediate: 64 }\n"
                           << "  tokenizer: { vocab_size: 400 }\n  valid: { users: 20, num_beams: 10 }\n"
                           << "  weights: { fusionseqrec: 0.1 }\n"
                           << "  train: { max_steps: 6, global_batch_size: 32, lr: 3.0e-3, log_every: 2 }\n"
                           << "evaluate: { num_beams: 10, max_users: 40, max_valid_users: 20 }\n";
  }
  grec::test::TempDir tmp_{"run_cli"};
  const fs::path dir_ = tmp_.path();
  std::string config_;
};

TEST_F(RunCli, RunsThePipelineAndCachesUpToDateStages) {
  Result first = run("run " + config_);
  ASSERT_EQ(first.code, 0) << first.out;
  const fs::path root = dir_ / "runs" / "tiny";
  EXPECT_TRUE(fs::exists(root / "config.resolved.yaml"));
  EXPECT_TRUE(fs::exists(root / "command.txt"));
  EXPECT_TRUE(fs::exists(root / "artifacts" / "ingest" / "dataset.h5"));
  ASSERT_TRUE(fs::exists(root / "artifacts" / "sasrec" / "results.json"));
  auto results = nlohmann::json::parse(std::ifstream(root / "artifacts" / "sasrec" / "results.json"));
  EXPECT_TRUE(results["test"].contains("HR@10"));
  EXPECT_TRUE(results["valid"].contains("NDCG@10"));
  EXPECT_TRUE(results.contains("popularity"));
  // The LLM path: an HF-layout model with the semantic-ID tokens, and the generative table.
  const fs::path model = root / "artifacts" / "align" / "model";
  EXPECT_TRUE(fs::exists(model / "config.json"));
  EXPECT_TRUE(fs::exists(model / "model.safetensors"));
  EXPECT_TRUE(fs::exists(model / "tokenizer.model"));
  auto tok_config = nlohmann::json::parse(std::ifstream(model / "tokenizer_config.json"));
  EXPECT_TRUE(tok_config.dump().find("<a_0>") != std::string::npos);
  ASSERT_TRUE(fs::exists(root / "artifacts" / "evaluate" / "results.json"));
  auto ev = nlohmann::json::parse(std::ifstream(root / "artifacts" / "evaluate" / "results.json"));
  EXPECT_EQ(ev["test"]["llm"]["users"], 40);
  EXPECT_EQ(ev["valid"]["llm"]["users"], 20);
  EXPECT_EQ(ev["test"]["popularity"]["users"], 40);
  // SASRec on the same 40 sampled users (from the per-case ranks its stage kept), not all users.
  ASSERT_TRUE(ev["test"].contains("sasrec")) << ev.dump();
  EXPECT_EQ(ev["test"]["sasrec"]["users"], 40);
  EXPECT_EQ(ev["valid"]["sasrec"]["users"], 20);
  EXPECT_GT(results["test"]["users"].get<int64_t>(), 40);
  // A barely trained model scores near chance, so the values themselves say little; what must
  // hold: each HR is hits over the 40 users, HR grows with K and NDCG@K stays within HR@K.
  const nlohmann::json& llm = ev["test"]["llm"];
  for (const char* k : {"HR@1", "HR@5", "HR@10"}) {
    const double hits = llm[k].get<double>() * 40;
    EXPECT_NEAR(hits, std::round(hits), 1e-9) << k << " is not a count of the 40 users";
  }
  EXPECT_LE(llm["HR@1"].get<double>(), llm["HR@5"].get<double>());
  EXPECT_LE(llm["HR@5"].get<double>(), llm["HR@10"].get<double>());
  EXPECT_LE(llm["HR@10"].get<double>(), 1.0);
  EXPECT_LE(llm["NDCG@5"].get<double>(), llm["NDCG@10"].get<double>());
  EXPECT_LE(llm["NDCG@5"].get<double>(), llm["HR@5"].get<double>() + 1e-12);
  EXPECT_LE(llm["NDCG@10"].get<double>(), llm["HR@10"].get<double>() + 1e-12);
  EXPECT_GE(llm["NDCG@5"].get<double>(), llm["HR@1"].get<double>() - 1e-12);
  EXPECT_NE(first.out.find("llm"), std::string::npos) << first.out;  // the printed table
  // Every metrics line is JSON with a stage.
  std::ifstream metrics(root / "metrics.jsonl");
  int lines = 0;
  for (std::string l; std::getline(metrics, l); ++lines) {
    auto j = nlohmann::json::parse(l);
    EXPECT_TRUE(j.contains("stage")) << l;
  }
  EXPECT_GT(lines, 3);
  EXPECT_NE(first.out.find("stage"), std::string::npos);

  // The same command again: both stages are up to date.
  Result second = run("run " + config_);
  ASSERT_EQ(second.code, 0) << second.out;
  EXPECT_TRUE(has_status(second.out, "ingest", "cached")) << second.out;
  EXPECT_TRUE(has_status(second.out, "sasrec", "cached")) << second.out;

  // The run's resolved config holds every key (prune.keep: 0, distill.enabled: false, ...):
  // rerunning it is the same run, every stage cached and the optional ones still off.
  Result resolved = run("run " + (root / "config.resolved.yaml").string());
  ASSERT_EQ(resolved.code, 0) << resolved.out;
  for (const char* stage : {"ingest", "sasrec", "embed", "rqvae", "align", "evaluate"}) {
    EXPECT_TRUE(has_status(resolved.out, stage, "cached")) << stage << "\n" << resolved.out;
  }
  for (const char* stage : {"prune", "distill", "export"}) {
    EXPECT_TRUE(has_status(resolved.out, stage, "skipped")) << stage << "\n" << resolved.out;
  }

  // A changed sasrec key reruns sasrec only.
  Result third = run("run " + config_ + " --set sasrec.train.epochs=1");
  ASSERT_EQ(third.code, 0) << third.out;
  EXPECT_TRUE(has_status(third.out, "ingest", "cached")) << third.out;
  EXPECT_TRUE(has_status(third.out, "sasrec", "done")) << third.out;
  // ... from scratch: the checkpoints of the old config were set aside, not resumed.
  EXPECT_NE(third.out.find("moved to"), std::string::npos) << third.out;
  EXPECT_TRUE(fs::exists(root / "checkpoints" / "sasrec.stale"));
  EXPECT_TRUE(has_status(third.out, "align", "cached")) << third.out;
  // embed (tfidf) does not read SASRec: its key, and so rqvae's, did not move.
  EXPECT_TRUE(has_status(third.out, "embed", "cached")) << third.out;
  EXPECT_TRUE(has_status(third.out, "rqvae", "cached")) << third.out;
}

TEST_F(RunCli, CollaborativeEmbeddingsAreSASRecsItemTable) {
  Result sasrec = run("run " + config_ + " --set \"run.stages=[ingest, sasrec]\"");
  ASSERT_EQ(sasrec.code, 0) << sasrec.out;
  const fs::path root = dir_ / "runs" / "tiny";
  const fs::path model = root / "artifacts" / "sasrec" / "model.safetensors";
  ASSERT_TRUE(fs::exists(model));
  auto config = nlohmann::json::parse(std::ifstream(root / "artifacts" / "sasrec" / "config.json"));
  EXPECT_EQ(config["architecture"], "SASRec");
  EXPECT_EQ(config["num_items"], 60);
  EXPECT_EQ(config["hidden"], 16);
  EXPECT_EQ(config["item_row_offset"], 1);

  // The sasrec encoder: embed now reads sasrec, so it runs after it; sasrec itself is cached.
  Result embed = run("run " + config_ + " --set \"run.stages=[ingest, sasrec, embed]\"" +
                     " --set embed.encoder=sasrec");
  ASSERT_EQ(embed.code, 0) << embed.out;
  EXPECT_TRUE(has_status(embed.out, "sasrec", "cached")) << embed.out;
  EXPECT_TRUE(has_status(embed.out, "embed", "done")) << embed.out;
  const grec::safetensors::File weights = grec::safetensors::File::read(model.string());
  const auto& info = weights.info("item_emb.weight");
  ASSERT_EQ(info.shape, (std::vector<int64_t>{61, 16}));
  ASSERT_EQ(info.dtype, grec::safetensors::Dtype::kF32);
  const float* table = static_cast<const float*>(weights.data("item_emb.weight"));
  const std::string emb_path = (root / "artifacts" / "embed" / "embeddings.h5").string();
  {
    grec::h5::File f = grec::h5::File::open(emb_path);
    EXPECT_EQ(f.shape("/embeddings"), (std::vector<uint64_t>{60, 16}));
    const std::vector<float> emb = f.read_f32("/embeddings");
    // Row i is item i = table row i + 1 (row 0 is padding), bit for bit.
    for (int64_t i = 0; i < 60 * 16; ++i) ASSERT_EQ(emb[i], table[16 + i]) << i;
    EXPECT_EQ(f.attr_string("/", "encoder"), "sasrec");
  }

  // concat: the tfidf part and the sasrec part, each scaled to unit norm (sasrec to the weight).
  Result concat = run("run " + config_ + " --set \"run.stages=[ingest, sasrec, embed]\"" +
                      " --set embed.encoder=concat --set embed.dim=8 --set embed.concat.sasrec_weight=0.5");
  ASSERT_EQ(concat.code, 0) << concat.out;
  grec::h5::File f = grec::h5::File::open(emb_path);
  ASSERT_EQ(f.shape("/embeddings"), (std::vector<uint64_t>{60, 24}));
  const std::vector<float> emb = f.read_f32("/embeddings");
  for (int64_t i = 0; i < 60; ++i) {
    double text = 0, collab = 0, dot = 0, table_sq = 0;
    for (int j = 0; j < 8; ++j) text += double(emb[i * 24 + j]) * emb[i * 24 + j];
    for (int j = 0; j < 16; ++j) {
      const double e = emb[i * 24 + 8 + j], t = table[16 * (i + 1) + j];
      collab += e * e;
      dot += e * t;
      table_sq += t * t;
    }
    EXPECT_TRUE(std::abs(std::sqrt(text) - 1.0) < 1e-5 || text == 0) << i;
    EXPECT_NEAR(std::sqrt(collab), 0.5, 1e-5) << i;
    // ... and points the way of the item's table row.
    EXPECT_NEAR(dot / std::sqrt(collab * table_sq), 1.0, 1e-5) << i;
  }

  // Its key follows sasrec's now: a retrained SASRec re-embeds (tfidf stayed cached above).
  Result retrained = run("run " + config_ + " --set \"run.stages=[ingest, sasrec, embed]\"" +
                         " --set embed.encoder=sasrec --set sasrec.train.epochs=1");
  ASSERT_EQ(retrained.code, 0) << retrained.out;
  EXPECT_TRUE(has_status(retrained.out, "sasrec", "done")) << retrained.out;
  EXPECT_TRUE(has_status(retrained.out, "embed", "done")) << retrained.out;

  // Without sasrec's artifact the encoder says what to run.
  fs::remove(model);
  Result missing = run("stage embed " + config_ + " --set embed.encoder=sasrec --force");
  EXPECT_EQ(missing.code, 1) << missing.out;
  EXPECT_NE(missing.out.find("run stage sasrec first"), std::string::npos) << missing.out;
}

TEST_F(RunCli, ConfigErrorsExitOneWithTheKey) {
  Result r = run("run " + config_ + " --set sasrec.train.lrr=1");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("unknown config key 'sasrec.train.lrr'"), std::string::npos) << r.out;
  Result missing = run("run " + (dir_ / "absent.yaml").string());
  EXPECT_EQ(missing.code, 1);
  EXPECT_NE(missing.out.find("does not exist"), std::string::npos) << missing.out;
}

TEST_F(RunCli, ConfigDumpPrintsResolvedValues) {
  Result r = run("run " + config_ + " --config-dump --set sasrec.hidden=24");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("hidden: 24"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("users: 200"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(dir_ / "runs" / "tiny"));  // nothing ran
}

TEST_F(RunCli, UsageErrorsExitTwo) {
  EXPECT_EQ(run("frobnicate").code, 2);
  EXPECT_EQ(run("run " + config_ + " --no-such-flag").code, 2);
  EXPECT_EQ(run("stage no_such_stage " + config_).code, 2);
  Result help = run("stage --help");
  EXPECT_EQ(help.code, 0);
  EXPECT_NE(help.out.find("sasrec"), std::string::npos) << help.out;
  Result version = run("version");
  EXPECT_EQ(version.code, 0);
  EXPECT_NE(version.out.find("LibTorch"), std::string::npos);
  EXPECT_NE(version.out.find("HDF5"), std::string::npos);
}

}  // namespace
