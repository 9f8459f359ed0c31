// Bucket assignment (sizes, reverse order, groups) and GradSync's dedup of tied parameters (one
// bucket slot, one share of the norm) in a world of one (no MPI initialised in this process).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "core/error.h"
#include "dist/buckets.h"
#include "dist/grad_sync.h"
#include "dist/mpi_communicator.h"

namespace grec::dist {
namespace {

TEST(Buckets, ReverseOrderFirstBucketSmallThenLarge) {
  // Five float params of 400 bytes: first cap 500 -> {4}; then cap 1000 -> {3, 2}, {1, 0}.
  std::vector<BucketItem> items(5, BucketItem{400, "Float/cpu"});
  const auto plan = assign_buckets(items, 500, 1000);
  ASSERT_EQ(plan.size(), 3u);
  EXPECT_EQ(plan[0].items, (std::vector<int64_t>{4}));
  EXPECT_EQ(plan[1].items, (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(plan[2].items, (std::vector<int64_t>{1, 0}));
  EXPECT_EQ(plan[1].bytes, 800);
}

TEST(Buckets, OversizedItemGetsItsOwnBucketAndGroupsNeverMix) {
  std::vector<BucketItem> items{{100, "Float/cpu"}, {5000, "Float/cpu"}, {100, "BFloat16/cpu"},
                                {100, "Float/cpu"}};
  const auto plan = assign_buckets(items, 1000, 1000);
  ASSERT_EQ(plan.size(), 4u);
  EXPECT_EQ(plan[0].items, (std::vector<int64_t>{3}));  // 3 then 1 would exceed 1000
  EXPECT_EQ(plan[0].group, "Float/cpu");
  EXPECT_EQ(plan[1].items, (std::vector<int64_t>{2}));
  EXPECT_EQ(plan[1].group, "BFloat16/cpu");
  EXPECT_EQ(plan[2].items, (std::vector<int64_t>{1}));
  EXPECT_EQ(plan[3].items, (std::vector<int64_t>{0}));
}

struct TiedImpl : torch::nn::Module {
  TiedImpl() {
    emb = register_parameter("emb", torch::randn({10, 4}));
    head = register_module("head", torch::nn::Linear(4, 3));
    out_w = register_parameter("out_w", emb);  // tied to emb
    frozen = register_parameter("frozen", torch::randn({2}), /*requires_grad=*/false);
  }
  torch::Tensor emb, out_w, frozen;
  torch::nn::Linear head{nullptr};
};

TEST(GradSyncLocal, TiedParametersAreReducedOnceAndFrozenOnesSkipped) {
  TiedImpl m;
  MpiCommunicator comm;  // world of one
  ASSERT_EQ(comm.world(), 1);
  GradSync sync(m, comm, GradSyncOptions{64, 1 << 20, "skip", {}});
  EXPECT_EQ(sync.num_params(), 3);  // emb (= out_w), head.weight, head.bias
  const auto names = sync.bucket_names();
  // Reverse registration order: head.bias (12 B) + head.weight (48 B) fit the 64 B first cap;
  // emb (160 B) opens the next bucket. The tie out_w appears nowhere.
  ASSERT_EQ(names.size(), 2u);
  EXPECT_EQ(names[0], (std::vector<std::string>{"head.bias", "head.weight"}));
  EXPECT_EQ(names[1], (std::vector<std::string>{"emb"}));

  // In a world of one, reduce() leaves the gradients alone; what the dedup decides here is the
  // norm: the tied gradient counts once. (That the reduction itself sums it once is checked on
  // 2 ranks, tests/mpi/grad_sync.cc.)
  auto loss = m.head->forward(m.emb).sum() + m.out_w.sum();
  loss.backward();
  const double expected = std::sqrt(m.emb.grad().square().sum().item<double>() +
                                    m.head->weight.grad().square().sum().item<double>() +
                                    m.head->bias.grad().square().sum().item<double>());
  EXPECT_TRUE(sync.reduce(ReduceOp::kSum));
  EXPECT_NEAR(sync.grad_norm(), expected, 1e-6 * expected);
  const torch::Tensor emb_grad = m.emb.grad().clone();
  EXPECT_NEAR(sync.clip(1e-3), expected, 1e-6 * expected);
  EXPECT_NEAR(sync.clip(0), 1e-3, 1e-6);
  // Scaled once: a tie scaled twice would carry the clip coefficient squared.
  EXPECT_TRUE(torch::allclose(m.emb.grad(), emb_grad * clip_coefficient(expected, 1e-3), 1e-6, 0));
}

TEST(GradSyncLocal, NonFiniteGradientsSkipTheStepHugeFiniteOnesDoNot) {
  TiedImpl m;
  MpiCommunicator comm;
  GradSync sync(m, comm, GradSyncOptions{64, 1 << 20, "skip", {}});
  const auto set = [&](float head_value) {
    m.emb.mutable_grad() = torch::full({10, 4}, 0.5f);
    m.head->weight.mutable_grad() = torch::full({3, 4}, head_value);
    m.head->bias.mutable_grad() = torch::ones({3});
  };
  // 1e30 squared overflows float but not double: finite, and the norm is still exact.
  set(1e30f);
  ASSERT_TRUE(sync.reduce(ReduceOp::kSum));
  const double expected = std::sqrt(40 * 0.25 + 12 * 1e60 + 3);
  EXPECT_NEAR(sync.grad_norm() / expected, 1.0, 1e-6);
  EXPECT_NEAR(sync.clip(1.0), expected, expected * 1e-6);
  EXPECT_NEAR(sync.grad_norm(), 1.0, 1e-5);  // scaled: recomputed from the gradients
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
    set(1.0f);
    m.head->weight.mutable_grad()[1][2] = bad;
    EXPECT_FALSE(sync.reduce(ReduceOp::kSum));
    EXPECT_EQ(m.emb.grad().abs().sum().item<double>(), 0.0);  // skipped: gradients zeroed
  }
  // A plain step: the norm reduce() measured is the gradients' L2 norm.
  set(2.0f);
  ASSERT_TRUE(sync.reduce(ReduceOp::kAvg));
  EXPECT_NEAR(sync.grad_norm(), std::sqrt(40 * 0.25 + 12 * 4.0 + 3), 1e-5);
}

TEST(GradSyncLocal, UnknownMayBeUnusedNameIsAUserError) {
  TiedImpl m;
  MpiCommunicator comm;
  EXPECT_THROW(GradSync(m, comm, GradSyncOptions{1 << 20, 25 << 20, "skip", {"nope"}}), UserError);
  EXPECT_THROW(GradSync(m, comm, GradSyncOptions{1 << 20, 25 << 20, "maybe", {}}), UserError);
}

}  // namespace
}  // namespace grec::dist
