// Bit-exact resume with real process deaths. Run under `mpiexec -n 2`; rank 0 launches fresh
// `mpirun -np 2` jobs of this same binary in helper mode (--helper RUN_DIR OUT_FILE), which train
// an MLP with dropout (so the per-rank RNG state matters) for 12 steps, checkpointing every 6:
//   A  straight run;
//   B  rank 1 stalls after step 6 (GREC_TEST_STALL_AFTER), the test SIGKILLs it once step 6's
//      checkpoint is COMPLETE, then the same command runs again and resumes;
//   C  slowed down; SIGTERM to rank 1 after step 6 → a COMPLETE checkpoint at the stop step and
//      exit code 3; the same command again finishes.
// Final weights (the step-12 checkpoint and fit()'s best weights) of B and C equal A's bit for bit.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <thread>

#include "core/fs.h"
#include "core/log.h"
#include "dist/collectives.h"
#include "dist/communicator.h"
#include "dist/mpi_env.h"
#include "tests/mpi/trainer_test_task.h"
#include "tests/test_util/temp_dir.h"
#include "train/checkpoint.h"
#include "train/tensor_io.h"
#include "train/trainer.h"

extern char** environ;

namespace fs = std::filesystem;
namespace gt = grec::train;

namespace {

constexpr int64_t kSteps = 12, kHalf = 6;
std::string g_self;

gt::TrainOptions options() {
  gt::TrainOptions o;
  o.seed = 3;
  o.max_steps = kSteps;
  o.global_batch_size = 16;
  o.micro_batch_size = 3;
  o.lr = 5e-3;
  o.weight_decay = 0.01;
  o.schedule = "linear";
  o.warmup_steps = 2;
  o.checkpoint_every = kHalf;
  o.keep_last = 2;
  o.eval_every = 4;
  o.log_every = 2;
  return o;
}

// Helper mode: one training job; rank 0 writes fit()'s final weights to `out`.
int helper(const std::string& run, const std::string& out) {
  auto comm = grec::dist::make_communicator(torch::kCPU);
  {
    std::ofstream(fmt::format("{}/pid_rank{}", run, comm->rank())) << ::getpid();
  }
  grec::testing::MlpTask task(/*n=*/70, /*dropout=*/0.2, /*seed=*/3);
  task.set_rank(comm->rank());
  grec::MetricsWriter metrics =
      comm->rank() == 0 ? grec::MetricsWriter(run + "/metrics.jsonl") : grec::MetricsWriter();
  gt::Trainer trainer(options(), "mlp", grec::RunDir(run), *comm, metrics, "cfg");
  try {
    trainer.fit(task);
  } catch (const gt::StopRequested& e) {
    GREC_WARN("{}", e.what());
    return gt::StopRequested::kExitCode;
  }
  if (comm->rank() == 0) gt::save_module(out, task.module());
  comm->barrier();
  return 0;
}

// Starts `mpirun -np 2 <self> --helper run out` in a clean environment (the test itself runs
// under mpiexec, whose variables would make the child join the parent's job).
pid_t launch(const std::string& run, const std::string& out,
             const std::vector<std::string>& extra_env) {
  fs::create_directories(run);
  const pid_t pid = fork();
  if (pid != 0) return pid;
  std::vector<std::string> names;
  for (char** e = environ; *e; ++e) {
    const std::string kv(*e);
    const std::string name = kv.substr(0, kv.find('='));
    for (const char* prefix : {"OMPI_", "PMIX_", "PRTE_", "OPAL_", "ORTE_", "HYDRA_", "PMI_"}) {
      if (name.rfind(prefix, 0) == 0) names.push_back(name);
    }
  }
  for (const auto& n : names) unsetenv(n.c_str());
  setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
  setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
  setenv("OMP_NUM_THREADS", "1", 1);
  for (const auto& kv : extra_env) putenv(strdup(kv.c_str()));
  const std::string log = run + "/mpirun.log";
  freopen(log.c_str(), "a", stdout);
  freopen(log.c_str(), "a", stderr);
  std::vector<const char*> args = {"mpirun", "--oversubscribe", "--bind-to", "none", "-np", "2",
                                   g_self.c_str(), "--helper", run.c_str(), out.c_str(), nullptr};
  execvp("mpirun", const_cast<char* const*>(args.data()));
  _exit(127);
}

int wait_exit(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

bool wait_for(const std::string& path, double seconds) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < end) {
    if (fs::exists(path)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

pid_t read_pid(const std::string& run, int rank) {
  pid_t pid = 0;
  std::ifstream(fmt::format("{}/pid_rank{}", run, rank)) >> pid;
  return pid;
}

std::string ckpt(const std::string& run, int64_t step) {
  return gt::checkpoint_dir(grec::RunDir(run).checkpoints("mlp"), step);
}

// The rerun did resume (a fresh start would reach the same weights too, deterministically).
void expect_resumed_from(const std::string& run, int64_t step) {
  const std::string log = grec::read_file(run + "/mpirun.log");
  EXPECT_NE(log.find("resuming from '" + ckpt(run, step) + "'"), std::string::npos) << log;
}

void expect_same_tensors(const std::string& a, const std::string& b) {
  const gt::NamedTensors ta = gt::load_tensors(a), tb = gt::load_tensors(b);
  ASSERT_EQ(ta.size(), tb.size());
  for (size_t i = 0; i < ta.size(); ++i) {
    EXPECT_EQ(ta[i].first, tb[i].first);
    EXPECT_TRUE(torch::equal(ta[i].second, tb[i].second)) << a << " vs " << b << ": " << ta[i].first;
  }
}

class TrainerResume : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tmp_ = std::make_unique<grec::test::TempDir>("resume");
    base_ = tmp_->str();
    ASSERT_EQ(wait_exit(launch(base_ + "/A", base_ + "/A.out", {})), 0) << base_ << "/A/mpirun.log";
  }
  static void TearDownTestSuite() {
    if (::testing::Test::HasFailure()) tmp_->keep();  // the runs' logs, for the failure message
    tmp_.reset();
  }
  static std::unique_ptr<grec::test::TempDir> tmp_;
  static std::string base_;
};
std::unique_ptr<grec::test::TempDir> TrainerResume::tmp_;
std::string TrainerResume::base_;

TEST_F(TrainerResume, SigkillThenSameCommandIsBitIdentical) {
  const std::string run = base_ + "/B";
  const pid_t job = launch(run, base_ + "/B.out", {"GREC_TEST_STALL_AFTER=" + std::to_string(kHalf)});
  ASSERT_TRUE(wait_for(ckpt(run, kHalf) + "/COMPLETE", 120)) << run << "/mpirun.log";
  const pid_t victim = read_pid(run, 1);
  ASSERT_GT(victim, 0);
  ASSERT_EQ(::kill(victim, SIGKILL), 0);
  EXPECT_NE(wait_exit(job), 0);
  EXPECT_FALSE(fs::exists(ckpt(run, kSteps)));
  EXPECT_FALSE(fs::exists(base_ + "/B.out"));

  ASSERT_EQ(wait_exit(launch(run, base_ + "/B.out", {})), 0) << run << "/mpirun.log";
  expect_resumed_from(run, kHalf);
  expect_same_tensors(ckpt(base_ + "/A", kSteps) + "/model.safetensors",
                      ckpt(run, kSteps) + "/model.safetensors");
  expect_same_tensors(ckpt(base_ + "/A", kSteps) + "/optim.safetensors",
                      ckpt(run, kSteps) + "/optim.safetensors");
  expect_same_tensors(base_ + "/A.out", base_ + "/B.out");
}

TEST_F(TrainerResume, SigtermWritesCheckpointAndExitsWith3) {
  const std::string run = base_ + "/C";
  const pid_t job = launch(run, base_ + "/C.out", {"GREC_TEST_SLOW_MS=60"});
  ASSERT_TRUE(wait_for(ckpt(run, kHalf) + "/COMPLETE", 120)) << run << "/mpirun.log";
  ASSERT_EQ(::kill(read_pid(run, 1), SIGTERM), 0);
  EXPECT_EQ(wait_exit(job), gt::StopRequested::kExitCode) << run << "/mpirun.log";
  const auto steps = gt::complete_checkpoints(grec::RunDir(run).checkpoints("mlp"));
  ASSERT_FALSE(steps.empty());
  const int64_t stopped_at = steps.back();
  std::printf("{\"test\": \"trainer_resume_sigterm\", \"stopped_at_step\": %ld}\n",
              static_cast<long>(stopped_at));
  EXPECT_GT(stopped_at, kHalf);
  EXPECT_LT(stopped_at, kSteps);
  EXPECT_EQ(gt::validate_checkpoint(ckpt(run, stopped_at)), "");
  EXPECT_FALSE(gt::read_trainer_state(ckpt(run, stopped_at)).finished);

  ASSERT_EQ(wait_exit(launch(run, base_ + "/C.out", {})), 0) << run << "/mpirun.log";
  expect_resumed_from(run, stopped_at);
  expect_same_tensors(ckpt(base_ + "/A", kSteps) + "/model.safetensors",
                      ckpt(run, kSteps) + "/model.safetensors");
  expect_same_tensors(base_ + "/A.out", base_ + "/C.out");
}

}  // namespace

int main(int argc, char** argv) {
  g_self = fs::read_symlink("/proc/self/exe").string();
  if (argc == 4 && std::string(argv[1]) == "--helper") {
    grec::dist::MpiEnv env(&argc, &argv);
    grec::log::init({env.rank(), env.world(), false, false});
    return helper(argv[2], argv[3]);
  }
  // Under mpiexec -n 2 only rank 0 drives the jobs; rank 1 sleeps until rank 0 is done rather
  // than spinning in an MPI wait that would steal the children's CPU.
  int rank = 0;
  if (const char* r = std::getenv("OMPI_COMM_WORLD_RANK")) rank = std::atoi(r);
  const std::string done = fmt::format("/tmp/grec_resume_done_{}",
                                       std::getenv("OMPI_MCA_orte_hnp_uri")
                                           ? std::to_string(std::hash<std::string>()(
                                                 std::getenv("OMPI_MCA_orte_hnp_uri")))
                                           : std::string("x"));
  if (rank != 0) {
    while (!fs::exists(done)) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    std::ifstream in(done);
    int rc = 1;
    in >> rc;
    return rc;
  }
  ::testing::InitGoogleTest(&argc, argv);
  const int rc = RUN_ALL_TESTS();
  std::ofstream(done + ".tmp") << rc;
  fs::rename(done + ".tmp", done);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  fs::remove(done);
  return rc;
}
