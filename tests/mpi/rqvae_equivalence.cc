// mpirun -np 2: RQ-VAE training (k-means init, dead-code re-seeding, AdamW, clipping) on 2 ranks
// against the same training in one process (rank 0 alone, a world-of-one communicator) at the
// same global batch: weights after N steps equal within 1e-9 relative L2, identical across ranks.
// A second case does the same with EMA codebooks (statistics summed over ranks).
//
// Why float64. In float32 the two runs differ by 2.7e-5 on an AMD EPYC (5e-8 on the Intel machines
// before), all of it from one place: k-means sets each code to the mean of its residuals in the
// first global batch, and step 1 trains on that same batch, so a codebook row's gradient
// 2 * sum(c - r) is zero up to rounding. Rounding depends on how the GEMMs and the gradient sum are
// split (one 64-row batch vs two 32-row shards; the CPU's BLAS kernel), and Adam's first step
// g / (|g| + eps) turns a rounding-sized g ~ eps = 1e-8 into a step of up to lr. (Without k-means
// init the float32 runs agree to 6e-8; the EMA variant, whose codebooks Adam does not train, to
// 3e-8.) In float64 the rounding is ~1e-15 |g|, so such a step is at most lr * 1e-15 / eps
// ~ 3e-10 on any CPU; measured 2e-15 (EMA 5e-17). A real sharding error (a sample counted twice
// or missed, a wrong average) moves weights by ~1e-1.
#include <gtest/gtest.h>

#include <filesystem>
#include <optional>

#include "core/log.h"
#include "dist/collectives.h"
#include "dist/communicator.h"
#include "dist/mpi_env.h"
#include "tests/mpi/mpi_gtest_main.h"
#include "tests/mpi/trainer_test_task.h"
#include "tests/test_util/temp_dir.h"
#include "train/checkpoint.h"
#include "stages/rqvae_task.h"
#include "train/tensor_io.h"
#include "train/trainer.h"

namespace fs = std::filesystem;
namespace gt = grec::train;
namespace gs = grec::stages;

namespace {

constexpr int64_t kSteps = 24;

gt::TrainOptions options(int64_t micro) {
  gt::TrainOptions o;
  o.micro_batch_size = micro;
  o.seed = 3;
  o.max_steps = kSteps;
  o.global_batch_size = 64;  // 150 items: 3 steps per epoch, the last one short
  o.optimizer = "adamw";
  o.lr = 3e-3;
  o.weight_decay = 1e-4;
  o.grad_clip = 1.0;
  o.checkpoint_every = 0;
  o.eval_every = 6;
  o.log_every = 6;
  return o;
}

gs::RQVAETaskOptions task_options() {
  gs::RQVAETaskOptions t;
  t.kmeans_iters = 20;
  t.dead_code_every = 2;  // re-seeding happens at epochs 2, 4, 6 within the 24 steps
  t.dead_code_threshold = 3;
  t.global_batch_size = 64;
  t.seed = 3;
  return t;
}

grec::model::RQVAEOptions model_options(bool ema) {
  return grec::model::RQVAEOptions(12).encoder_dims({24, 16}).latent_dim(8).levels(3)
      .codebook_size(8).ema(ema).ema_decay(0.9);
}

torch::Tensor weights_at(const std::string& run, int64_t step) {
  return grec::testing::checkpoint_weights(run, "rqvae", step);
}

void run_case(bool ema) {
  auto comm = grec::dist::make_communicator(torch::kCPU);
  ASSERT_EQ(comm->world(), 2) << "run under mpiexec -n 2";
  // Rank 0's folder, used by both ranks (one machine); removed after the final barrier.
  std::optional<grec::test::TempDir> tmp;
  if (comm->rank() == 0) tmp.emplace(ema ? "rqvae_equiv_ema" : "rqvae_equiv");
  const std::string base = comm->allgather_bytes(tmp ? tmp->str() : std::string()).at(0);
  const torch::Tensor x = grec::testing::synthetic_inputs(150, 12, 77).to(torch::kDouble);

  gs::RQVAETask task(x, model_options(ema), task_options(), *comm);
  grec::MetricsWriter metrics;
  // No micro-batching: a different summation order can flip a near-tie nearest-code choice
  // (a discontinuity), after which the runs legitimately diverge.
  gt::Trainer trainer(options(0), "rqvae", grec::RunDir(base + "/dist"), *comm, metrics, "h");
  EXPECT_EQ(trainer.fit(task).steps, kSteps);
  const torch::Tensor mine = grec::testing::flat_by_name(gt::module_state(task.module()));
  const torch::Tensor all = comm->allgather(mine);
  EXPECT_TRUE(torch::equal(all[0], all[1]));
  EXPECT_GT(task.reseeded_codes(), 0);

  if (comm->rank() == 0) {
    grec::testing::LocalCommunicator local;
    gs::RQVAETask ref_task(x, model_options(ema), task_options(), local);
    grec::MetricsWriter ref_metrics;
    gt::Trainer ref(options(0), "rqvae", grec::RunDir(base + "/single"), local, ref_metrics, "h");
    EXPECT_EQ(ref.fit(ref_task).steps, kSteps);
    EXPECT_EQ(ref_task.reseeded_codes(), task.reseeded_codes());
    const torch::Tensor a = weights_at(base + "/dist", kSteps);
    const torch::Tensor b = weights_at(base + "/single", kSteps);
    gs::RQVAETask fresh(x, model_options(ema), task_options(), local);
    const torch::Tensor init = grec::testing::flat_by_name(gt::module_state(fresh.module()));
    ASSERT_EQ(a.numel(), b.numel());
    const double rel = ((a - b).norm() / b.norm()).item<double>();
    const double moved = (b - init).abs().max().item<double>();
    std::printf("{\"test\": \"rqvae_equivalence\", \"ema\": %s, \"rel_l2_diff\": %.3g, "
                "\"max_abs_diff\": %.3g, \"max_param_change\": %.3g, \"reseeded\": %lld}\n",
                ema ? "true" : "false", rel, (a - b).abs().max().item<double>(), moved,
                static_cast<long long>(task.reseeded_codes()));
    EXPECT_LE(rel, 1e-9);
    EXPECT_GT(moved, 1e-2);
  }
  comm->barrier();
}

TEST(RQVAEEquivalence, TwoRanksMatchOneProcess) { run_case(false); }
TEST(RQVAEEquivalence, TwoRanksMatchOneProcessEma) { run_case(true); }

}  // namespace

int main(int argc, char** argv) { return grec::testing::run_mpi_gtests(argc, argv); }
