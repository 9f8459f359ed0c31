// mpirun -np 2: the trainer on 2 ranks (global batch 32, gradient accumulation in micro-batches of
// 5) against the same training in one process (rank 0 alone, a world-of-one communicator, no
// micro-batching): parameters after 20 steps equal within 1e-6 relative, identical across ranks.
#include <gtest/gtest.h>

#include <filesystem>
#include <optional>

#include "core/log.h"
#include "dist/communicator.h"
#include "dist/collectives.h"
#include "dist/mpi_env.h"
#include "tests/mpi/trainer_test_task.h"
#include "tests/test_util/temp_dir.h"
#include "train/checkpoint.h"
#include "train/tensor_io.h"
#include "train/trainer.h"

namespace fs = std::filesystem;
namespace gt = grec::train;

namespace {

grec::dist::MpiEnv* g_env = nullptr;

gt::TrainOptions options(int64_t micro) {
  gt::TrainOptions o;
  o.seed = 7;
  o.max_steps = 20;
  o.global_batch_size = 32;
  o.micro_batch_size = micro;
  o.optimizer = "adamw";
  o.lr = 1e-2;
  o.weight_decay = 0.01;
  o.schedule = "cosine";
  o.warmup_steps = 3;
  o.grad_clip = 0.5;  // exercised: the global norm is above it early on
  o.checkpoint_every = 0;
  o.eval_every = 10;
  o.log_every = 5;
  return o;
}

// Weights after step 20 as stored in that step's checkpoint (fit() ends by loading the best).
// Flattened in name order.
torch::Tensor weights_at(const std::string& run, int64_t step) {
  return grec::testing::checkpoint_weights(run, "mlp", step);
}

TEST(TrainerEquivalence, TwoRanksMatchOneProcess) {
  auto comm = grec::dist::make_communicator(torch::kCPU);
  ASSERT_EQ(comm->world(), 2) << "run under mpiexec -n 2";
  // Rank 0's folder, used by both ranks (one machine); removed after the final barrier.
  std::optional<grec::test::TempDir> tmp;
  if (comm->rank() == 0) tmp.emplace("equiv");
  const std::string base = comm->allgather_bytes(tmp ? tmp->str() : std::string()).at(0);

  grec::testing::MlpTask task(/*n=*/100, /*dropout=*/0.0, /*seed=*/7);
  grec::MetricsWriter metrics = comm->rank() == 0 ? grec::MetricsWriter(base + "/dist/metrics.jsonl")
                                                  : grec::MetricsWriter();
  gt::Trainer trainer(options(5), "mlp", grec::RunDir(base + "/dist"), *comm, metrics, "h");
  const gt::TrainResult r = trainer.fit(task);
  EXPECT_EQ(r.steps, 20);

  // Identical across ranks, bit for bit (the fitted module and the step-20 checkpoint).
  const torch::Tensor mine = grec::testing::flat_state(task.module());
  const torch::Tensor all = comm->allgather(mine);
  EXPECT_TRUE(torch::equal(all[0], all[1]));

  if (comm->rank() == 0) {
    grec::testing::LocalCommunicator local;
    grec::testing::MlpTask ref_task(100, 0.0, 7);
    grec::MetricsWriter ref_metrics;
    gt::Trainer ref(options(0), "mlp", grec::RunDir(base + "/single"), local, ref_metrics, "h");
    EXPECT_EQ(ref.fit(ref_task).steps, 20);
    const torch::Tensor a = weights_at(base + "/dist", 20);
    const torch::Tensor b = weights_at(base + "/single", 20);
    grec::testing::MlpTask fresh(100, 0.0, 7);
    const torch::Tensor init = grec::testing::flat_by_name(gt::module_state(fresh.module()));
    ASSERT_EQ(a.numel(), b.numel());
    // Relative in the L2 sense: elementwise ratios of near-zero weights measure fp32 rounding
    // of the different summation orders (shards, micro-batches), not a difference in the math.
    const double rel = ((a - b).norm() / b.norm()).item<double>();
    const double max_rel = ((a - b).abs() / b.abs().clamp_min(1e-3)).max().item<double>();
    const double moved = (b - init).abs().max().item<double>();
    std::printf("{\"test\": \"trainer_equivalence\", \"rel_l2_diff\": %.3g, \"max_elem_rel_diff\": "
                "%.3g, \"max_abs_diff\": %.3g, \"max_param_change\": %.3g}\n",
                rel, max_rel, (a - b).abs().max().item<double>(), moved);
    EXPECT_LE(rel, 1e-6);
    EXPECT_LE((a - b).abs().max().item<double>(), 1e-6);
    EXPECT_GT(moved, 1e-2);  // training did move the weights
    // The best weights that fit() loaded at the end match as well.
    const torch::Tensor ref_best = grec::testing::flat_state(ref_task.module());
    EXPECT_LE(((mine - ref_best).norm() / ref_best.norm()).item<double>(), 1e-6);
    EXPECT_TRUE(fs::exists(base + "/dist/metrics.jsonl"));
  }
  comm->barrier();
}

}  // namespace

int main(int argc, char** argv) {
  grec::dist::MpiEnv env(&argc, &argv);
  g_env = &env;
  grec::log::init({env.rank(), env.world(), false, false});
  ::testing::InitGoogleTest(&argc, argv);
  int failed = RUN_ALL_TESTS();
  // Every rank reports failure if any did.
  failed = static_cast<int>(grec::dist::allreduce_max(failed));
  return failed;
}
