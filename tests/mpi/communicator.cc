// MPI communicator on 2 ranks against hand-computed values: allreduce sum/avg/max/min over several
// dtypes (bf16 through fp32), chunked messages, broadcast, allgather, variable-size byte gathers.
#include <gtest/gtest.h>

#include "core/log.h"
#include "dist/collectives.h"
#include "dist/mpi_communicator.h"
#include "dist/mpi_env.h"

namespace grec::dist {
namespace {

class CommTest : public ::testing::TestWithParam<int64_t> {};  // param: max chunk

TEST_P(CommTest, AllreduceMatchesHandComputedValues) {
  MpiCommunicator comm(GetParam());
  ASSERT_EQ(comm.world(), 2);
  const int r = comm.rank();
  // rank 0: [1, 2, ..., 10], rank 1: [10, 20, ..., 100]
  auto make = [&](torch::ScalarType type) {
    return (torch::arange(1, 11, torch::kDouble) * (r == 0 ? 1 : 10)).to(type);
  };
  const auto base = torch::arange(1, 11, torch::kDouble);
  for (auto type : {torch::kFloat, torch::kDouble, torch::kLong, torch::kInt, torch::kBFloat16}) {
    torch::Tensor t = make(type);
    comm.allreduce(t, ReduceOp::kSum);
    EXPECT_TRUE(torch::equal(t.to(torch::kDouble), base * 11)) << c10::toString(type);
    t = make(type);
    comm.allreduce(t, ReduceOp::kMax);
    EXPECT_TRUE(torch::equal(t.to(torch::kDouble), base * 10)) << c10::toString(type);
    t = make(type);
    comm.allreduce(t, ReduceOp::kMin);
    EXPECT_TRUE(torch::equal(t.to(torch::kDouble), base)) << c10::toString(type);
    EXPECT_EQ(t.scalar_type(), type);
  }
  torch::Tensor u = torch::full({5}, r == 0 ? 3 : 250, torch::kByte);
  comm.allreduce(u, ReduceOp::kMax);
  EXPECT_EQ(u[4].item<int>(), 250);
  torch::Tensor a = make(torch::kFloat);
  comm.allreduce(a, ReduceOp::kAvg);
  EXPECT_TRUE(torch::allclose(a.to(torch::kDouble), base * 5.5));
  torch::Tensor bad = make(torch::kLong);
  EXPECT_ANY_THROW(comm.allreduce(bad, ReduceOp::kAvg));
}

TEST_P(CommTest, BroadcastAndAllgather) {
  MpiCommunicator comm(GetParam());
  const int r = comm.rank();
  torch::Tensor t = torch::full({3, 5}, r == 1 ? 7.5 : -1.0);
  comm.broadcast(t, 1);
  EXPECT_TRUE(torch::equal(t, torch::full({3, 5}, 7.5)));
  torch::Tensor b = torch::full({4}, r == 0 ? 1.5 : 0.0, torch::kBFloat16);
  comm.broadcast(b, 0);
  EXPECT_EQ(b[3].item<float>(), 1.5f);
  torch::Tensor g = comm.allgather(torch::arange(6, torch::kLong).view({2, 3}) + 100 * r);
  ASSERT_EQ(g.sizes(), (std::vector<int64_t>{2, 2, 3}));
  EXPECT_TRUE(torch::equal(g[0], torch::arange(6, torch::kLong).view({2, 3})));
  EXPECT_TRUE(torch::equal(g[1], torch::arange(6, torch::kLong).view({2, 3}) + 100));
}

TEST_P(CommTest, AllgatherBytesOfDifferentLengths) {
  MpiCommunicator comm(GetParam());
  const int r = comm.rank();
  const std::string mine = r == 0 ? std::string("hello") : std::string(23, 'x') + '\0' + "tail";
  const auto all = comm.allgather_bytes(mine);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0], "hello");
  EXPECT_EQ(all[1], std::string(23, 'x') + '\0' + "tail");
  const auto empties = comm.allgather_bytes(r == 0 ? "" : "z");
  EXPECT_EQ(empties, (std::vector<std::string>{"", "z"}));
  const auto none = comm.allgather_bytes("");
  EXPECT_EQ(none, (std::vector<std::string>{"", ""}));
  comm.barrier();
}

// INT_MAX (one call) and 3 (every message split into chunks).
INSTANTIATE_TEST_SUITE_P(Chunks, CommTest, ::testing::Values(int64_t{INT_MAX}, int64_t{3}));

TEST(Comm, FactoryGivesMpiForCpu) {
  auto comm = make_communicator(torch::kCPU);
  EXPECT_EQ(comm->backend(), "mpi");
  EXPECT_EQ(comm->world(), 2);
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
