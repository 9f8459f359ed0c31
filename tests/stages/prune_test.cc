// Stage prune's parts: the surrogate's batched per-sample gradients against one backward per
// sample, its Hessian-vector products against finite differences of the gradient (double
// precision), parameter sets and their errors, the kept table, the instruction builder's prefix
// filter, and the cache-key rule (prune off leaves align's key as it was).
#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "core/error.h"
#include "core/fs.h"
#include "data_pipeline/instructions.h"
#include "model/sasrec.h"
#include "stages/prune_effort.h"
#include "stages/prune_kept.h"
#include "stages/prune_surrogate.h"
#include "stages/stages.h"
#include "tests/model/llm_test_util.h"
#include "tests/test_util/temp_dir.h"
#include "train/influence.h"
#include "train/pipeline.h"

namespace gs = grec::stages;
namespace gd = grec::data;

namespace {

// Users with 4..12 items over `items` items; the last two positions are validation and test.
gd::Dataset tiny_dataset(int64_t users, int64_t items, uint32_t seed) {
  std::mt19937 rng(seed);
  gd::Dataset d;
  for (int64_t i = 0; i < items; ++i) d.item_raw_ids.push_back("i" + std::to_string(i));
  d.seq_offsets.push_back(0);
  for (int64_t u = 0; u < users; ++u) {
    d.user_raw_ids.push_back("u" + std::to_string(u));
    const int64_t len = 4 + static_cast<int64_t>(rng() % 9);
    for (int64_t k = 0; k < len; ++k) {
      d.seq_items.push_back(static_cast<int64_t>(rng() % items));
      d.inter_user.push_back(u);
      d.inter_item.push_back(d.seq_items.back());
      d.inter_time.push_back(k);
    }
    d.seq_offsets.push_back(static_cast<int64_t>(d.seq_items.size()));
    d.train_end.push_back(len - 2);
    d.valid_end.push_back(len - 1);
  }
  return d;
}

grec::model::SASRec tiny_sasrec(int64_t items, torch::Dtype dtype) {
  torch::manual_seed(5);
  grec::model::SASRec m(grec::model::SASRecOptions(items).max_len(8).hidden(16).blocks(2).heads(2).dropout(0.3));
  m->to(dtype);
  return m;
}

torch::Tensor flat(const grec::train::ParamVec& v) {
  std::vector<torch::Tensor> parts;
  for (const auto& t : v) parts.push_back(t.reshape({-1}));
  return torch::cat(parts);
}

TEST(PruneSurrogate, BatchedPerSampleGradientsEqualOneBackwardPerSample) {
  const gd::Dataset d = tiny_dataset(12, 30, 1);
  const auto keys = gd::training_prefixes(d);
  gs::Surrogate s(tiny_sasrec(30, torch::kDouble), d, keys,
                  {"blocks.1.out_proj.weight", "blocks.0.out_proj.bias", "blocks.0.out_proj.weight"});
  ASSERT_TRUE(s.batched());
  std::vector<int64_t> idx;
  for (int64_t i = 0; i < std::min<int64_t>(25, s.num_samples()); ++i) idx.push_back(i);
  const torch::Tensor g = s.per_sample_grads(idx);
  ASSERT_EQ(g.size(0), static_cast<int64_t>(idx.size()));
  ASSERT_EQ(g.size(1), s.num_params());
  for (size_t r = 0; r < idx.size(); ++r) {
    const torch::Tensor one = flat(s.grad_sum({idx[r]}));
    EXPECT_TRUE(torch::allclose(g[r], one, 1e-9, 1e-11)) << "sample " << r;
  }
  // Not all zero: the samples differ.
  EXPECT_GT((g[0] - g[1]).abs().max().item<double>(), 1e-6);
}

TEST(PruneSurrogate, OneAtATimePathAgreesWithTheBatchedOneOnSharedParameters) {
  const gd::Dataset d = tiny_dataset(10, 30, 2);
  const auto keys = gd::training_prefixes(d);
  auto m = tiny_sasrec(30, torch::kDouble);
  gs::Surrogate batched(m, d, keys, {"blocks.1.out_proj.weight"});
  gs::Surrogate looped(m, d, keys, {"blocks.1.out_proj.weight", "final_norm.weight"});
  ASSERT_FALSE(looped.batched());
  const std::vector<int64_t> idx = {0, 3, 4, 9};
  const torch::Tensor a = batched.per_sample_grads(idx);
  const torch::Tensor b = looped.per_sample_grads(idx).slice(1, 0, a.size(1));
  EXPECT_TRUE(torch::allclose(a, b, 1e-9, 1e-11));
}

TEST(PruneSurrogate, HessianVectorProductEqualsFiniteDifferencesOfTheGradient) {
  const gd::Dataset d = tiny_dataset(10, 30, 3);
  const auto keys = gd::training_prefixes(d);
  auto m = tiny_sasrec(30, torch::kDouble);
  for (const std::string set : {"last_attn_out", "all"}) {
    gs::Surrogate s(m, d, keys, gs::surrogate_param_names(*m, set, "prune.influence.params"));
    const std::vector<int64_t> idx = {0, 1, 2, 5, 7};
    torch::manual_seed(11);
    grec::train::ParamVec v;
    for (const auto& p : s.params()) v.push_back(torch::randn_like(p));
    const torch::Tensor hv = flat(grec::train::hessian_vector_product(s.loss_sum(idx), s.params(), v));
    const double eps = 1e-5;
    auto shift = [&](double by) {
      torch::NoGradGuard no_grad;
      for (size_t i = 0; i < v.size(); ++i) s.params()[i].add_(v[i], by);
    };
    shift(eps);
    const torch::Tensor plus = flat(s.grad_sum(idx));
    shift(-2 * eps);
    const torch::Tensor minus = flat(s.grad_sum(idx));
    shift(eps);
    const torch::Tensor fd = (plus - minus) / (2 * eps);
    EXPECT_LT((hv - fd).norm().item<double>(), 1e-6 * std::max(1.0, fd.norm().item<double>())) << set;
    EXPECT_GT(hv.norm().item<double>(), 1e-6) << set;
  }
}

TEST(PruneSurrogate, ParameterSets) {
  auto m = tiny_sasrec(30, torch::kFloat);
  EXPECT_EQ(gs::surrogate_param_names(*m, "last_attn_out", "k"),
            std::vector<std::string>{"blocks.1.out_proj.weight"});
  EXPECT_EQ(gs::surrogate_param_names(*m, "all", "k").size(), m->parameters().size());
  EXPECT_EQ(gs::surrogate_param_names(*m, " blocks.0.q_proj.weight, final_norm.bias ", "k"),
            (std::vector<std::string>{"blocks.0.q_proj.weight", "final_norm.bias"}));
  try {
    gs::surrogate_param_names(*m, "blocks.9.out_proj.weight", "prune.influence.params");
    FAIL() << "an unknown name was accepted";
  } catch (const grec::UserError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("prune.influence.params"), std::string::npos) << what;
    EXPECT_NE(what.find("blocks.9.out_proj.weight"), std::string::npos) << what;
  }
}

TEST(PruneSurrogate, LossIsTheCrossEntropyOfTheNextItemAfterTheLastMaxLenItems) {
  const gd::Dataset d = tiny_dataset(6, 30, 4);
  const auto keys = gd::training_prefixes(d);
  auto m = tiny_sasrec(30, torch::kDouble);
  gs::Surrogate s(m, d, keys, {"blocks.1.out_proj.weight"});
  // The longest prefix: its history is cut to the last max_len (8) items.
  int64_t longest = 0;
  for (size_t i = 0; i < keys.size(); ++i) {
    if (keys[i].end > keys[longest].end) longest = static_cast<int64_t>(i);
  }
  const auto& k = keys[longest];
  const int64_t n = std::min<int64_t>(k.end, 8);
  std::vector<int64_t> seq;
  for (int64_t j = k.end - n; j < k.end; ++j) seq.push_back(d.sequence(k.user)[j] + 1);
  torch::NoGradGuard no_grad;
  m->eval();
  const torch::Tensor scores = m->score_all(torch::tensor(seq, torch::kLong).view({1, -1}));
  const double want = -torch::log_softmax(scores[0], 0)[d.sequence(k.user)[k.end]].item<double>();
  EXPECT_NEAR(s.losses({longest})[0].item<double>(), want, 1e-10);
}

TEST(PruneEffort, HeadGradientNormsEqualAutogradOneSampleAtATime) {
  grec::model::CausalLM lm = grec::test::tiny_model(/*qwen=*/false, 7);  // untied LM head
  std::mt19937 rng(3);
  std::vector<gd::TokenizedSample> samples;
  for (int i = 0; i < 6; ++i) {  // prompts of 3..12 tokens, responses of 1..4
    gd::TokenizedSample s;
    const int prompt = 3 + static_cast<int>(rng() % 10), response = 1 + static_cast<int>(rng() % 4);
    for (int t = 0; t < prompt + response; ++t) s.ids.push_back(1 + static_cast<int64_t>(rng() % 79));
    s.prompt_len = prompt;
    samples.push_back(s);
  }
  const std::vector<int64_t> idx = {0, 1, 2, 3, 4, 5};
  const std::vector<double> norms = gs::head_gradient_norms(lm, samples, idx, 0);
  ASSERT_EQ(norms.size(), idx.size());
  for (size_t r = 0; r < idx.size(); ++r) {
    const gd::TokenizedSample& s = samples[idx[r]];
    const int64_t len = static_cast<int64_t>(s.ids.size());
    torch::Tensor x = torch::tensor(s.ids, torch::kLong).view({1, -1});
    torch::Tensor logits = lm->forward(x)[0];  // [len, V]
    torch::Tensor targets = x[0].slice(0, s.prompt_len, len);
    torch::Tensor loss = torch::nn::functional::cross_entropy(logits.slice(0, s.prompt_len - 1, len - 1), targets);
    torch::Tensor g = torch::autograd::grad({loss}, {lm->lm_head->weight})[0];
    EXPECT_NEAR(norms[r], g.norm().item<double>(), 1e-5 * g.norm().item<double>()) << "sample " << r;
  }
  EXPECT_NE(norms[0], norms[1]);
}

TEST(PruneKept, TableRoundTripsAndAlignReadsOnlyTrainingPrefixes) {
  grec::test::TempDir tmp("prune_kept");
  const gd::Dataset d = tiny_dataset(5, 20, 5);
  gs::PruneTable t;
  t.keys = gd::training_prefixes(d);
  const size_t n = t.keys.size();
  for (size_t i = 0; i < n; ++i) {
    t.influence.push_back(0.5 * double(i));
    t.effort.push_back(std::nan(""));
    t.score.push_back(double(n - i));
    t.stratum.push_back(int64_t(i % 3) - 1);
    t.kept.push_back(i % 2);
  }
  t.method = "dealrec";
  t.budget = static_cast<int64_t>((n + 0) / 2);
  const grec::RunDir run(tmp.path().string());
  grec::make_dirs(run.artifacts("prune"));
  gs::write_prune_table(gs::kept_path(run), t, "data.h5");
  const gs::PruneTable back = gs::read_prune_table(gs::kept_path(run));
  ASSERT_EQ(back.keys.size(), n);
  EXPECT_EQ(back.keys[n - 1], t.keys[n - 1]);
  EXPECT_EQ(back.influence, t.influence);
  EXPECT_TRUE(std::isnan(back.effort[0]));
  EXPECT_EQ(back.kept, t.kept);
  EXPECT_EQ(back.method, "dealrec");
  const std::vector<char> kept = gs::read_kept_prefixes(run, d);
  for (size_t i = 0; i < n; ++i) {
    EXPECT_EQ(kept[d.seq_offsets[t.keys[i].user] + t.keys[i].end], char(i % 2));
  }
  // A key at the validation position is refused.
  t.keys[0].end = d.train_end[t.keys[0].user];
  gs::write_prune_table(gs::kept_path(run), t, "data.h5");
  EXPECT_THROW(gs::read_kept_prefixes(run, d), grec::UserError);
}

TEST(PruneKept, PrefixFilterKeepsPerUserTasksOnly) {
  gd::Dataset d = tiny_dataset(8, 20, 6);
  for (int64_t i = 0; i < d.num_items(); ++i) d.item_text["title"].push_back("title " + std::to_string(i));
  std::vector<std::string> tokens;
  for (int64_t i = 0; i < d.num_items(); ++i) tokens.push_back("<a_" + std::to_string(i) + ">");
  gd::InstructionOptions o;
  o.tasks = {"seqrec", "item2index", "fusionseqrec"};
  const auto all = gd::build_instructions(d, tokens, o, nullptr);
  o.keep_prefix = [](int64_t, int64_t end) { return end == 2; };
  const auto some = gd::build_instructions(d, tokens, o, nullptr);
  auto count = [](const std::vector<gd::Instruction>& v, const std::string& task) {
    return std::count_if(v.begin(), v.end(), [&](const gd::Instruction& x) { return x.task == task; });
  };
  int64_t users_with_end2 = 0;
  for (int64_t u = 0; u < d.num_users(); ++u) users_with_end2 += d.train_end[u] > 2;
  EXPECT_EQ(count(some, "seqrec"), users_with_end2);
  EXPECT_EQ(count(some, "fusionseqrec"), 2 * users_with_end2);
  EXPECT_EQ(count(some, "item2index"), count(all, "item2index"));
  EXPECT_LT(count(some, "seqrec"), count(all, "seqrec"));
  for (const auto& x : some) {
    if (x.task == "seqrec") {
      EXPECT_EQ(x.item, d.sequence(x.user)[2]);
    }
  }
}

TEST(PruneStage, OffLeavesAlignsKeyAsItWasOnMakesItDependOnPrune) {
  const auto schema = gs::full_schema();
  auto key = [&](const std::string& yaml) {
    const grec::Config c = grec::Config::parse(schema, "run: { name: k, dir: /tmp }\n" + yaml, "<test>");
    return std::make_pair(grec::train::stage_key(gs::all_stages(), c, "align"),
                          grec::train::stage_key(gs::all_stages(), c, "sasrec"));
  };
  const auto off = key("");
  EXPECT_EQ(key("prune: { lambda: 0.3, method: random }\n"), off);  // prune keys, stage off
  const auto on = key("prune: { keep: 0.1 }\n");
  EXPECT_NE(on.first, off.first);
  EXPECT_EQ(on.second, off.second);  // upstream stages untouched
  EXPECT_NE(key("prune: { keep: 0.1, lambda: 0.3 }\n").first, on.first);
  EXPECT_NE(key("prune: { keep: 0.2 }\n").first, on.first);
  // random needs neither the surrogate nor the LLM: retraining SASRec leaves it cached.
  EXPECT_EQ(key("prune: { keep: 0.1, method: random }\nsasrec: { hidden: 32 }\n").first,
            key("prune: { keep: 0.1, method: random }\n").first);
  EXPECT_NE(key("prune: { keep: 0.1 }\nsasrec: { hidden: 32 }\n").first, on.first);
}

}  // namespace
