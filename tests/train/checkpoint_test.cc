// train/checkpoint + train/tensor_io: bf16 tensors and modules round-trip bit-exactly, keep-last-K
// plus best retention, a corrupt or truncated latest checkpoint falls back to the previous one,
// and the RNG state restores the same random stream.
#include "train/checkpoint.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include "core/error.h"
#include "tests/test_util/temp_dir.h"
#include "train/optim.h"
#include "train/precision.h"
#include "train/tensor_io.h"

namespace gt = grec::train;
namespace fs = std::filesystem;

namespace {

class CheckpointTest : public ::testing::Test {
 protected:
  // One whole checkpoint at `step` as the trainer writes it (one rank).
  void write(int64_t step, int64_t keep_last, int64_t best_step) {
    gt::TrainerState st;
    st.step = step;
    st.best_step = best_step;
    st.config_hash = "abc";
    st.global_batch_size = 8;
    const std::string tmp = gt::begin_checkpoint(root_, step);
    gt::write_rank_rng(tmp, 0, gt::RankRng::capture(st));
    gt::write_shared_files(tmp, *lin_, *opt_, {{"step", step}}, st);
    gt::commit_checkpoint(root_, step);
    gt::prune_checkpoints(root_, keep_last, best_step);
  }

  grec::test::TempDir tmp_{"ckpt"};
  const std::string root_ = tmp_.str();
  torch::nn::Linear lin_{4, 2};
  std::unique_ptr<torch::optim::Optimizer> opt_ = gt::make_optimizer(*lin_, gt::TrainOptions());
};

TEST_F(CheckpointTest, TensorsRoundTripBitExactIncludingBf16) {
  const torch::Tensor bf = torch::randn({3, 5}).to(torch::kBFloat16);
  const torch::Tensor f = torch::tensor({0.0f, -0.0f, NAN, 1e-40f});
  const torch::Tensor l = torch::tensor({int64_t{-7}, int64_t{1} << 62});
  const torch::Tensor h = torch::randn({4}).to(torch::kHalf);
  const std::string path = root_ + "/t.safetensors";
  gt::save_tensors(path, {{"bf", bf}, {"f", f}, {"l", l}, {"h", h}}, {{"k", "v"}});
  const gt::NamedTensors back = gt::load_tensors(path);
  std::map<std::string, torch::Tensor> m(back.begin(), back.end());
  ASSERT_EQ(m.size(), 4u);
  EXPECT_EQ(m["bf"].scalar_type(), torch::kBFloat16);
  EXPECT_TRUE(torch::equal(m["bf"].view(torch::kShort), bf.view(torch::kShort)));
  EXPECT_TRUE(torch::equal(m["f"].view(torch::kInt), f.view(torch::kInt)));  // NaN, -0 bits
  EXPECT_TRUE(torch::equal(m["l"], l));
  EXPECT_TRUE(torch::equal(m["h"].view(torch::kShort), h.view(torch::kShort)));
  EXPECT_EQ(grec::safetensors::File::read(path).metadata().at("k"), "v");
}

TEST_F(CheckpointTest, ModuleLoadChecksNamesAndShapes) {
  const std::string path = root_ + "/m.safetensors";
  gt::save_module(path, *lin_);
  torch::nn::Linear other(4, 2);
  gt::load_module(path, *other);
  EXPECT_TRUE(torch::equal(other->weight, lin_->weight));
  torch::nn::Linear wrong(5, 2);
  try {
    gt::load_module(path, *wrong);
    FAIL() << "shape mismatch accepted";
  } catch (const grec::UserError& e) {
    EXPECT_NE(std::string(e.what()).find("weight"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
  torch::nn::Sequential seq(torch::nn::Linear(4, 2));
  EXPECT_THROW(gt::load_module(path, *seq), grec::UserError);  // "0.weight" missing
}

TEST_F(CheckpointTest, KeepsLastKPlusBest) {
  for (int64_t step = 1; step <= 6; ++step) write(step, 2, /*best_step=*/step <= 2 ? step : 2);
  EXPECT_EQ(gt::complete_checkpoints(root_), (std::vector<int64_t>{2, 5, 6}));
  EXPECT_TRUE(gt::validate_checkpoint(gt::checkpoint_dir(root_, 6)).empty());
  EXPECT_EQ(gt::find_resume_checkpoint(root_).value(), gt::checkpoint_dir(root_, 6));
  // No temporary folders left behind.
  for (const auto& e : fs::directory_iterator(root_)) {
    EXPECT_EQ(e.path().filename().string().rfind("step_", 0), 0u) << e.path();
  }
}

TEST_F(CheckpointTest, CorruptOrTruncatedLatestFallsBack) {
  for (int64_t step = 1; step <= 3; ++step) write(step, 5, -1);
  // Truncate the newest model file: step 2 is used.
  const std::string model3 = gt::checkpoint_dir(root_, 3) + "/model.safetensors";
  fs::resize_file(model3, fs::file_size(model3) - 4);
  const std::string problem = gt::validate_checkpoint(gt::checkpoint_dir(root_, 3));
  EXPECT_NE(problem.find(model3), std::string::npos) << problem;
  EXPECT_EQ(gt::find_resume_checkpoint(root_).value(), gt::checkpoint_dir(root_, 2));
  // Flip one byte of step 2's optimizer state (same size): step 1 is used.
  const std::string optim2 = gt::checkpoint_dir(root_, 2) + "/optim.safetensors";
  {
    std::fstream f(optim2, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-1, std::ios::end);
    f.put('\x5a');
  }
  EXPECT_NE(gt::validate_checkpoint(gt::checkpoint_dir(root_, 2)).find("optim.safetensors"),
            std::string::npos);
  EXPECT_EQ(gt::find_resume_checkpoint(root_).value(), gt::checkpoint_dir(root_, 1));
  // A folder without COMPLETE (killed while writing) is not a candidate.
  fs::create_directories(gt::checkpoint_dir(root_, 9));
  EXPECT_EQ(gt::find_resume_checkpoint(root_).value(), gt::checkpoint_dir(root_, 1));
  fs::remove(gt::checkpoint_dir(root_, 1) + "/rng_rank0.bin");
  EXPECT_FALSE(gt::find_resume_checkpoint(root_).has_value());
}

TEST_F(CheckpointTest, RngStateRestoresTheStream) {
  gt::TrainerState st;
  st.step = 4;
  st.epoch = 1;
  st.step_in_epoch = 2;
  torch::manual_seed(11);
  torch::randn({3});
  gt::write_rank_rng(root_, 1, gt::RankRng::capture(st));
  const torch::Tensor expected = torch::randn({8});
  torch::manual_seed(99);
  const gt::RankRng r = gt::read_rank_rng(root_, 1);
  EXPECT_EQ(r.step, 4);
  EXPECT_EQ(r.epoch, 1);
  EXPECT_EQ(r.step_in_epoch, 2);
  r.restore();
  EXPECT_TRUE(torch::equal(torch::randn({8}), expected));
  fs::resize_file(gt::rng_file(root_, 1), 30);
  EXPECT_THROW(gt::read_rank_rng(root_, 1), grec::UserError);
}

// A stop before the first validation saves best_metric = -inf, which JSON writes as null; it must
// read back as -inf, not make the checkpoint unreadable.
TEST(TrainerState, NoValidationYetRoundTrips) {
  gt::TrainerState st;
  st.step = 5;
  st.best_metric = -std::numeric_limits<double>::infinity();
  st.config_hash = "abc";
  const nlohmann::json j = nlohmann::json::parse(st.to_json().dump());
  EXPECT_TRUE(j.at("best_metric").is_null());
  const gt::TrainerState back = gt::TrainerState::from_json(j);
  EXPECT_EQ(back.step, 5);
  EXPECT_TRUE(std::isinf(back.best_metric) && back.best_metric < 0);
  st.best_metric = 0.25;
  EXPECT_EQ(gt::TrainerState::from_json(nlohmann::json::parse(st.to_json().dump())).best_metric,
            0.25);
}

TEST(Precision, Bf16AutocastCastsMatmulsOnly) {
  torch::nn::Linear lin(4, 3);
  torch::nn::LayerNorm norm(torch::nn::LayerNormOptions({4}));
  const torch::Tensor x = torch::randn({2, 4});
  {
    gt::precision::Autocast guard(gt::precision::Precision::kBf16);
    const torch::Tensor y = lin(x);
    EXPECT_EQ(y.scalar_type(), torch::kBFloat16);
    // Not everything is cast: ops off the lower-precision list keep fp32 inputs in fp32 ...
    EXPECT_EQ(torch::softmax(x, -1).scalar_type(), torch::kFloat);
    EXPECT_EQ(norm(x).scalar_type(), torch::kFloat);
    EXPECT_EQ((x * 2 + 1).scalar_type(), torch::kFloat);
    // ... and losses, on autocast's fp32 list, run in fp32 even on the bf16 matmul output.
    const torch::Tensor ce =
        torch::nn::functional::cross_entropy(y, torch::tensor({0, 2}, torch::kLong));
    EXPECT_EQ(ce.scalar_type(), torch::kFloat);
    const torch::Tensor mse = torch::nn::functional::mse_loss(y, torch::zeros({2, 3}));
    EXPECT_EQ(mse.scalar_type(), torch::kFloat);
    (ce + mse).backward();
  }
  EXPECT_EQ(lin->weight.grad().scalar_type(), torch::kFloat);  // fp32 master weights
  EXPECT_EQ(lin(x).scalar_type(), torch::kFloat);              // scope restored
  {
    gt::precision::Autocast guard(gt::precision::Precision::kFp32);
    EXPECT_EQ(lin(x).scalar_type(), torch::kFloat);
  }
  EXPECT_THROW(gt::precision::parse("fp8"), grec::UserError);
}

}  // namespace
