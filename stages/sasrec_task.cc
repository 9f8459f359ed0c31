// SASRec's training task and the sasrec.* config keys (see sasrec_task.h).
#include "stages/sasrec_task.h"

#include "core/error.h"
#include "core/hash.h"
#include "core/log.h"
#include "dist/sampler.h"
#include "eval/split_cases.h"
#include "train/train_options.h"

namespace grec::stages {
train::TrainOptions sasrec_train_defaults() {
  train::TrainOptions d;
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

namespace {

torch::Tensor long_tensor(const std::vector<int64_t>& v, std::vector<int64_t> shape) {
  return torch::from_blob(const_cast<int64_t*>(v.data()), shape, torch::kLong).clone();
}

}  // namespace

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
  train::TrainOptions::declare(s, "sasrec.train", sasrec_train_defaults());
}


SASRecTask::SASRecTask(const data::Dataset& dataset, const Config& config, dist::Communicator& comm,
                       uint64_t seed)
    : SASRecTask(dataset, config, comm, seed, nullptr) {}

SASRecTask::SASRecTask(const data::Dataset& dataset, const Config& config, dist::Communicator& comm,
                       uint64_t seed, const std::function<StudentModel()>& student)
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
  if (student) {
    student_ = student();
    GREC_CHECK(student_.module && student_.net, "SASRecTask: the student factory returned no model");
    model_ = model::SASRec(std::dynamic_pointer_cast<model::SASRecImpl>(student_.module));
  } else {
    model_ = model::SASRec(model::SASRecOptions(dataset.num_items())
                               .max_len(batch_options_.max_len)
                               .hidden(config.get_int("sasrec.hidden"))
                               .blocks(config.get_int("sasrec.blocks"))
                               .heads(config.get_int("sasrec.heads"))
                               .dropout(config.get_float("sasrec.dropout"))
                               .ffn(config.get_int("sasrec.ffn"))
                               .init(config.get_string("sasrec.init")));
    student_ = {model_.ptr(), model_.get()};
  }
  users_ = data::sasrec_train_users(dataset);
  if (users_.empty()) user_error("sasrec: no user has two or more training items in the dataset");
  valid_ = eval::split_cases(dataset, "valid");
  test_ = eval::split_cases(dataset, "test");
}

std::string SASRecTask::dataset_fingerprint() const {
  uint64_t h = fnv1a64(data_.seq_offsets.data(), data_.seq_offsets.size() * sizeof(int64_t));
  h = fnv1a64(data_.seq_items.data(), data_.seq_items.size() * sizeof(int64_t), h);
  h = fnv1a64(data_.train_end.data(), data_.train_end.size() * sizeof(int64_t), h);
  h = fnv1a64(data_.valid_end.data(), data_.valid_end.size() * sizeof(int64_t), h);
  return hex64(h);
}

torch::Tensor SASRecTask::loss_sum(const train::Batch& batch) {
  if (batch.indices.empty()) {
    torch::Tensor zero = torch::zeros({});
    for (const auto& p : student_.module->parameters()) zero = zero + p.sum() * 0.0;
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
  model::PackedHidden packed = student_.net->forward_packed(input);
  torch::Tensor target = long_tensor(b.target, {b.batch * b.width}).index_select(0, packed.index);
  torch::Tensor negatives;
  if (b.num_negatives > 0) {
    negatives = long_tensor(b.negatives, {b.batch * b.width, b.num_negatives})
                    .index_select(0, packed.index);
  }
  torch::Tensor loss = model::sasrec_loss_sum(*student_.net, packed.hidden, target, negatives, loss_);
  torch::Tensor extra = extra_loss_sum(b, packed, batch);
  return extra.defined() ? loss + extra : loss;
}

model::SASRec& SASRecTask::model() {
  GREC_CHECK(!model_.is_empty(), "SASRecTask::model(): the student is not a SASRec");
  return model_;
}

std::vector<int64_t> SASRecTask::ranks(const std::string& split,
                                       std::vector<std::vector<int64_t>>* held_out) {
  torch::nn::Module& m = *student_.module;
  const bool was_training = m.is_training();
  m.eval();
  data::SequenceBatchOptions input_options = batch_options_;
  auto scorer = [&](const std::vector<const eval::RankingCase*>& batch) {
    std::vector<const std::vector<int64_t>*> histories;
    for (const auto* c : batch) histories.push_back(&c->history);
    data::SequenceBatch b = data::make_input_batch(histories, input_options);
    return student_.net->score_all(long_tensor(b.input, {b.batch, b.width}));
  };
  std::vector<int64_t> r = eval::case_ranks(cases(split), scorer, ranking_, &comm_, held_out);
  m.train(was_training);
  return r;
}

const std::vector<eval::RankingCase>& SASRecTask::cases(const std::string& split) const {
  GREC_CHECK(split == "valid" || split == "test", "unknown split '{}'", split);
  return split == "valid" ? valid_ : test_;
}

nlohmann::json SASRecTask::evaluate_popularity(const std::string& split) {
  return eval::popularity_ranking(data_, split == "valid" ? valid_ : test_, ranking_, &comm_);
}

}  // namespace grec::stages
