// mpirun -np 2: LC-Rec alignment steps (AlignTask: length-sorted chunks, response-masked loss,
// AdamW, clipping, cosine schedule) on 2 ranks against the same training in one process at the
// same global batch: weights after N steps equal within 1e-5 relative L2 and identical across
// ranks; the validation metric (constrained beam search sharded over ranks) equals too.
#include <gtest/gtest.h>

#include <filesystem>
#include <optional>
#include <random>

#include "core/log.h"
#include "dist/collectives.h"
#include "dist/communicator.h"
#include "dist/mpi_env.h"
#include "tests/model/llm_test_util.h"
#include "tests/mpi/mpi_gtest_main.h"
#include "tests/mpi/trainer_test_task.h"
#include "tests/test_util/temp_dir.h"
#include "stages/align_task.h"
#include "train/trainer.h"

namespace fs = std::filesystem;
namespace gt = grec::train;
namespace gs = grec::stages;

namespace {

constexpr int64_t kSteps = 8, kVocab = 64, kItems = 40;

gt::TrainOptions options() {
  gt::TrainOptions o;
  o.seed = 4;
  o.max_steps = kSteps;
  o.global_batch_size = 12;  // 30 samples: 3 steps per epoch, the last one short
  o.optimizer = "adamw";
  o.lr = 3e-3;
  o.weight_decay = 0.01;
  o.schedule = "cosine";
  o.grad_clip = 1.0;
  o.checkpoint_every = 0;
  o.eval_every = 4;
  o.log_every = 4;
  o.group_by_length = true;  // as stage align runs: batches composed by length, any world size
  return o;
}

// Prompts of varied lengths over ids 4..29, responses = one item's three code tokens.
std::vector<grec::data::TokenizedSample> samples(const std::vector<int64_t>& codes) {
  std::mt19937_64 rng(9);
  std::vector<grec::data::TokenizedSample> out;
  for (int i = 0; i < 30; ++i) {
    grec::data::TokenizedSample s;
    s.ids.push_back(1);  // bos
    const int len = 2 + static_cast<int>(rng() % 12);
    for (int t = 0; t < len; ++t) s.ids.push_back(4 + static_cast<int64_t>(rng() % 26));
    s.prompt_len = static_cast<int64_t>(s.ids.size());
    const int64_t item = static_cast<int64_t>(rng() % kItems);
    for (int l = 0; l < 3; ++l) s.ids.push_back(30 + 8 * l + codes[item * 3 + l]);
    s.ids.push_back(2);  // eos
    out.push_back(std::move(s));
  }
  return out;
}

TEST(AlignEquivalence, TwoRanksMatchOneProcess) {
  auto comm = grec::dist::make_communicator(torch::kCPU);
  ASSERT_EQ(comm->world(), 2) << "run under mpiexec -n 2";
  // Rank 0's folder, used by both ranks (one machine); removed after the final barrier.
  std::optional<grec::test::TempDir> tmp;
  if (comm->rank() == 0) tmp.emplace("align_equiv");
  const std::string base = comm->allgather_bytes(tmp ? tmp->str() : std::string()).at(0);
  // 40 distinct items over 8 x 8 x 8 codes.
  std::vector<int64_t> codes;
  for (int64_t i = 0; i < kItems; ++i) {
    codes.insert(codes.end(), {i % 8, (i / 8) % 8, (i * 3) % 8});
  }
  const auto trie = grec::tok::PrefixTrie::build(codes, kItems, 3);
  std::vector<std::vector<int64_t>> token_ids(3);
  for (int64_t l = 0; l < 3; ++l)
    for (int64_t c = 0; c < 8; ++c) token_ids[l].push_back(30 + 8 * l + c);
  gs::AlignEvalSet valid;
  for (int u = 0; u < 7; ++u) {
    valid.prompts.push_back({1, 4 + u, 9, 12 + u});
    valid.targets.push_back(u * 5);
  }
  grec::eval::GenerativeOptions gen;
  gen.num_beams = 10;
  gen.batch_size = 3;

  auto make_task = [&](grec::dist::Communicator& c) {
    auto lm = grec::test::peaked_lm(17, kVocab);
    lm->train();
    // chunk_tokens 40: several forwards per rank-local batch.
    return std::make_unique<gs::AlignTask>(lm, samples(codes), valid, trie, token_ids, gen, 40, 0, c);
  };
  auto task = make_task(*comm);
  grec::MetricsWriter metrics;
  gt::Trainer trainer(options(), "align", grec::RunDir(base + "/dist"), *comm, metrics, "h");
  const auto fit = trainer.fit(*task);
  EXPECT_EQ(fit.steps, kSteps);
  const torch::Tensor mine = grec::testing::flat_state(task->module());
  const torch::Tensor all = comm->allgather(mine);
  EXPECT_TRUE(torch::equal(all[0], all[1]));
  const nlohmann::json dist_valid = task->evaluate("valid");

  if (comm->rank() == 0) {
    grec::testing::LocalCommunicator local;
    auto ref_task = make_task(local);
    grec::MetricsWriter ref_metrics;
    gt::Trainer ref(options(), "align", grec::RunDir(base + "/single"), local, ref_metrics, "h");
    EXPECT_EQ(ref.fit(*ref_task).steps, kSteps);
    const torch::Tensor a = grec::testing::checkpoint_weights(base + "/dist", "align", kSteps);
    const torch::Tensor b = grec::testing::checkpoint_weights(base + "/single", "align", kSteps);
    const torch::Tensor init = grec::testing::flat_by_name(gt::module_state(make_task(local)->module()));
    ASSERT_EQ(a.numel(), b.numel());
    const double rel = ((a - b).norm() / b.norm()).item<double>();
    const double moved = (b - init).abs().max().item<double>();
    std::printf("{\"test\": \"align_equivalence\", \"rel_l2_diff\": %.3g, \"max_param_change\": %.3g}\n",
                rel, moved);
    EXPECT_LE(rel, 1e-5);
    EXPECT_GT(moved, 1e-3);
    const nlohmann::json single_valid = ref_task->evaluate("valid");
    EXPECT_EQ(dist_valid["users"], 7);
    for (const char* k : {"HR@1", "HR@5", "HR@10", "NDCG@10"}) {
      EXPECT_DOUBLE_EQ(dist_valid[k].get<double>(), single_valid[k].get<double>()) << k;
    }
  }
  comm->barrier();
}

}  // namespace

int main(int argc, char** argv) { return grec::testing::run_mpi_gtests(argc, argv); }
