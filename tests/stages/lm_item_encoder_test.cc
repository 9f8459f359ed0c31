// The lm item encoder: batched, length-sorted, padded encoding equals encoding each text alone
// (masked mean of the last hidden state computed here by hand), in item order; empty text works.
#include <gtest/gtest.h>

#include "model/causal_lm.h"
#include "tests/model/llm_test_util.h"
#include "tests/test_util/temp_dir.h"
#include "tests/tokenizer/tok_test_util.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/text_tokenizer.h"
#include "stages/lm_item_encoder.h"

namespace grec::stages {
namespace {

TEST(LmItemEncoder, BatchedEqualsOneByOne) {
  test::TempDir dir;
  test::write_file(dir.sub("tokenizer.json"),
                   test::hand_made_tokenizer(tok::PreTokenizer::qwen2_pattern(), true).dump());
  const auto tokenizer = tok::load_tokenizer(dir.str());
  auto lm = test::peaked_lm(5, 320, /*qwen=*/true);
  ASSERT_GE(lm->config().vocab_size, tokenizer->vocab_size());
  const std::vector<std::string> texts = {"hello world", "", "he", "hello hello world café",
                                          "world", "héllo wörld hello", "hello"};
  LmEncodeOptions o;
  o.batch_size = 3;
  o.max_len = 12;
  const std::vector<float> got = lm_embed_texts(lm, *tokenizer, texts, o, nullptr);
  const int64_t h = lm->config().hidden_size;
  ASSERT_EQ(static_cast<int64_t>(got.size()), static_cast<int64_t>(texts.size()) * h);
  torch::NoGradGuard g;
  for (size_t i = 0; i < texts.size(); ++i) {
    std::vector<int64_t> ids = tokenizer->encode(texts[i], false);
    if (tokenizer->bos_id() >= 0) ids.insert(ids.begin(), tokenizer->bos_id());
    if (static_cast<int64_t>(ids.size()) > o.max_len) ids.resize(o.max_len);
    if (ids.empty()) ids.push_back(std::max<int64_t>(0, tokenizer->eos_id()));
    const auto want = lm->hidden_states(torch::tensor(ids, torch::kLong).view({1, -1}))[0].mean(0);
    const auto row = torch::from_blob(const_cast<float*>(got.data()) + i * h, {h}, torch::kFloat);
    EXPECT_LT((row - want).abs().max().item<double>(), 1e-5) << "text " << i;
  }
  // Distinct texts give distinct embeddings.
  EXPECT_GT(std::abs(got[0] - got[2 * h]), 0.0f);
}

}  // namespace
}  // namespace grec::stages
