// Stage `sasrec`: trains SASRec (ALGORITHMS.md §5) on the training prefixes of dataset.h5 with the
// Trainer, selects the best epoch on the validation split (full ranking), and reports the
// validation and test metrics of those weights in <run>/artifacts/sasrec/results.json.
//
// One sample = one training user: inputs are the last max_len items of the training prefix but
// the final one, and every position predicts its next item. Validation ranks the valid item after
// the training prefix; test ranks the test item after training + valid.
#include <chrono>

#include <torch/torch.h>

#include "core/config.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/hash.h"
#include "core/log.h"
#include "data_pipeline/dataset.h"
#include "data_pipeline/sequence_batches.h"
#include "dist/communicator.h"
#include "dist/sampler.h"
#include "eval/ranking.h"
#include "eval/split_cases.h"
#include "model/sasrec.h"
#include "model/sasrec_loss.h"
#include "train/sasrec_case_ranks.h"
#include "train/stage_list.h"
#include "train/train_options.h"
#include "train/trainer.h"

namespace grec::train {
namespace {

TrainOptions sasrec_train_defaults() {
  TrainOptions d;
  d.optimizer = "adam";
  d.lr = 1e-3;
  d.beta2 = 0.98;
  d.global_batch_size = 128;
  d.epochs = 200;
  d.early_stop_patience = 10;
  d.grad_clip = 0.0;
  d.checkpoint_every = 0;
  return d;
}

torch::Tensor long_tensor(const std::vector<int64_t>& v, std::vector<int64_t> shape) {
  return torch::from_blob(const_cast<int64_t*>(v.data()), shape, torch::kLong).clone();
}

class SASRecTask : public TrainTask {
 public:
  SASRecTask(const data::Dataset& dataset, const Config& config, dist::Communicator& comm,
             uint64_t seed)
      : data_(dataset), comm_(comm), seed_(seed), model_(nullptr) {
    loss_ = model::parse_sasrec_loss(config.get_string("sasrec.loss"));
    batch_options_.max_len = config.get_int("sasrec.max_len");
    batch_options_.num_negatives =
        model::loss_needs_negatives(loss_) ? config.get_int("sasrec.num_negatives") : 0;
    if (model::loss_needs_negatives(loss_) && batch_options_.num_negatives < 1) {
      user_error("config key 'sasrec.num_negatives' must be >= 1 for loss '{}' ({})",
                 config.get_string("sasrec.loss"), config.origin("sasrec.num_negatives"));
    }
    if (loss_ == model::SASRecLoss::kBce && batch_options_.num_negatives != 1) {
      GREC_WARN("sasrec: bce with {} negatives per position (the classic loss uses 1)",
                batch_options_.num_negatives);
    }
    ranking_.ks = config.get_int_list("sasrec.eval.ks");
    for (int64_t k : ranking_.ks) {
      if (k < 1) user_error("config key 'sasrec.eval.ks' has K = {}; every K must be >= 1", k);
    }
    ranking_.mask_history = config.get_bool("sasrec.eval.mask_history");
    ranking_.batch_size = config.get_int("sasrec.eval.batch_size");
    selection_ = "NDCG@" + std::to_string(ranking_.ks.empty() ? 10 : ranking_.ks.back());
    for (int64_t k : ranking_.ks) {
      if (k == 10) selection_ = "NDCG@10";
    }
    torch::manual_seed(seed);  // the same initial weights on every rank (rank 0's are broadcast too)
    model_ = model::SASRec(model::SASRecOptions(dataset.num_items())
                               .max_len(batch_options_.max_len)
                               .hidden(config.get_int("sasrec.hidden"))
                               .blocks(config.get_int("sasrec.blocks"))
                               .heads(config.get_int("sasrec.heads"))
                               .dropout(config.get_float("sasrec.dropout"))
                               .ffn(config.get_int("sasrec.ffn"))
                               .init(config.get_string("sasrec.init")));
    users_ = data::sasrec_train_users(dataset);
    if (users_.empty()) user_error("sasrec: no user has two or more training items in the dataset");
    valid_ = eval::split_cases(dataset, "valid");
    test_ = eval::split_cases(dataset, "test");
  }

  torch::nn::Module& module() override { return *model_; }
  int64_t num_samples() const override { return static_cast<int64_t>(users_.size()); }
  std::string selection_metric() const override { return selection_; }
  // Rows of items that never occur in a training input get no gradient through the lookup, but
  // the table is one parameter and full-softmax / tied scoring always reaches it.
  std::vector<std::string> may_be_unused() const override { return {}; }

  std::string dataset_fingerprint() const override {
    uint64_t h = fnv1a64(data_.seq_offsets.data(), data_.seq_offsets.size() * sizeof(int64_t));
    h = fnv1a64(data_.seq_items.data(), data_.seq_items.size() * sizeof(int64_t), h);
    h = fnv1a64(data_.train_end.data(), data_.train_end.size() * sizeof(int64_t), h);
    h = fnv1a64(data_.valid_end.data(), data_.valid_end.size() * sizeof(int64_t), h);
    return hex64(h);
  }

  torch::Tensor loss_sum(const Batch& batch) override {
    if (batch.indices.empty()) {
      torch::Tensor zero = torch::zeros({});
      for (const auto& p : model_->parameters()) zero = zero + p.sum() * 0.0;
      return zero;
    }
    std::vector<int64_t> users;
    std::vector<uint64_t> seeds;
    for (int64_t i : batch.indices) {
      users.push_back(users_[i]);
      seeds.push_back(dist::sample_seed(seed_, batch.epoch, i));
    }
    data::SequenceBatch b = data::make_train_batch(data_, users, seeds, batch_options_);
    torch::Tensor input = long_tensor(b.input, {b.batch, b.width});
    model::PackedHidden packed = model_->forward_packed(input);
    torch::Tensor target = long_tensor(b.target, {b.batch * b.width}).index_select(0, packed.index);
    torch::Tensor negatives;
    if (b.num_negatives > 0) {
      negatives = long_tensor(b.negatives, {b.batch * b.width, b.num_negatives})
                      .index_select(0, packed.index);
    }
    return model::sasrec_loss_sum(*model_, packed.hidden, target, negatives, loss_);
  }

  nlohmann::json evaluate(const std::string& split) override {
    return evaluate_from(ranks(split));
  }

  // Collective: the full-ranking rank of every case of `split`, in cases(split) order.
  std::vector<int64_t> ranks(const std::string& split) {
    const bool was_training = model_->is_training();
    model_->eval();
    data::SequenceBatchOptions input_options = batch_options_;
    auto scorer = [&](const std::vector<const eval::RankingCase*>& batch) {
      std::vector<const std::vector<int64_t>*> histories;
      for (const auto* c : batch) histories.push_back(&c->history);
      data::SequenceBatch b = data::make_input_batch(histories, input_options);
      return model_->score_all(long_tensor(b.input, {b.batch, b.width}));
    };
    std::vector<int64_t> r = eval::case_ranks(cases(split), scorer, ranking_, &comm_);
    model_->train(was_training);
    return r;
  }

  const std::vector<eval::RankingCase>& cases(const std::string& split) const {
    GREC_CHECK(split == "valid" || split == "test", "unknown split '{}'", split);
    return split == "valid" ? valid_ : test_;
  }

  bool mask_history() const { return ranking_.mask_history; }
  nlohmann::json evaluate_from(const std::vector<int64_t>& ranks) const {
    return eval::metrics_from_ranks(ranks, ranking_);
  }

  // The popularity baseline on the same cases.
  nlohmann::json evaluate_popularity(const std::string& split) {
    return eval::popularity_ranking(data_, split == "valid" ? valid_ : test_, ranking_, &comm_);
  }

 private:
  const data::Dataset& data_;
  dist::Communicator& comm_;
  uint64_t seed_;
  model::SASRecLoss loss_;
  data::SequenceBatchOptions batch_options_;
  eval::RankingOptions ranking_;
  std::string selection_;
  model::SASRec model_;
  std::vector<int64_t> users_;
  std::vector<eval::RankingCase> valid_, test_;
};

void declare_sasrec(ConfigSchema& s) {
  s.add_int("sasrec.max_len", 50, "N: the last N items of a sequence (50 for Amazon, 200 for MovieLens)");
  s.add_int("sasrec.hidden", 64, "hidden size d");
  s.add_int("sasrec.blocks", 2, "self-attention blocks");
  s.add_int("sasrec.heads", 1, "attention heads (hidden must be divisible by heads)");
  s.add_float("sasrec.dropout", 0.2, "dropout on embeddings, attention and FFN");
  s.add_int("sasrec.ffn", 0, "point-wise FFN inner size; 0 = hidden");
  s.add_choice("sasrec.init", "xavier", {"xavier", "normal"},
               "weight init: xavier-normal (as measured in ALGORITHMS.md §5) or N(0, 0.02)");
  s.add_choice("sasrec.loss", "ce", {"bce", "sampled_softmax", "ce"},
               "bce: one sampled negative per position (classic); sampled_softmax: target vs "
               "num_negatives uniform negatives; ce: full softmax over all items");
  s.add_int("sasrec.num_negatives", 1, "negatives per position for bce / sampled_softmax");
  s.add_int_list("sasrec.eval.ks", {1, 5, 10, 20}, "cut-offs K of HR@K and NDCG@K");
  s.add_bool("sasrec.eval.mask_history", false,
             "exclude the user's own history items (except the target) from the full ranking");
  s.add_int("sasrec.eval.batch_size", 256, "users scored at once in evaluation");
  TrainOptions::declare(s, "sasrec.train", sasrec_train_defaults());
}

nlohmann::json run_sasrec(StageContext& ctx) {
  const auto t0 = std::chrono::steady_clock::now();
  const Config& config = ctx.config;
  const std::string path = dataset_path(config);
  data::Dataset dataset = data::read_dataset(path);
  TrainOptions options = TrainOptions::from_config(config, "sasrec.train");
  SASRecTask task(dataset, config, ctx.comm, static_cast<uint64_t>(options.seed));
  GREC_INFO("sasrec: {} training users, {} items, loss {}, dataset {}", task.num_samples(),
            dataset.num_items(), config.get_string("sasrec.loss"), path);
  Trainer trainer(options, "sasrec", ctx.run, ctx.comm, ctx.metrics, config.hash({"sasrec"}));
  TrainResult fit = trainer.fit(task);
  // Every case's rank is kept next to the metrics: stage evaluate scores SASRec on exactly the
  // users it samples for the LLM from them.
  nlohmann::json per_case = nlohmann::json::object();
  nlohmann::json split_metrics = nlohmann::json::object();
  for (const char* split : {"valid", "test"}) {
    const std::vector<int64_t> ranks = task.ranks(split);
    std::vector<int64_t> users;
    for (const auto& c : task.cases(split)) users.push_back(c.user);
    per_case[split] = {{"users", users}, {"ranks", ranks}};
    split_metrics[split] = task.evaluate_from(ranks);
  }
  const nlohmann::json valid = split_metrics["valid"], test = split_metrics["test"];
  const nlohmann::json popularity = {{"valid", task.evaluate_popularity("valid")},
                                     {"test", task.evaluate_popularity("test")}};
  const double wall_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  nlohmann::json results = {{"valid", valid},
                            {"test", test},
                            {"popularity", popularity},
                            {"mask_history", task.mask_history()},
                            {"loss", config.get_string("sasrec.loss")},
                            {"best_step", fit.best_step},
                            {"steps", fit.steps},
                            {"train_wall_s", fit.wall_s},
                            {"wall_s", wall_s}};
  if (ctx.is_root()) {
    write_file_atomic(ctx.run.artifacts("sasrec") + "/results.json", results.dump(2) + "\n");
    per_case["mask_history"] = task.mask_history();
    write_file_atomic(sasrec_case_ranks_path(ctx.run), per_case.dump() + "\n");
    ctx.metrics.write({{"stage", "sasrec"}, {"step", fit.steps}, {"event", "results"},
                       {"valid", valid}, {"test", test}});
  }
  GREC_INFO("sasrec: test HR@10 {:.4f} NDCG@10 {:.4f} MRR {:.4f} (best step {}, {:.0f} s); "
            "popularity HR@10 {:.4f} NDCG@10 {:.4f}",
            test.value("HR@10", 0.0), test.value("NDCG@10", 0.0), test.value("MRR", 0.0),
            fit.best_step, wall_s, popularity["test"].value("HR@10", 0.0),
            popularity["test"].value("NDCG@10", 0.0));
  nlohmann::json summary = {{"best_step", fit.best_step}, {"wall_s", wall_s}};
  for (const char* key : {"HR@10", "NDCG@10"}) {
    if (test.contains(key)) summary[std::string("test_") + key] = test[key];
  }
  summary["popularity_test_HR@10"] = popularity["test"].value("HR@10", 0.0);
  return summary;
}

}  // namespace

Stage make_sasrec_stage() {
  Stage s;
  s.name = "sasrec";
  s.help = "SASRec baseline: train on the training prefixes, full-ranking HR/NDCG/MRR on valid and test";
  s.config_sections = {"sasrec", "data"};
  s.inputs = {"ingest"};
  s.declare = declare_sasrec;
  s.run = run_sasrec;
  return s;
}

}  // namespace grec::train
