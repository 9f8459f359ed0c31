// train/checkpoint: the lr schedule a checkpoint records (scheduler.json) is read back on resume
// and compared with the config's, setting by setting.
#include <gtest/gtest.h>

#include "core/error.h"
#include "core/fs.h"
#include "tests/test_util/temp_dir.h"
#include "train/checkpoint.h"
#include "train/optim.h"

namespace gt = grec::train;

namespace {

gt::TrainOptions cosine(double lr, double warmup) {
  gt::TrainOptions o;
  o.lr = lr;
  o.schedule = "cosine";
  o.warmup_steps = warmup;
  return o;
}

TEST(ScheduleState, SameScheduleHasNoDifferencesAtAnyStep) {
  const gt::LrSchedule a(cosine(1e-3, 10), 100);
  EXPECT_TRUE(gt::schedule_differences(a.state(40), a.state(40)).empty());
  // Where the schedule stands is not what it is.
  EXPECT_TRUE(gt::schedule_differences(a.state(40), a.state(41)).empty());
}

TEST(ScheduleState, EachChangedSettingIsNamed) {
  const gt::LrSchedule a(cosine(1e-3, 10), 100);
  const gt::LrSchedule longer(cosine(1e-3, 10), 200);
  const gt::LrSchedule other(cosine(3e-4, 5), 100);
  const auto d1 = gt::schedule_differences(a.state(40), longer.state(40));
  ASSERT_EQ(d1.size(), 1u);
  EXPECT_EQ(d1[0].rfind("total_steps 100 vs 200", 0), 0u) << d1[0];
  const auto d2 = gt::schedule_differences(a.state(40), other.state(40));
  ASSERT_EQ(d2.size(), 2u);
  EXPECT_EQ(d2[0].rfind("base_lr", 0), 0u) << d2[0];
  EXPECT_EQ(d2[1].rfind("warmup_steps 10 vs 5", 0), 0u) << d2[1];
}

TEST(ScheduleState, ReadsWhatTheCheckpointWrote) {
  const grec::test::TempDir tmp("sched");
  const std::string dir = tmp.str();
  const gt::LrSchedule a(cosine(1e-3, 10), 100);
  torch::nn::Linear lin(2, 2);
  auto opt = gt::make_optimizer(*lin, gt::TrainOptions());
  gt::TrainerState st;
  st.step = 40;
  gt::write_shared_files(dir, *lin, *opt, a.state(40), st);
  const nlohmann::json back = gt::read_schedule_state(dir);
  EXPECT_TRUE(gt::schedule_differences(back, a.state(40)).empty()) << back.dump();
  EXPECT_EQ(back.at("step").get<int64_t>(), 40);
  grec::write_file_atomic(dir + "/scheduler.json", "{\"step\": 3}");
  EXPECT_THROW(gt::read_schedule_state(dir), grec::UserError);
}

}  // namespace
