// GradSync on 2 ranks: equals the single-process gradient of the union batch within 1e-6, a tied
// weight is reduced, counted in the norm and clipped once, non-finite on one rank makes both
// skip, an unused parameter is an error naming it (or allowed), start-up broadcast, and the
// consistency check naming what differs.
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "core/log.h"
#include "dist/collectives.h"
#include "dist/grad_sync.h"
#include "dist/mpi_communicator.h"
#include "dist/mpi_env.h"
#include "dist/sampler.h"

namespace grec::dist {
namespace {

struct NetImpl : torch::nn::Module {
  explicit NetImpl(int64_t hidden = 8) {
    fc = register_module("fc", torch::nn::Linear(6, hidden));
    out = register_module("out", torch::nn::Linear(hidden, 1));
    unused = register_module("unused", torch::nn::Linear(2, 2));
    register_buffer("scale", torch::rand({1}) + 1);
  }
  torch::Tensor forward(const torch::Tensor& x) {
    return out->forward(torch::tanh(fc->forward(x))) * named_buffers()["scale"];
  }
  torch::nn::Linear fc{nullptr}, out{nullptr}, unused{nullptr};
};

struct Data {
  torch::Tensor x, y;
};
Data make_data() {
  torch::manual_seed(123);  // same on every rank
  return {torch::randn({13, 6}), torch::randn({13, 1})};
}

torch::Tensor loss_sum(NetImpl& net, const Data& d, const std::vector<int64_t>& idx) {
  if (idx.empty()) return net.fc->weight.sum() * 0;
  auto i = torch::tensor(idx, torch::kLong);
  return (net.forward(d.x.index_select(0, i)) - d.y.index_select(0, i)).pow(2).sum();
}

TEST(GradSync, TwoRanksEqualTheSingleProcessGradientOfTheUnionBatch) {
  MpiCommunicator comm;
  torch::manual_seed(1000 + comm.rank());  // different init per rank: broadcast must fix it
  NetImpl net;
  GradSync sync(net, comm, GradSyncOptions{256, 512, "skip", {"unused.weight", "unused.bias"}});
  sync.broadcast_state();
  sync.check_consistency("cfg", "data");
  EXPECT_GE(sync.num_buckets(), 2);
  const Data d = make_data();
  DistributedSampler sampler(13, 13, comm.rank(), comm.world(), 3);
  const auto global = sampler.global_batch(0, 0);
  const double count = static_cast<double>(global.size());

  // Reference: the whole batch in this process.
  net.zero_grad();
  (loss_sum(net, d, global) / count).backward();
  std::vector<torch::Tensor> ref;
  for (auto& p : net.parameters()) ref.push_back(p.grad().defined() ? p.grad().clone() : torch::Tensor());
  const double ref_norm = sync.clip(0);

  net.zero_grad();
  for (auto& p : net.parameters()) p.mutable_grad() = torch::Tensor();
  (loss_sum(net, d, sampler.local_batch(0, 0)) / count).backward();
  ASSERT_TRUE(sync.reduce(ReduceOp::kSum));
  const auto params = net.parameters();
  for (size_t i = 0; i < params.size(); ++i) {
    if (!ref[i].defined()) {
      EXPECT_FALSE(params[i].grad().defined()) << "unused param got a gradient";
      continue;
    }
    EXPECT_TRUE(torch::allclose(params[i].grad(), ref[i], 1e-6, 1e-6)) << "param " << i;
  }
  EXPECT_NEAR(sync.clip(0), ref_norm, 1e-6);
  // Clipping after the reduction: identical on both ranks and at the requested norm.
  EXPECT_NEAR(sync.clip(0.01), ref_norm, 1e-6);
  EXPECT_NEAR(sync.clip(0), 0.01, 1e-6);
  auto w = comm.allgather(net.fc->weight.grad());
  EXPECT_TRUE(torch::equal(w[0], w[1]));
  EXPECT_GT(sync.comm_seconds(), 0.0);
}

TEST(GradSync, AvgOfEqualShardsEqualsTheMean) {
  MpiCommunicator comm;
  torch::manual_seed(1);
  NetImpl net;
  GradSync sync(net, comm, GradSyncOptions{1 << 20, 25 << 20, "skip", {"unused.weight", "unused.bias"}});
  sync.broadcast_state();
  const Data d = make_data();
  std::vector<int64_t> mine{comm.rank() * 6, comm.rank() * 6 + 1, comm.rank() * 6 + 2};
  std::vector<int64_t> all{0, 1, 2, 6, 7, 8};
  net.zero_grad();
  (loss_sum(net, d, all) / 6).backward();
  torch::Tensor ref = net.out->weight.grad().clone();
  net.zero_grad();
  (loss_sum(net, d, mine) / 3).backward();
  ASSERT_TRUE(sync.reduce(ReduceOp::kAvg));
  EXPECT_TRUE(torch::allclose(net.out->weight.grad(), ref, 1e-6, 1e-6));
}

// A weight registered under two names (as tie_word_embeddings does): one gradient, one bucket
// slot, reduced once, counted once in the norm and scaled once by clipping.
struct TiedImpl : torch::nn::Module {
  TiedImpl() {
    emb = register_parameter("emb", torch::randn({10, 4}));
    head = register_module("head", torch::nn::Linear(4, 3));
    out_w = register_parameter("out_w", emb);  // tied to emb
  }
  torch::Tensor emb, out_w;
  torch::nn::Linear head{nullptr};
};

TEST(GradSync, TiedParameterIsReducedOnceCountedOnceAndClippedOnce) {
  MpiCommunicator comm;
  torch::manual_seed(7);  // the same weights on both ranks
  TiedImpl m;
  GradSync sync(m, comm, GradSyncOptions{64, 1 << 20, "skip", {}});
  ASSERT_EQ(sync.num_params(), 3);
  // Different data per rank, reaching the tied weight through both of its names.
  torch::manual_seed(100 + comm.rank());
  const torch::Tensor a = torch::randn({10, 3}), b = torch::randn({10, 4});
  const auto backward = [&] {
    m.zero_grad();
    ((m.head->forward(m.emb) * a).sum() + (m.out_w * b).sum()).backward();
  };
  backward();
  // The exact mean and sum of the ranks' gradients, per distinct parameter, before any reduction.
  std::vector<torch::Tensor> mean, sum;
  double sq = 0;
  for (const torch::Tensor& g : {m.emb.grad(), m.head->weight.grad(), m.head->bias.grad()}) {
    const torch::Tensor all = comm.allgather(g).to(torch::kDouble);
    ASSERT_FALSE(torch::allclose(all[0], all[1])) << "the ranks must give different gradients";
    sum.push_back((all[0] + all[1]).to(torch::kFloat));
    mean.push_back(((all[0] + all[1]) / 2).to(torch::kFloat));
    sq += ((all[0] + all[1]) / 2).square().sum().item<double>();
  }
  const double norm = std::sqrt(sq);

  ASSERT_TRUE(sync.reduce(ReduceOp::kAvg));
  EXPECT_TRUE(torch::allclose(m.emb.grad(), mean[0], 1e-6, 1e-6))
      << "tied weight: " << (m.emb.grad() - mean[0]).abs().max().item<double>() << " from the mean";
  EXPECT_TRUE(torch::allclose(m.out_w.grad(), mean[0], 1e-6, 1e-6));
  EXPECT_TRUE(torch::allclose(m.head->weight.grad(), mean[1], 1e-6, 1e-6));
  EXPECT_TRUE(torch::allclose(m.head->bias.grad(), mean[2], 1e-6, 1e-6));
  EXPECT_NEAR(sync.grad_norm(), norm, 1e-6 * norm);  // the tied weight counted once
  const double max_norm = 0.5 * norm;
  EXPECT_NEAR(sync.clip(max_norm), norm, 1e-6 * norm);
  const double coef = clip_coefficient(norm, max_norm);
  EXPECT_TRUE(torch::allclose(m.emb.grad(), mean[0] * coef, 1e-6, 1e-6))
      << "the tied weight's gradient is not scaled exactly once";
  EXPECT_TRUE(torch::allclose(m.head->weight.grad(), mean[1] * coef, 1e-6, 1e-6));
  EXPECT_NEAR(sync.clip(0), max_norm, 1e-6 * norm);

  backward();
  ASSERT_TRUE(sync.reduce(ReduceOp::kSum));
  EXPECT_TRUE(torch::allclose(m.emb.grad(), sum[0], 1e-6, 1e-6))
      << "tied weight: " << (m.emb.grad() - sum[0]).abs().max().item<double>() << " from the sum";
  EXPECT_TRUE(torch::allclose(m.head->bias.grad(), sum[2], 1e-6, 1e-6));
  EXPECT_NEAR(sync.grad_norm(), 2 * norm, 2e-6 * norm);
}

TEST(GradSync, NonFiniteOnOneRankMakesBothSkip) {
  MpiCommunicator comm;
  NetImpl net;
  GradSync sync(net, comm, GradSyncOptions{1 << 20, 25 << 20, "skip", {"unused.weight", "unused.bias"}});
  sync.broadcast_state();
  const Data d = make_data();
  net.zero_grad();
  loss_sum(net, d, {0, 1}).backward();
  if (comm.rank() == 1) net.fc->bias.mutable_grad()[2] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_FALSE(sync.reduce(ReduceOp::kSum));
  EXPECT_EQ(net.fc->weight.grad().abs().sum().item<float>(), 0.0f);  // zeroed on both ranks
  EXPECT_EQ(net.fc->bias.grad().abs().sum().item<float>(), 0.0f);

  GradSync strict(net, comm, GradSyncOptions{1 << 20, 25 << 20, "abort", {"unused.weight", "unused.bias"}});
  loss_sum(net, d, {0, 1}).backward();
  if (comm.rank() == 0) net.out->bias.mutable_grad()[0] = std::numeric_limits<float>::infinity();
  EXPECT_THROW(strict.reduce(ReduceOp::kSum), Error);
}

TEST(GradSync, UnusedParameterIsAnErrorNamingIt) {
  MpiCommunicator comm;
  NetImpl net;
  GradSync sync(net, comm, GradSyncOptions{});
  const Data d = make_data();
  net.zero_grad();
  loss_sum(net, d, {comm.rank()}).backward();
  try {
    sync.reduce();
    FAIL() << "expected an error";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("'unused.weight'"), std::string::npos) << e.what();
  }
}

TEST(GradSync, UnusedOnOneRankOnlyGetsTheOtherRanksGradient) {
  MpiCommunicator comm;
  NetImpl net;
  GradSync sync(net, comm, GradSyncOptions{1 << 20, 25 << 20, "skip", {"unused.weight", "unused.bias"}});
  sync.broadcast_state();
  const Data d = make_data();
  net.zero_grad();
  auto loss = loss_sum(net, d, {comm.rank()});
  if (comm.rank() == 1) loss = loss + net.unused->forward(torch::ones({1, 2})).sum();
  loss.backward();
  ASSERT_TRUE(sync.reduce(ReduceOp::kSum));
  ASSERT_TRUE(net.unused->bias.grad().defined());  // on both ranks
  EXPECT_TRUE(torch::equal(net.unused->bias.grad(), torch::ones({2})));
}

TEST(GradSync, ConsistencyCheckNamesWhatDiffers) {
  MpiCommunicator comm;
  {
    NetImpl net(comm.rank() == 0 ? 8 : 9);
    GradSync sync(net, comm, GradSyncOptions{1 << 20, 25 << 20, "skip", {"unused.weight", "unused.bias"}});
    try {
      sync.check_consistency("cfg", "data");
      FAIL() << "expected an error";
    } catch (const UserError& e) {
      EXPECT_NE(std::string(e.what()).find("parameter 'fc.weight' is [8, 6] on rank 0 and [9, 6] on rank 1"),
                std::string::npos) << e.what();
    }
  }
  NetImpl net;
  GradSync sync(net, comm, GradSyncOptions{1 << 20, 25 << 20, "skip", {"unused.weight", "unused.bias"}});
  try {
    sync.check_consistency(comm.rank() == 0 ? "aaaa" : "bbbb", "data");
    FAIL() << "expected an error";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("config hash differs on rank 1"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(sync.check_consistency("same", "same"));
}

TEST(GradSync, BroadcastStateCopiesRankZerosParametersAndBuffers) {
  MpiCommunicator comm;
  torch::manual_seed(50 + comm.rank());
  NetImpl net;
  GradSync sync(net, comm, GradSyncOptions{1 << 20, 25 << 20, "skip", {"unused.weight", "unused.bias"}});
  sync.broadcast_state();
  for (const auto& p : net.named_parameters()) {
    auto g = comm.allgather(p.value().detach());
    EXPECT_TRUE(torch::equal(g[0], g[1])) << p.key();
  }
  auto s = comm.allgather(net.named_buffers()["scale"]);
  EXPECT_TRUE(torch::equal(s[0], s[1]));
}

}  // namespace
}  // namespace grec::dist

int main(int argc, char** argv) {
  grec::dist::MpiEnv env(&argc, &argv);
  grec::log::init({env.rank(), env.world(), true, false});
  ::testing::InitGoogleTest(&argc, argv);
  const int rc = RUN_ALL_TESTS();
  return static_cast<int>(grec::dist::allreduce_max(rc));
}
