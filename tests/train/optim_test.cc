// train/optim: schedule values against their formulas, weight-decay parameter groups, and
// optimizer state that round-trips bit-exactly (the basis of bit-exact resume).
#include "train/optim.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/config.h"
#include "core/error.h"

namespace gt = grec::train;

namespace {

gt::TrainOptions sched(const std::string& kind, double warmup, double min_ratio = 0.0) {
  gt::TrainOptions o;
  o.lr = 2.0;
  o.schedule = kind;
  o.warmup_steps = warmup;
  o.min_lr_ratio = min_ratio;
  return o;
}

TEST(LrSchedule, WarmupThenLinear) {
  const gt::LrSchedule s(sched("linear", 10, 0.1), 110);
  EXPECT_DOUBLE_EQ(s.lr(0), 0.0);
  EXPECT_DOUBLE_EQ(s.lr(5), 1.0);   // 2 * 5/10
  EXPECT_DOUBLE_EQ(s.lr(10), 2.0);  // peak
  EXPECT_DOUBLE_EQ(s.lr(60), 2.0 * (0.1 + 0.9 * 0.5));
  EXPECT_DOUBLE_EQ(s.lr(110), 2.0 * 0.1);
  EXPECT_DOUBLE_EQ(s.lr(500), 2.0 * 0.1);
}

TEST(LrSchedule, Cosine) {
  const gt::LrSchedule s(sched("cosine", 10, 0.0), 110);
  EXPECT_DOUBLE_EQ(s.lr(10), 2.0);
  EXPECT_NEAR(s.lr(35), 2.0 * 0.5 * (1 + std::cos(M_PI * 0.25)), 1e-15);
  EXPECT_NEAR(s.lr(60), 1.0, 1e-15);
  EXPECT_NEAR(s.lr(110), 0.0, 1e-15);
  const gt::LrSchedule m(sched("cosine", 0, 0.2), 100);
  EXPECT_DOUBLE_EQ(m.lr(0), 2.0);
  EXPECT_NEAR(m.lr(100), 0.4, 1e-15);
}

TEST(LrSchedule, InverseSqrtAndConstantAndFractionWarmup) {
  const gt::LrSchedule s(sched("inverse_sqrt", 4), 1000);
  EXPECT_DOUBLE_EQ(s.lr(2), 1.0);
  EXPECT_DOUBLE_EQ(s.lr(4), 2.0);
  EXPECT_DOUBLE_EQ(s.lr(16), 1.0);  // 2 * sqrt(4/16)
  EXPECT_DOUBLE_EQ(s.lr(100), 2.0 * std::sqrt(0.04));
  const gt::LrSchedule c(sched("constant", 0.1), 200);  // 10% of 200 steps
  EXPECT_EQ(c.warmup_steps(), 20);
  EXPECT_DOUBLE_EQ(c.lr(10), 1.0);
  EXPECT_DOUBLE_EQ(c.lr(150), 2.0);
}

TEST(LrSchedule, AppliesToEveryGroup) {
  torch::nn::Linear lin(3, 2);
  gt::TrainOptions o = sched("linear", 0);
  o.weight_decay = 0.1;
  auto opt = gt::make_optimizer(*lin, o);
  ASSERT_EQ(opt->param_groups().size(), 2u);
  gt::LrSchedule(o, 10).apply(*opt, 5);
  for (auto& g : opt->param_groups()) EXPECT_DOUBLE_EQ(g.options().get_lr(), 1.0);
}

struct Net : torch::nn::Module {
  Net() {
    emb = register_module("emb", torch::nn::Embedding(10, 4));
    lin = register_module("lin", torch::nn::Linear(4, 3));
    ln = register_module("ln", torch::nn::LayerNorm(torch::nn::LayerNormOptions({3})));
    scale = register_parameter("scale", torch::ones({3, 3}));
    frozen = register_parameter("frozen", torch::ones({2, 2}), /*requires_grad=*/false);
  }
  torch::nn::Embedding emb{nullptr};
  torch::nn::Linear lin{nullptr};
  torch::nn::LayerNorm ln{nullptr};
  torch::Tensor scale, frozen;
};

TEST(ParamGroups, DecayExcludesBiasesNormsEmbeddings) {
  Net net;
  const gt::ParamGroups g = gt::split_param_groups(net, true);
  EXPECT_EQ(g.decay_names, (std::vector<std::string>{"scale", "lin.weight"}));
  EXPECT_EQ(g.no_decay_names,
            (std::vector<std::string>{"emb.weight", "lin.bias", "ln.weight", "ln.bias"}));
  const gt::ParamGroups all = gt::split_param_groups(net, false);
  EXPECT_EQ(all.decay.size(), 6u);  // frozen excluded
  EXPECT_TRUE(all.no_decay.empty());

  gt::TrainOptions o;
  o.weight_decay = 0.05;
  for (const std::string kind : {"adamw", "adam", "adagrad", "sgd"}) {
    o.optimizer = kind;
    auto opt = gt::make_optimizer(net, o);
    ASSERT_EQ(opt->param_groups().size(), 2u) << kind;
    EXPECT_EQ(opt->param_groups()[0].params().size(), 2u);
    EXPECT_EQ(opt->param_groups()[1].params().size(), 4u);
    const auto wd = [&](size_t i) -> double {
      auto& opts = opt->param_groups()[i].options();
      if (auto* a = dynamic_cast<torch::optim::AdamWOptions*>(&opts)) return a->weight_decay();
      if (auto* b = dynamic_cast<torch::optim::AdamOptions*>(&opts)) return b->weight_decay();
      if (auto* c = dynamic_cast<torch::optim::AdagradOptions*>(&opts)) return c->weight_decay();
      return dynamic_cast<torch::optim::SGDOptions&>(opts).weight_decay();
    };
    EXPECT_DOUBLE_EQ(wd(0), 0.05) << kind;
    EXPECT_DOUBLE_EQ(wd(1), 0.0) << kind;
  }
}

// Steps, saves the optimizer state, rebuilds everything from the saved weights and state, and
// checks that the next steps are bit-identical to continuing the original.
void check_state_round_trip(const std::string& kind) {
  torch::manual_seed(3);
  Net a;
  gt::TrainOptions o;
  o.optimizer = kind;
  o.weight_decay = 0.01;
  o.momentum = 0.9;
  auto opt_a = gt::make_optimizer(a, o);
  const torch::Tensor x = torch::randn({5, 4});
  const auto step = [&](Net& n, torch::optim::Optimizer& opt) {
    opt.zero_grad();
    (n.ln(n.lin(x)).matmul(n.scale).pow(2).sum() +
     n.emb(torch::tensor({1, 2}, torch::kLong)).sum()).backward();
    opt.step();
  };
  for (int i = 0; i < 3; ++i) step(a, *opt_a);
  nlohmann::json scalars;
  const gt::NamedTensors saved = gt::optimizer_state(*opt_a, &scalars);
  EXPECT_FALSE(saved.empty());

  Net b;
  {
    torch::NoGradGuard ng;
    for (size_t i = 0; i < a.parameters().size(); ++i) b.parameters()[i].copy_(a.parameters()[i]);
  }
  auto opt_b = gt::make_optimizer(b, o);
  gt::load_optimizer_state(*opt_b, saved, nlohmann::json::parse(scalars.dump()), "test");
  for (int i = 0; i < 2; ++i) {
    step(a, *opt_a);
    step(b, *opt_b);
  }
  for (size_t i = 0; i < a.parameters().size(); ++i) {
    EXPECT_TRUE(torch::equal(a.parameters()[i], b.parameters()[i])) << kind << " param " << i;
  }
  // A state for another optimizer type is refused.
  o.optimizer = kind == "sgd" ? "adam" : "sgd";
  auto other = gt::make_optimizer(b, o);
  EXPECT_THROW(gt::load_optimizer_state(*other, saved, scalars, "test"), grec::UserError);
}

TEST(OptimizerState, RoundTripIsBitExact) {
  for (const std::string kind : {"adamw", "adam", "adagrad", "sgd"}) check_state_round_trip(kind);
}

TEST(TrainOptions, DeclaresAndReadsKeys) {
  grec::ConfigSchema schema;
  gt::TrainOptions d;
  d.lr = 0.5;
  d.optimizer = "sgd";
  gt::TrainOptions::declare(schema, "x.train", d);
  const grec::Config c = grec::Config::parse(schema, "x: {train: {epochs: 3, schedule: cosine}}",
                                             "<t>", {"x.train.warmup_steps=0.05"});
  const gt::TrainOptions o = gt::TrainOptions::from_config(c, "x.train");
  EXPECT_EQ(o.epochs, 3);
  EXPECT_EQ(o.schedule, "cosine");
  EXPECT_DOUBLE_EQ(o.lr, 0.5);
  EXPECT_EQ(o.optimizer, "sgd");
  EXPECT_DOUBLE_EQ(o.warmup_steps, 0.05);
  EXPECT_THROW(gt::TrainOptions::from_config(
                   grec::Config::parse(schema, "x: {train: {global_batch_size: 0}}", "<t>"),
                   "x.train"),
               grec::UserError);
  EXPECT_THROW(grec::Config::parse(schema, "x: {train: {optimizer: lion}}", "<t>"),
               grec::UserError);
}

}  // namespace
