// `grec lm info|logits|generate` (launch/cmd_lm.cc) run as a subprocess (GREC_BINARY) on a tiny
// checkpoint written with save_hf: logits equal the in-process forward, info counts the
// parameters, generate equals in-process greedy decoding, and bad input exits with code 1.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "model/causal_lm.h"
#include "model/generation.h"
#include "tests/model/llm_test_util.h"
#include "tests/test_util/temp_dir.h"
#include "tokenizer/spm/spm_library.h"
#include "tokenizer/text_tokenizer.h"

namespace grec {
namespace {

namespace fs = std::filesystem;

using test::TempDir;

struct RunResult {
  int code = -1;
  std::string out;
};

// Runs grec with `args` (shell-quoted by the caller); stdout captured, stderr to `err_file`.
RunResult run_grec(const std::string& args, const std::string& err_file) {
  std::string cmd = std::string(GREC_BINARY) + " " + args + " 2>" + err_file;
  RunResult r;
  std::FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) r.out.append(buf, n);
  const int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

model::CausalLM tiny_lm(int64_t vocab) { return test::peaked_lm(21, vocab, /*qwen=*/true); }

TEST(LmCli, LogitsMatchInProcessForward) {
  TempDir tmp;
  auto lm = tiny_lm(64);
  const auto dir = tmp.sub("ckpt");
  model::save_hf(lm, dir);
  auto r = run_grec("lm logits " + dir + " --ids 5,17,42", tmp.sub("err"));
  ASSERT_EQ(r.code, 0) << read_file(tmp.sub("err"));
  // Exactly one line on stdout, a JSON array of vocab floats.
  ASSERT_FALSE(r.out.empty());
  EXPECT_EQ(r.out.find('\n'), r.out.size() - 1);
  auto arr = nlohmann::json::parse(r.out);
  ASSERT_TRUE(arr.is_array());
  ASSERT_EQ(arr.size(), 64u);
  torch::NoGradGuard g;
  auto want = lm->forward(torch::tensor({5, 17, 42}, torch::kLong).view({1, 3}))[0][-1];
  for (int64_t i = 0; i < 64; ++i) {
    EXPECT_NEAR(arr[i].get<double>(), want[i].item<double>(), 1e-5) << "logit " << i;
  }
}

TEST(LmCli, InfoCountsParameters) {
  TempDir tmp;
  auto lm = tiny_lm(64);
  const auto dir = tmp.sub("ckpt");
  model::save_hf(lm, dir);
  int64_t params = 0;
  for (const auto& p : lm->parameters()) params += p.numel();
  auto r = run_grec("lm info " + dir + " --json", tmp.sub("err"));
  ASSERT_EQ(r.code, 0) << read_file(tmp.sub("err"));
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["parameters"].get<int64_t>(), params);
  EXPECT_EQ(j["vocab_size"].get<int64_t>(), 64);
  EXPECT_EQ(j["num_key_value_heads"].get<int64_t>(), 2);
  auto table = run_grec("lm info " + dir, tmp.sub("err"));
  ASSERT_EQ(table.code, 0);
  EXPECT_NE(table.out.find(std::to_string(params)), std::string::npos);
  EXPECT_NE(table.out.find("Qwen2ForCausalLM"), std::string::npos);
}

TEST(LmCli, ErrorsExitWithCodeOne) {
  TempDir tmp;
  const auto missing = tmp.sub("no_such_model");
  auto r = run_grec("lm logits " + missing + " --ids 1,2", tmp.sub("err"));
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(r.out.empty());
  EXPECT_NE(read_file(tmp.sub("err")).find("no_such_model"), std::string::npos);
  EXPECT_EQ(run_grec("lm info " + missing, tmp.sub("err")).code, 1);
  EXPECT_EQ(run_grec("lm generate " + missing + " --prompt hi", tmp.sub("err")).code, 1);

  // An existing folder without a checkpoint, bad ids and out-of-vocabulary ids.
  fs::create_directories(tmp.sub("empty"));
  EXPECT_EQ(run_grec("lm logits " + tmp.sub("empty") + " --ids 1", tmp.sub("err")).code, 1);
  auto lm = tiny_lm(64);
  model::save_hf(lm, tmp.sub("ckpt"));
  EXPECT_EQ(run_grec("lm logits " + tmp.sub("ckpt") + " --ids 1,x", tmp.sub("err")).code, 1);
  EXPECT_EQ(run_grec("lm logits " + tmp.sub("ckpt") + " --ids 1,64", tmp.sub("err")).code, 1);
  EXPECT_NE(read_file(tmp.sub("err")).find("64"), std::string::npos);
}

TEST(LmCli, GenerateEqualsInProcessGreedy) {
  TempDir tmp;
  const auto dir = tmp.sub("ckpt");
  std::vector<std::string> texts;
  for (int i = 0; i < 200; ++i) {
    texts.push_back("the quick brown fox " + std::to_string(i % 17) + " jumps over the lazy dog");
    texts.push_back("a movie about space travel and robots number " + std::to_string(i));
  }
  if (!tok::spm_available()) GTEST_SKIP() << "grec was built without libsentencepiece";
  auto tokenizer = tok::train_sentencepiece_bpe(texts, 320, dir, 7);
  // Vocabulary = the tokenizer's, so every generated id decodes.
  auto lm = tiny_lm(tokenizer->vocab_size());
  model::save_hf(lm, dir);
  auto r = run_grec("lm generate " + dir + " --prompt 'the quick fox' --max-new 6", tmp.sub("err"));
  ASSERT_EQ(r.code, 0) << read_file(tmp.sub("err"));

  auto ids = tokenizer->encode("the quick fox", true);
  model::GenerationOptions o;
  o.max_new_tokens = 6;
  o.eos_token_id = tokenizer->eos_id();
  auto t = model::greedy(lm, torch::tensor(ids, torch::kLong).view({1, -1}), {}, o).contiguous();
  std::vector<int64_t> out(t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + t.numel());
  if (o.eos_token_id >= 0 && !out.empty() && out.back() == o.eos_token_id) out.pop_back();
  EXPECT_EQ(r.out, tokenizer->decode(out, true) + "\n");
}

}  // namespace
}  // namespace grec
