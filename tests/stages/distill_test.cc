// Stage distill's parts without an LLM: the DLLM2Rec weight formulas on hand cases, the ranking
// distillation loss against a hand computation, the teacher samples (training positions only),
// the teacher file (round trip, a file of another key refused naming it), and the distillation
// task under the Trainer: λ = 0 without the embedding term trains exactly stage sasrec's SASRec
// (bit-identical weights), and a run stopped halfway resumes bit-identically.
#include <gtest/gtest.h>

#include <csignal>
#include <cmath>
#include <filesystem>
#include <random>

#include "core/config.h"
#include "core/error.h"
#include "dist/signals.h"
#include "model/distill_loss.h"
#include "model/sasrec.h"
#include "model/teacher_item_term.h"
#include "stages/distill_task.h"
#include "stages/distill_teacher.h"
#include "stages/stages.h"
#include "tests/mpi/trainer_test_task.h"
#include "tests/test_util/temp_dir.h"
#include "train/checkpoint.h"
#include "train/trainer.h"

namespace {

namespace gm = grec::model;
namespace gs = grec::stages;
namespace gt = grec::train;

constexpr int64_t kItems = 30, kUsers = 24;

// Users of lengths 4..15 over 30 items; the last two items are validation and test.
grec::data::Dataset tiny_dataset() {
  grec::data::Dataset d;
  std::mt19937_64 rng(11);
  for (int64_t i = 0; i < kItems; ++i) d.item_raw_ids.push_back("i" + std::to_string(i));
  d.seq_offsets.push_back(0);
  for (int64_t u = 0; u < kUsers; ++u) {
    d.user_raw_ids.push_back("u" + std::to_string(u));
    const int64_t len = 4 + static_cast<int64_t>(u % 12);
    for (int64_t k = 0; k < len; ++k) d.seq_items.push_back(static_cast<int64_t>((u * 7 + k * 3 + rng() % 2) % kItems));
    d.seq_offsets.push_back(static_cast<int64_t>(d.seq_items.size()));
    d.train_end.push_back(len - 2);
    d.valid_end.push_back(len - 1);
  }
  return d;
}

// A fake teacher at every training position: 5 distinct items, descending scores.
gs::TeacherOutputs fake_teacher(const grec::data::Dataset& d, const std::string& samples) {
  gs::TeacherOutputs t;
  t.k = 5;
  gs::teacher_samples(d, samples, &t.users, &t.ends);
  std::mt19937_64 rng(5);
  for (int64_t s = 0; s < t.size(); ++s) {
    const int64_t first = static_cast<int64_t>(rng() % kItems);
    for (int64_t k = 0; k < t.k; ++k) {
      t.items.push_back((first + 4 * k) % kItems);
      t.scores.push_back(-0.5f * static_cast<float>(k) - 0.1f);
    }
  }
  t.embedding = "ids";
  t.emb_dim = 8;
  for (int64_t i = 0; i < kItems * t.emb_dim; ++i) t.item_embedding.push_back(std::sin(0.37 * double(i)));
  t.key = "k1";
  return t;
}

grec::Config config_with(const std::string& yaml) {
  return grec::Config::parse(gs::full_schema(),
                             "run: { name: t, dir: /tmp }\nsasrec: { hidden: 16, max_len: 10, dropout: 0.2 }\n" + yaml,
                             "<test>");
}

gt::TrainOptions options(int64_t steps) {
  gt::TrainOptions o;
  o.seed = 3;
  o.optimizer = "adam";
  o.lr = 1e-2;
  o.max_steps = steps;
  o.global_batch_size = 8;
  o.grad_clip = 0;
  o.checkpoint_every = 0;
  o.eval_every = 100;
  o.log_every = 100;
  return o;
}

std::function<gs::StudentModel()> sasrec_student(const grec::Config& c, torch::Tensor z = {}) {
  return [&c, z] {
    auto m = std::make_shared<gm::SASRecImpl>(gm::SASRecOptions(kItems)
                                                  .max_len(c.get_int("sasrec.max_len"))
                                                  .hidden(c.get_int("sasrec.hidden"))
                                                  .dropout(c.get_float("sasrec.dropout")));
    if (z.defined()) {
      m->set_teacher_term(gm::TeacherItemTerm(z, gm::TeacherItemTermOptions(m->hidden_size())).ptr());
    }
    return gs::StudentModel{m, m.get()};
  };
}

TEST(DistillWeights, HandCase) {
  // Teacher list rows 3, 5, 8 with beam log-probabilities -1, -2, -4; the student's top 3 holds
  // rows 5, 7, 9 (so only the second entry is consistent).
  torch::Tensor rows = torch::tensor({{3, 5, 8}}, torch::kLong);
  torch::Tensor scores = torch::tensor({{-1.0f, -2.0f, -4.0f}});
  torch::Tensor student = torch::tensor({{5, 7, 9}}, torch::kLong);
  gm::RankDistillOptions o;
  const auto p = gm::distill_weight_parts(rows, scores, student, o);
  const double e1 = std::exp(-1.0), e2 = std::exp(-2.0), e3 = std::exp(-3.0);
  const double pos[3] = {e1 / (e1 + e2 + e3), e2 / (e1 + e2 + e3), e3 / (e1 + e2 + e3)};
  // exp(-(s_1 - s_k)) = 1, e^-1, e^-3.
  const double cz = 1 + e1 + e3;
  const double conf[3] = {1 / cz, e1 / cz, e3 / cz};
  const double cons[3] = {0, 1, 0};
  double w[3], sum = 0;
  for (int k = 0; k < 3; ++k) {
    EXPECT_NEAR(p.position[0][k].item<double>(), pos[k], 1e-6) << k;
    EXPECT_NEAR(p.confidence[0][k].item<double>(), conf[k], 1e-6) << k;
    EXPECT_NEAR(p.consistency[0][k].item<double>(), cons[k], 1e-6) << k;
    w[k] = 0.3 * pos[k] + 0.5 * conf[k] + 0.1 * cons[k];
    sum += w[k];
  }
  const torch::Tensor weights = gm::distill_weights(p, rows, o);
  for (int k = 0; k < 3; ++k) EXPECT_NEAR(weights[0][k].item<double>(), w[k] / sum, 1e-6) << k;
  // Position lambda 2: exp(-k/2).
  const auto p2 = gm::distill_weight_parts(rows, scores, student, gm::RankDistillOptions().position_lambda(2.0));
  const double f = std::exp(-0.5), g = std::exp(-1.0), h = std::exp(-1.5);
  EXPECT_NEAR(p2.position[0][0].item<double>(), f / (f + g + h), 1e-6);
}

TEST(DistillWeights, ShortListsAndSwitchedOffParts) {
  // Second row: a list of two (row 0 = no entry) and no consistent item.
  torch::Tensor rows = torch::tensor({{3, 5, 8}, {4, 6, 0}}, torch::kLong);
  torch::Tensor scores = torch::tensor({{-1.0f, -2.0f, -4.0f}, {-0.5f, -0.5f, 0.0f}});
  torch::Tensor student = torch::tensor({{3, 5, 8}, {1, 2, 7}}, torch::kLong);
  const auto only_conf = gm::RankDistillOptions().position(0).consistency(0);
  const torch::Tensor w = gm::distill_weights(gm::distill_weight_parts(rows, scores, student, only_conf), rows, only_conf);
  EXPECT_NEAR(w[1][0].item<double>(), 0.5, 1e-6);
  EXPECT_NEAR(w[1][1].item<double>(), 0.5, 1e-6);
  EXPECT_EQ(w[1][2].item<double>(), 0.0);
  EXPECT_NEAR(w.sum(1)[0].item<double>(), 1.0, 1e-6);
  // Consistency alone on a row without any consistent item: nothing to distil there.
  const auto only_cons = gm::RankDistillOptions().position(0).confidence(0);
  const torch::Tensor c = gm::distill_weights(gm::distill_weight_parts(rows, scores, student, only_cons), rows, only_cons);
  EXPECT_NEAR(c[0][0].item<double>(), 1.0 / 3, 1e-6);
  EXPECT_EQ(c[1].abs().sum().item<double>(), 0.0);
  // Every part off: uniform over the real entries.
  const auto none = gm::RankDistillOptions().position(0).confidence(0).consistency(0);
  const torch::Tensor u = gm::distill_weights(gm::distill_weight_parts(rows, scores, student, none), rows, none);
  EXPECT_NEAR(u[1][0].item<double>(), 0.5, 1e-6);
  EXPECT_NEAR(u[0][2].item<double>(), 1.0 / 3, 1e-6);
  EXPECT_EQ(u[1][2].item<double>(), 0.0);
}

TEST(DistillLoss, MatchesAHandComputation) {
  torch::manual_seed(2);
  gm::SASRec m(gm::SASRecOptions(kItems).hidden(8).max_len(6).dropout(0));
  torch::Tensor h = torch::randn({2, 8});
  torch::Tensor rows = torch::tensor({{3, 5, 8}, {4, 6, 0}}, torch::kLong);
  torch::Tensor neg = torch::tensor({{10, 11, 12}, {13, 14, 15}}, torch::kLong);
  torch::Tensor w = torch::tensor({{0.5f, 0.3f, 0.2f}, {0.6f, 0.4f, 0.0f}});
  const double got = gm::rank_distill_loss_sum(*m, h, rows, neg, w).item<double>();
  const torch::Tensor table = m->item_emb->weight.detach();
  auto sigmoid = [](double x) { return 1 / (1 + std::exp(-x)); };
  double want = 0;
  for (int b = 0; b < 2; ++b) {
    for (int k = 0; k < 3; ++k) {
      const double sp = h[b].dot(table[rows[b][k].item<int64_t>()]).item<double>();
      const double sn = h[b].dot(table[neg[b][k].item<int64_t>()]).item<double>();
      want += w[b][k].item<double>() * (-std::log(sigmoid(sp)) - std::log(sigmoid(-sn)));
    }
  }
  EXPECT_NEAR(got, want, 1e-5 * std::max(1.0, std::abs(want)));
}

TEST(DistillTeacher, SamplesAreTrainingPositionsOnly) {
  const auto d = tiny_dataset();
  std::vector<int64_t> users, ends;
  gs::teacher_samples(d, "last", &users, &ends);
  ASSERT_EQ(static_cast<int64_t>(users.size()), kUsers);  // every user has >= 2 training items
  for (size_t s = 0; s < users.size(); ++s) EXPECT_EQ(ends[s], d.train_end[users[s]] - 1);
  gs::teacher_samples(d, "all", &users, &ends);
  int64_t want = 0;
  for (int64_t u = 0; u < kUsers; ++u) want += d.train_end[u] - 1;
  ASSERT_EQ(static_cast<int64_t>(users.size()), want);
  for (size_t s = 0; s < users.size(); ++s) {
    EXPECT_GE(ends[s], 1);
    EXPECT_LT(ends[s], d.train_end[users[s]]);
  }
}

TEST(DistillTeacher, FileRoundTripAndAnotherKeyIsRefusedNamingTheFile) {
  grec::test::TempDir tmp("distill_teacher");
  const auto d = tiny_dataset();
  const gs::TeacherOutputs t = fake_teacher(d, "all");
  const std::string path = tmp.sub("teacher.h5");
  gs::write_teacher(path, t);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  const gs::TeacherOutputs r = gs::read_teacher(path, "k1");
  EXPECT_EQ(r.users, t.users);
  EXPECT_EQ(r.ends, t.ends);
  EXPECT_EQ(r.items, t.items);
  EXPECT_EQ(r.scores, t.scores);
  EXPECT_EQ(r.item_embedding, t.item_embedding);
  EXPECT_EQ(r.emb_dim, 8);
  try {
    gs::read_teacher(path, "k2");
    FAIL() << "a teacher file of another key was accepted";
  } catch (const grec::UserError& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("another dataset"), std::string::npos) << e.what();
  }
  EXPECT_THROW(gs::read_teacher(tmp.sub("missing.h5"), "k1"), grec::UserError);
}

TEST(DistillTask, TeacherSampleLookup) {
  const auto d = tiny_dataset();
  const grec::Config c = config_with("");
  grec::testing::LocalCommunicator comm;
  const gs::TeacherOutputs all = fake_teacher(d, "all"), last = fake_teacher(d, "last");
  gs::DistillTask a(d, c, comm, 1, sasrec_student(c), &all, {});
  gs::DistillTask l(d, c, comm, 1, sasrec_student(c), &last, {});
  for (int64_t s = 0; s < all.size(); ++s) EXPECT_EQ(a.teacher_sample(all.users[s], all.ends[s]), s);
  for (int64_t u = 0; u < kUsers; ++u) {
    EXPECT_EQ(l.teacher_sample(u, d.train_end[u] - 1), u);
    EXPECT_EQ(l.teacher_sample(u, d.train_end[u] - 2), -1);
    EXPECT_EQ(a.teacher_sample(u, d.train_end[u]), -1);  // the validation position: never
  }
}

TEST(DistillTask, LambdaZeroWithoutEmbeddingTrainsThePlainSASRec) {
  grec::test::TempDir tmp("distill_plain");
  const auto d = tiny_dataset();
  const grec::Config c = config_with("");
  grec::testing::LocalCommunicator comm;
  grec::MetricsWriter metrics;
  const gs::TeacherOutputs teacher = fake_teacher(d, "all");
  gs::SASRecTask plain(d, c, comm, 7);
  gt::Trainer(options(6), "p", grec::RunDir(tmp.sub("p")), comm, metrics, "h").fit(plain);
  gs::DistillTask zero(d, c, comm, 7, sasrec_student(c), &teacher, {0.0, {}});
  gt::Trainer(options(6), "z", grec::RunDir(tmp.sub("z")), comm, metrics, "h").fit(zero);
  const torch::Tensor a = grec::testing::flat_state(plain.module());
  EXPECT_TRUE(torch::equal(a, grec::testing::flat_state(zero.module())));
  // λ > 0 moves the weights (so the comparison above could fail).
  gs::DistillTask on(d, c, comm, 7, sasrec_student(c), &teacher, {0.7, {}});
  gt::Trainer(options(6), "o", grec::RunDir(tmp.sub("o")), comm, metrics, "h").fit(on);
  EXPECT_GT((a - grec::testing::flat_state(on.module())).abs().max().item<double>(), 1e-4);
}

// A SIGTERM in the middle of step `stop_at` (what a scheduler sends): the trainer checkpoints that
// step and throws StopRequested.
class StoppedTask : public gs::DistillTask {
 public:
  using gs::DistillTask::DistillTask;
  int64_t stop_at = 0;
  torch::Tensor loss_sum(const gt::Batch& batch) override {
    if (batch.step == stop_at) {
      stop_at = 0;
      std::raise(SIGTERM);
    }
    return gs::DistillTask::loss_sum(batch);
  }
};

TEST(DistillTask, StoppedHalfwayResumesBitIdentically) {
  grec::test::TempDir tmp("distill_resume");
  const auto d = tiny_dataset();
  const grec::Config c = config_with("");
  grec::testing::LocalCommunicator comm;
  grec::MetricsWriter metrics;
  const gs::TeacherOutputs teacher = fake_teacher(d, "all");
  const torch::Tensor z = torch::from_blob(const_cast<float*>(teacher.item_embedding.data()),
                                           {kItems, teacher.emb_dim}, torch::kFloat).clone();
  // Dropout 0.2 and the teacher term on: the RNG state and every parameter must come back.
  auto fit = [&](const std::string& dir, int64_t stop_at) {
    StoppedTask task(d, c, comm, 7, sasrec_student(c, z), &teacher, {0.7, {}});
    task.stop_at = stop_at;
    gt::Trainer(options(8), "distill", grec::RunDir(dir), comm, metrics, "h").fit(task);
  };
  fit(tmp.sub("a"), 0);
  EXPECT_THROW(fit(tmp.sub("b"), 5), gt::StopRequested);
  grec::dist::StopSignal().reset();  // the flag is process-wide; grec exits after a stop
  fit(tmp.sub("b"), 0);
  const torch::Tensor straight = grec::testing::checkpoint_weights(tmp.sub("a"), "distill", 8);
  const torch::Tensor resumed = grec::testing::checkpoint_weights(tmp.sub("b"), "distill", 8);
  ASSERT_EQ(straight.numel(), resumed.numel());
  EXPECT_TRUE(torch::equal(straight, resumed));
  EXPECT_TRUE(std::filesystem::exists(
      gt::checkpoint_dir(grec::RunDir(tmp.sub("b")).checkpoints("distill"), 5)));
}

}  // namespace
