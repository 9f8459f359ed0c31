// Importing real HF checkpoints: tiny checkpoints written by the independent Python reference
// (tests/reference/causal_lm_reference.py) with an explicit head_dim, sliding-window attention
// (Mistral, Qwen2 use_sliding_window / max_window_layers / layer_types) and harmless window keys;
// attention_dropout driving attention-probability dropout only; and semantic-ID tokens getting
// mean-initialised rows of their own when the checkpoint ships spare rows beyond its tokenizer.
#include <gtest/gtest.h>

#include <algorithm>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/fs.h"
#include "model/causal_lm.h"
#include "tests/model/llm_test_util.h"
#include "tests/tokenizer/tok_test_util.h"
#include "tokenizer/prefix_trie.h"
#include "tokenizer/text_tokenizer.h"
#include "tokenizer/vocab_extension.h"

namespace grec::model {
namespace {

using test::TempDir;

// Writes a reference checkpoint; `config` (JSON object text) is merged into its config.json.
std::string write_reference(const TempDir& tmp, const std::string& name, const std::string& arch,
                            const std::string& config = "{}", int64_t head_dim = 0,
                            int64_t spare_rows = 0, int seed = 3) {
  const std::string dir = tmp.sub(name);
  const std::string cmd = "/usr/bin/python3 " + test::reference_script() + " write '" + dir +
                          "' --arch " + arch + " --seed " + std::to_string(seed) + " --head-dim " +
                          std::to_string(head_dim) + " --spare-rows " + std::to_string(spare_rows) +
                          " --config '" + config + "'";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  return dir;
}

// Largest difference relative to the reference's scale (logits of size > 1 carry fp32 rounding
// of that size; an absolute bound would depend on the CPU's summation order).
double max_diff(const torch::Tensor& a, const torch::Tensor& b) {
  EXPECT_EQ(a.sizes(), b.sizes());
  const double scale = std::max(1.0, b.to(torch::kFloat).abs().max().item<double>());
  return (a.to(torch::kFloat) - b.to(torch::kFloat)).abs().max().item<double>() / scale;
}

// 10 tokens per row, the first row left-padded by 3: long enough for a window of 3 to matter.
torch::Tensor long_ids() {
  return torch::tensor({5, 90, 2, 33, 64, 7, 0, 95, 12, 40, 8, 61, 19, 3, 77, 50, 26, 44, 9, 71},
                       torch::kLong)
      .view({2, 10});
}
torch::Tensor padded_mask() {
  auto m = torch::ones({2, 10}, torch::kLong);
  m[0].narrow(0, 0, 3).fill_(0);
  return m;
}

// Our logits equal the reference's on all real positions, with and without left padding.
void expect_matches_reference(CausalLM& m, const std::string& dir) {
  torch::NoGradGuard g;
  m->eval();
  auto ids = long_ids(), mask = padded_mask();
  EXPECT_LE(max_diff(m->forward(ids), test::reference_logits(dir, ids)), 1e-5);
  auto ours = m->forward(ids, mask), ref = test::reference_logits(dir, ids, mask);
  EXPECT_LE(max_diff(ours.narrow(1, 3, 7)[0], ref.narrow(1, 3, 7)[0]), 1e-5);
  EXPECT_LE(max_diff(ours[1], ref[1]), 1e-5);
}

// Incremental decoding through the KV cache equals the full forward (left padding included).
void expect_cache_matches_full(CausalLM& m) {
  torch::NoGradGuard g;
  m->eval();
  auto ids = long_ids(), mask = padded_mask();
  auto full = m->forward(ids, mask);
  KVCache cache;
  auto first = m->forward(ids.narrow(1, 0, 4), mask.narrow(1, 0, 4), &cache);
  EXPECT_LE(max_diff(first[1], full[1].narrow(0, 0, 4)), 1e-5);
  for (int64_t t = 4; t < 10; ++t) {
    auto step = m->forward(ids.narrow(1, t, 1), mask.narrow(1, t, 1), &cache);
    EXPECT_LE(max_diff(step, full.narrow(1, t, 1)), 1e-5) << "step " << t;
  }
}

class HfImport : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!test::python_torch_available()) GTEST_SKIP() << "python3 with torch not available";
  }
  TempDir tmp_;
};

TEST_F(HfImport, HeadDimIndependentOfHiddenSizeMatchesReference) {
  // hidden 32 / 4 heads = 8, but the config says 12 (LLaMA) or 16 (Qwen2).
  for (const auto& [arch, hd] : std::vector<std::pair<std::string, int64_t>>{{"llama", 12}, {"qwen2", 16}}) {
    SCOPED_TRACE(arch);
    const auto dir = write_reference(tmp_, arch + "_hd", arch, "{}", hd);
    auto m = load_hf(dir);
    EXPECT_EQ(m->config().head_dim(), hd);
    auto& attn = *m->model->layers->ptr<DecoderLayerImpl>(0)->self_attn;
    EXPECT_EQ(attn.q_proj->weight.sizes().vec(), (std::vector<int64_t>{4 * hd, 32}));
    EXPECT_EQ(attn.k_proj->weight.sizes().vec(), (std::vector<int64_t>{2 * hd, 32}));
    EXPECT_EQ(attn.o_proj->weight.sizes().vec(), (std::vector<int64_t>{32, 4 * hd}));
    expect_matches_reference(m, dir);
    expect_cache_matches_full(m);
    // Saved and reloaded, head_dim survives in config.json.
    save_hf(m, tmp_.sub(arch + "_hd_saved"));
    auto cfg = nlohmann::json::parse(read_file(tmp_.sub(arch + "_hd_saved") + "/config.json"));
    EXPECT_EQ(cfg.value("head_dim", 0), hd);
    auto back = load_hf(tmp_.sub(arch + "_hd_saved"));
    expect_matches_reference(back, dir);
  }
}

TEST_F(HfImport, SlidingWindowMatchesReference) {
  struct Case {
    std::string name, arch, config;
    int64_t window, max_window_layers;
  };
  const std::vector<Case> cases = {
      {"mistral", "mistral", R"({"sliding_window": 3})", 3, 0},
      {"qwen2_max_window_layers", "qwen2",
       R"({"use_sliding_window": true, "sliding_window": 3, "max_window_layers": 1})", 3, 1},
      {"qwen2_layer_types", "qwen2",
       R"({"use_sliding_window": true, "sliding_window": 4, "max_window_layers": 28,
           "layer_types": ["full_attention", "sliding_attention"]})", 4, 1},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const auto dir = write_reference(tmp_, c.name, c.arch, c.config);
    auto m = load_hf(dir);
    EXPECT_EQ(m->config().sliding_window, c.window);
    EXPECT_EQ(m->config().max_window_layers, c.max_window_layers);
    expect_matches_reference(m, dir);
    expect_cache_matches_full(m);
    // The window really changes these logits (so the comparison above can fail).
    auto full_cfg = m->config();
    full_cfg.sliding_window = 0;
    CausalLM full(full_cfg);
    {
      torch::NoGradGuard g;
      for (auto& p : full->named_parameters()) p.value().copy_(*m->named_parameters().find(p.key()));
    }
    full->eval();
    torch::NoGradGuard g;
    EXPECT_GT(max_diff(full->forward(long_ids()), m->forward(long_ids())), 1e-3);
  }
}

TEST_F(HfImport, HarmlessWindowKeysLoadAsFullAttention) {
  // Qwen2 configs carry sliding_window with use_sliding_window=false; Mistral's may be null.
  const auto qwen = write_reference(tmp_, "qwen2_off", "qwen2",
                                    R"({"use_sliding_window": false, "sliding_window": 3})");
  auto q = load_hf(qwen);
  EXPECT_EQ(q->config().sliding_window, 0);
  expect_matches_reference(q, qwen);
  const auto mistral = write_reference(tmp_, "mistral_null", "mistral", R"({"sliding_window": null})");
  auto mn = load_hf(mistral);
  EXPECT_EQ(mn->config().sliding_window, 0);
  expect_matches_reference(mn, mistral);
  // A window longer than any sequence is kept and changes nothing.
  const auto wide = write_reference(tmp_, "mistral_wide", "mistral", R"({"sliding_window": 4096})");
  auto mw = load_hf(wide);
  EXPECT_EQ(mw->config().sliding_window, 4096);
  expect_matches_reference(mw, wide);
  // A layer layout grec cannot express is refused, naming the key.
  const auto odd = write_reference(tmp_, "qwen2_odd", "qwen2",
                                   R"({"use_sliding_window": true, "sliding_window": 3,
                                       "layer_types": ["sliding_attention", "full_attention"]})");
  try {
    load_hf(odd);
    ADD_FAILURE() << "expected a UserError";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("layer_types"), std::string::npos) << e.what();
  }
}

TEST_F(HfImport, AttentionDropoutOnlyDropsAttentionProbabilities) {
  // attention_dropout = 1 drops every attention probability: each layer's attention branch is
  // o_proj(0) = 0 while its MLP branch still adds up, i.e. the eval-mode model with zero o_proj.
  // Residual dropout driven by the same key would zero the MLP branches too.
  const auto dir = write_reference(tmp_, "llama_drop", "llama", R"({"attention_dropout": 1.0})");
  auto m = load_hf(dir);
  EXPECT_EQ(m->config().attention_dropout, 1.0);
  EXPECT_EQ(m->config().residual_dropout, 0.0);
  auto no_attn = load_hf(dir);
  torch::NoGradGuard g;
  for (auto& layer : *no_attn->model->layers)
    layer->as<DecoderLayerImpl>()->self_attn->o_proj->weight.zero_();
  no_attn->eval();
  m->train();
  auto ids = long_ids();
  auto dropped = m->forward(ids);
  EXPECT_LE(max_diff(dropped, no_attn->forward(ids)), 1e-5);
  EXPECT_GT(max_diff(dropped, m->lm_logits(m->model->norm(m->model->embed_tokens(ids)))), 1e-2);
  m->eval();
  EXPECT_LE(max_diff(m->forward(ids), test::reference_logits(dir, ids)), 1e-5);
}

// A checkpoint of 384 rows whose tokenizer (the hand-made BPE, 302 tokens) uses only the first
// 302: the other 82 are spare rows, all near 3.0, as the untrained rows of Qwen2 checkpoints.
class SpareRows : public HfImport, public ::testing::WithParamInterface<std::string> {};

TEST_P(SpareRows, SemanticTokensGetMeanRowsOfTheirOwn) {
  const std::string arch = GetParam();
  const auto dir = write_reference(tmp_, "spare", arch, R"({"vocab_size": 384})", 0, 82);
  test::write_file(dir + "/tokenizer.json", test::hand_made_tokenizer("", false).dump());
  auto tokenizer = tok::load_tokenizer(dir);
  ASSERT_EQ(tokenizer->vocab_size(), 302);
  // 12 tokens fit in the spare rows; 128 do not and grow the model to 448 rows.
  for (const auto& levels : std::vector<std::vector<int64_t>>{{4, 4, 4}, {64, 64}}) {
    SCOPED_TRACE(std::to_string(levels.size()) + " levels");
    auto t = tok::load_tokenizer(dir);
    auto m = load_hf(dir);
    std::vector<torch::Tensor> before;
    for (const auto& w : {m->model->embed_tokens->weight, m->lm_head_weight()})
      before.push_back(w.detach().clone());
    const tok::SemanticVocab v = tok::add_semantic_tokens(*t, levels, m->config().vocab_size);
    m->add_token_rows(v.first_new_id, v.tokenizer_vocab, v.model_vocab, 7);
    // The ids are the tokenizer's: consecutive from its old size, one token each when encoded.
    EXPECT_EQ(v.first_new_id, 302);
    int64_t next = 302;
    for (size_t l = 0; l < levels.size(); ++l)
      for (int64_t c = 0; c < levels[l]; ++c) {
        const std::string s = tok::semantic_token(static_cast<int64_t>(l), c);
        EXPECT_EQ(v.token_ids[l][c], next) << s;
        EXPECT_EQ(t->token_to_id(s), next) << s;
        EXPECT_EQ(t->encode("x" + s + "y"), (std::vector<int64_t>{'x', next, 'y'})) << s;
        ++next;
      }
    const int64_t end = v.tokenizer_vocab, rows = std::max<int64_t>(384, 64 * ((end + 63) / 64));
    EXPECT_EQ(v.model_vocab, rows);
    EXPECT_EQ(m->config().vocab_size, rows);
    std::vector<torch::Tensor> after{m->model->embed_tokens->weight.detach(),
                                     m->lm_head_weight().detach()};
    for (size_t i = 0; i < after.size(); ++i) {
      SCOPED_TRACE(i == 0 ? "embedding" : "lm head");
      ASSERT_EQ(after[i].size(0), rows);
      auto mean = before[i].narrow(0, 0, 302).mean(0);
      EXPECT_TRUE(torch::equal(after[i].narrow(0, 0, 302), before[i].narrow(0, 0, 302)));
      // New rows: the mean of the tokenizer's rows (spare rows near 3.0 would pull it far off),
      // with a little noise so they differ from each other.
      auto fresh = after[i].narrow(0, 302, end - 302);
      EXPECT_LT((fresh - mean).abs().max().item<double>(), 1e-2);
      // The spare rows they replaced (near 3.0) are gone.
      const int64_t replaced = std::min<int64_t>(end, 384) - 302;
      EXPECT_GT((fresh.narrow(0, 0, replaced) - before[i].narrow(0, 302, replaced)).abs().min().item<double>(), 1.0);
      EXPECT_FALSE(torch::equal(fresh[0], fresh[1]));
      // Spare rows no token took are left alone; rows grown past the checkpoint are mean rows.
      if (end < 384) EXPECT_TRUE(torch::equal(after[i].narrow(0, end, 384 - end), before[i].narrow(0, end, 384 - end)));
      if (rows > std::max<int64_t>(end, 384)) {
        const int64_t from = std::max<int64_t>(end, 384);
        EXPECT_LT((after[i].narrow(0, from, rows - from) - mean).abs().max().item<double>(), 1e-2);
      }
    }
    torch::NoGradGuard g;
    EXPECT_EQ(m->forward(torch::tensor({{int64_t{3}, end - 1}}, torch::kLong)).size(2), rows);
  }
}

INSTANTIATE_TEST_SUITE_P(Heads, SpareRows, ::testing::Values("llama", "qwen2"),
                         [](const auto& info) { return info.param == "qwen2" ? "Tied" : "Untied"; });

}  // namespace
}  // namespace grec::model
