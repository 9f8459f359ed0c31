// Tests of the SentencePiece tokenizer (trained in the test on generated text) and of the
// semantic-ID vocabulary extension with tokenizer.json / tokenizer.model write-back.
#include <gtest/gtest.h>

#include <random>

#include "core/error.h"
#include "tests/test_util/temp_dir.h"
#include "tests/tokenizer/tok_test_util.h"
#include "tokenizer/bpe_tokenizer.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/sentencepiece_tokenizer.h"
#include "tokenizer/spm/spm_library.h"
#include "tokenizer/text_tokenizer.h"
#include "tokenizer/vocab_extension.h"

namespace grec::tok {
namespace {

using test::TempDir;
using Ids = std::vector<int64_t>;

std::vector<std::string> generated_texts(uint64_t seed) {
  const std::vector<std::string> words = {"red",   "blue",   "shoe",  "running", "lamp",  "desk",
                                          "cotton", "shirt", "classic", "novel", "café",  "中文",
                                          "wireless", "mouse", "2024", "pack", "of", "three"};
  std::mt19937 rng(static_cast<unsigned>(seed));
  std::vector<std::string> texts;
  for (int i = 0; i < 2000; ++i) {
    std::string t;
    const int n = 3 + static_cast<int>(rng() % 8);
    for (int k = 0; k < n; ++k) t += (k ? " " : "") + words[rng() % words.size()];
    texts.push_back(t);
  }
  return texts;
}

TEST(SentencePiece, TrainLoadRoundTripAndAddedTokens) {
  if (!spm_available()) GTEST_SKIP() << "grec was built without libsentencepiece";
  TempDir dir;
  const auto texts = generated_texts(5);
  auto t = train_sentencepiece_bpe(texts, 400, dir.str(), 17);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->vocab_size(), 400);
  EXPECT_EQ(t->bos_id(), 1);
  EXPECT_EQ(t->eos_id(), 2);
  EXPECT_EQ(t->pad_id(), 3);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(t->decode(t->encode(texts[i])), texts[i]);
  // Byte fallback: characters never seen in training still round-trip (as <0x..> pieces).
  EXPECT_EQ(t->decode(t->encode("Ωmega 😀")), "Ωmega 😀");
  // A frequent word is one piece.
  EXPECT_EQ(t->encode("wireless").size(), 1u);
  EXPECT_EQ(t->encode("red", true).front(), 1);

  // Same seed and texts: identical model.
  TempDir dir2;
  auto t2 = train_sentencepiece_bpe(texts, 400, dir2.str(), 17);
  EXPECT_EQ(t2->encode(texts[7]), t->encode(texts[7]));

  // Added tokens: ids after the pieces, never split, kept through save + load.
  EXPECT_EQ(t->add_special_tokens({"<a_3>", "<b_0>", "<a_3>"}), 2);
  EXPECT_EQ(t->token_to_id("<a_3>"), 400);
  EXPECT_EQ(t->token_to_id("<b_0>"), 401);
  EXPECT_EQ(t->vocab_size(), 402);
  const Ids ids = t->encode("red shoe<a_3><b_0> blue");
  const auto count = [&](int64_t id) { return std::count(ids.begin(), ids.end(), id); };
  EXPECT_EQ(count(400), 1);
  EXPECT_EQ(count(401), 1);
  EXPECT_EQ(std::find(ids.begin(), ids.end(), 400) + 1, std::find(ids.begin(), ids.end(), 401));
  EXPECT_EQ(t->decode(ids), "red shoe<a_3><b_0> blue");
  EXPECT_EQ(t->decode(ids, /*skip_special=*/true), "red shoe blue");
  TempDir saved;
  t->save(saved.str());
  auto r = load_tokenizer(saved.str());
  EXPECT_EQ(r->vocab_size(), 402);
  EXPECT_EQ(r->encode("red shoe<a_3><b_0> blue"), ids);
  EXPECT_EQ(r->id_to_token(401), "<b_0>");
  EXPECT_THROW(r->decode({402}), UserError);
}

TEST(SentencePiece, CorruptModelIsAUserError) {
  if (!spm_available()) GTEST_SKIP() << "grec was built without libsentencepiece";
  TempDir dir;
  test::write_file(dir.sub("tokenizer.model"), std::string("\x0a\xff\xffnot a model", 14));
  try {
    load_tokenizer(dir.str());
    FAIL() << "a corrupt tokenizer.model loaded";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("tokenizer.model"), std::string::npos) << e.what();
  }
  EXPECT_THROW(train_sentencepiece_bpe({}, 400, dir.sub("x"), 1), UserError);
}

TEST(VocabExtension, Rounding) {
  EXPECT_EQ(padded_vocab_size(0), 0);
  EXPECT_EQ(padded_vocab_size(1), 64);
  EXPECT_EQ(padded_vocab_size(64), 64);
  EXPECT_EQ(padded_vocab_size(65), 128);
  EXPECT_EQ(padded_vocab_size(151665), 151680);  // Qwen2.5 tokenizer size -> 64-multiple
}

TEST(VocabExtension, BpeWriteBackReloads) {
  TempDir dir;
  test::write_file(dir.sub("tokenizer.json"),
                   test::hand_made_tokenizer(PreTokenizer::qwen2_pattern(), true).dump());
  test::write_file(dir.sub("tokenizer_config.json"),
                   nlohmann::json{{"eos_token", "<|endoftext|>"}, {"model_max_length", 512}}.dump());
  auto t = load_tokenizer(dir.str());
  ASSERT_EQ(t->vocab_size(), 302);
  const SemanticVocab v = add_semantic_tokens(*t, {4, 4, 3});
  EXPECT_EQ(v.num_added, 11);
  EXPECT_EQ(v.tokenizer_vocab, 313);
  EXPECT_EQ(v.model_vocab, 320);
  ASSERT_EQ(v.token_ids.size(), 3u);
  EXPECT_EQ(v.token_ids[0], (Ids{302, 303, 304, 305}));
  EXPECT_EQ(v.token_ids[1], (Ids{306, 307, 308, 309}));
  EXPECT_EQ(v.token_ids[2], (Ids{310, 311, 312}));
  EXPECT_EQ(add_semantic_tokens(*t, {4, 4, 3}, 400).model_vocab, 448);  // idempotent, no shrink
  EXPECT_EQ(t->encode("<a_1><b_3><c_2>hello"), (Ids{303, 309, 312, 259}));

  TempDir out;
  t->save(out.str());
  auto r = load_tokenizer(out.str());
  EXPECT_EQ(r->vocab_size(), 313);
  EXPECT_EQ(semantic_token_ids(*r, {4, 4, 3}), v.token_ids);
  EXPECT_EQ(r->encode("<a_1><b_3><c_2>hello"), (Ids{303, 309, 312, 259}));
  EXPECT_EQ(r->eos_id(), 300);
  EXPECT_EQ(r->encode("hello world café"), t->encode("hello world café"));
  // The written files carry the added tokens in HF's layout.
  const auto tj = nlohmann::json::parse(std::ifstream(out.sub("tokenizer.json")));
  EXPECT_EQ(tj["added_tokens"].size(), 13u);
  EXPECT_EQ(tj["added_tokens"][12]["content"], "<c_2>");
  EXPECT_EQ(tj["added_tokens"][12]["id"], 312);
  EXPECT_EQ(tj["added_tokens"][12]["special"], true);
  EXPECT_EQ(tj["model"]["merges"][0], nlohmann::json::array({"h", "e"}));
  const auto cj = nlohmann::json::parse(std::ifstream(out.sub("tokenizer_config.json")));
  EXPECT_EQ(cj["added_tokens_decoder"]["305"]["content"], "<a_3>");
  EXPECT_EQ(cj["model_max_length"], 512);
  EXPECT_THROW(semantic_token_ids(*r, {5}), UserError);  // <a_4> was never added
}

}  // namespace
}  // namespace grec::tok
