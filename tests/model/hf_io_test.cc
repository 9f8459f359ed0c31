// HF checkpoint I/O: bit-exact save/load round trips (fp32, bf16), sharded index loading, the
// written layout (metadata, config), and errors naming the file and tensor for bad checkpoints.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/fs.h"
#include "core/safetensors.h"
#include "model/causal_lm.h"
#include "model/hf_io.h"
#include "tests/model/llm_test_util.h"

namespace grec::model {
namespace {

using test::TempDir;
namespace fs = std::filesystem;

void expect_same_params(CausalLM& a, CausalLM& b) {
  auto pa = a->named_parameters(), pb = b->named_parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (auto& p : pa) {
    auto* q = pb.find(p.key());
    ASSERT_TRUE(q) << p.key();
    EXPECT_EQ(p.value().scalar_type(), q->scalar_type()) << p.key();
    EXPECT_TRUE(torch::equal(p.value(), *q)) << p.key();
  }
}

std::string error_of(const std::string& dir) {
  try {
    load_hf(dir);
  } catch (const UserError& e) {
    return e.what();
  }
  return "";
}

TEST(HfIo, RoundTripBitExactWithHfNames) {
  for (bool qwen : {false, true}) {
    TempDir tmp;
    auto m = test::tiny_model(qwen, 1);
    save_hf(m, tmp.sub("a"));
    auto f = safetensors::File::read(tmp.sub("a") + "/model.safetensors");
    EXPECT_EQ(f.metadata().at("format"), "pt");
    EXPECT_TRUE(f.has("model.embed_tokens.weight"));
    EXPECT_TRUE(f.has("model.layers.1.self_attn.k_proj.weight"));
    EXPECT_EQ(f.has("model.layers.0.self_attn.q_proj.bias"), qwen);
    EXPECT_EQ(f.has("lm_head.weight"), !qwen);
    EXPECT_EQ(f.info("model.layers.0.self_attn.k_proj.weight").shape, (std::vector<int64_t>{16, 32}));
    auto cfg = nlohmann::json::parse(read_file(tmp.sub("a") + "/config.json"));
    EXPECT_EQ(cfg["architectures"][0], qwen ? "Qwen2ForCausalLM" : "LlamaForCausalLM");
    EXPECT_EQ(cfg["num_key_value_heads"], 2);
    auto back = load_hf(tmp.sub("a"));
    expect_same_params(m, back);
    // bf16 round trip is bit-exact too.
    m->to(torch::kBFloat16);
    save_hf(m, tmp.sub("b"));
    EXPECT_EQ(safetensors::File::read(tmp.sub("b") + "/model.safetensors").info("model.norm.weight").dtype,
              safetensors::Dtype::kBF16);
    auto back16 = load_hf(tmp.sub("b"), torch::kBFloat16);
    expect_same_params(m, back16);
    EXPECT_EQ(back16->config().torch_dtype, "bfloat16");
  }
}

TEST(HfIo, ResizedVocabIsWrittenToConfig) {
  TempDir tmp;
  auto m = test::tiny_model(true, 1);
  m->resize_token_embeddings(128, 0);
  save_hf(m, tmp.sub("a"));
  auto cfg = nlohmann::json::parse(read_file(tmp.sub("a") + "/config.json"));
  EXPECT_EQ(cfg["vocab_size"], 128);
  auto back = load_hf(tmp.sub("a"));
  expect_same_params(m, back);
}

TEST(HfIo, ShardedIndexLoads) {
  TempDir tmp;
  auto m = test::tiny_model(false, 4);
  save_hf(m, tmp.sub("s"), 8000);  // forces several shards
  EXPECT_FALSE(fs::exists(tmp.sub("s") + "/model.safetensors"));
  auto idx = nlohmann::json::parse(read_file(tmp.sub("s") + "/model.safetensors.index.json"));
  std::set<std::string> files;
  for (auto& [k, v] : idx["weight_map"].items()) files.insert(v.get<std::string>());
  EXPECT_GT(files.size(), 2u);
  auto back = load_hf(tmp.sub("s"));
  expect_same_params(m, back);
  // F16 checkpoints load too (converted to fp32).
  m->to(torch::kHalf);
  save_hf(m, tmp.sub("h"));
  auto h = load_hf(tmp.sub("h"));
  EXPECT_TRUE(torch::equal(h->model->norm->weight, m->model->norm->weight.to(torch::kFloat)));
}

TEST(HfIo, CorruptCheckpointsNameFileAndTensor) {
  TempDir tmp;
  auto m = test::tiny_model(false, 2);
  const auto dir = tmp.sub("c");
  save_hf(m, dir);
  const auto file = dir + "/model.safetensors";
  const auto good = read_file(file);
  // Truncated file.
  write_file_atomic(file, good.substr(0, good.size() - 100));
  auto e = error_of(dir);
  EXPECT_NE(e.find("model.safetensors"), std::string::npos) << e;
  // Missing tensor.
  auto write_without = [&](const std::string& skip, const std::string& rename_to,
                           std::vector<int64_t> reshape) {
    safetensors::Writer w;
    w.set_metadata("format", "pt");
    for (auto& p : m->named_parameters()) {
      if (p.key() == skip && rename_to.empty() && reshape.empty()) continue;
      auto t = p.value().detach().contiguous();
      std::string name = p.key() == skip && !rename_to.empty() ? rename_to : p.key();
      std::vector<int64_t> shape(t.sizes().begin(), t.sizes().end());
      if (p.key() == skip && !reshape.empty()) shape = reshape;
      w.add(name, safetensors::Dtype::kF32, shape, t.data_ptr(), t.nbytes());
    }
    w.write(file);
  };
  write_without("model.layers.1.mlp.up_proj.weight", "", {});
  e = error_of(dir);
  EXPECT_NE(e.find("model.layers.1.mlp.up_proj.weight"), std::string::npos) << e;
  EXPECT_NE(e.find("missing"), std::string::npos) << e;
  write_without("model.layers.1.mlp.up_proj.weight", "model.layers.1.mlp.upp.weight", {});
  e = error_of(dir);
  EXPECT_NE(e.find("model.layers.1.mlp.upp.weight"), std::string::npos) << e;
  EXPECT_NE(e.find("model.safetensors"), std::string::npos) << e;
  write_without("model.layers.0.self_attn.k_proj.weight", "", {32, 16});
  e = error_of(dir);
  EXPECT_NE(e.find("model.layers.0.self_attn.k_proj.weight"), std::string::npos) << e;
  EXPECT_NE(e.find("shape"), std::string::npos) << e;
  // Bad config.
  write_file_atomic(dir + "/config.json", "{\"architectures\": [\"GPT2LMHeadModel\"]}");
  e = error_of(dir);
  EXPECT_NE(e.find("GPT2LMHeadModel"), std::string::npos) << e;
}

}  // namespace
}  // namespace grec::model
