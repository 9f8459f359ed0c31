// The effort score; see prune_effort.h.
#include "stages/prune_effort.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include <torch/torch.h>

#include "core/error.h"
#include "core/log.h"
#include "core/progress.h"
#include "stages/align_model.h"
#include "stages/align_task.h"
#include "train/train_options.h"
#include "train/trainer.h"

namespace grec::stages {
namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

std::vector<double> head_gradient_norms(model::CausalLM& lm,
                                        const std::vector<data::TokenizedSample>& samples,
                                        const std::vector<int64_t>& idx, int64_t pad_id) {
  torch::NoGradGuard no_grad;
  const int64_t rows = static_cast<int64_t>(idx.size());
  int64_t width = 1;
  for (int64_t i : idx) width = std::max<int64_t>(width, samples[i].ids.size());
  std::vector<int64_t> ids(rows * width, pad_id), labels(rows * width, 0);
  std::vector<float> weight(rows * width, 0.0f);
  for (int64_t r = 0; r < rows; ++r) {
    const data::TokenizedSample& s = samples[idx[r]];
    const int64_t len = static_cast<int64_t>(s.ids.size());
    std::copy(s.ids.begin(), s.ids.end(), ids.begin() + r * width);
    GREC_CHECK(s.prompt_len >= 1 && len > s.prompt_len, "effort: sample without prompt or response");
    for (int64_t t = s.prompt_len - 1; t < len - 1; ++t) {  // position t predicts token t + 1
      labels[r * width + t] = s.ids[t + 1];
      weight[r * width + t] = 1.0f / static_cast<float>(len - s.prompt_len);
    }
  }
  const auto dev = lm->parameters().front().device();
  torch::Tensor x = torch::tensor(ids, torch::kLong).view({rows, width}).to(dev);
  torch::Tensor y = torch::tensor(labels, torch::kLong).view({rows, width, 1}).to(dev);
  torch::Tensor w = torch::tensor(weight, torch::kFloat).view({rows, width, 1}).to(dev);
  torch::Tensor h = lm->hidden_states(x).to(torch::kFloat);                  // [B, W, d]
  torch::Tensor e = torch::softmax(lm->lm_logits(h).to(torch::kFloat), -1);  // [B, W, V]
  e.scatter_add_(2, y, -torch::ones_like(y, torch::kFloat));
  e.mul_(w);  // zero outside the response
  torch::Tensor g = torch::bmm(e.transpose(1, 2), h);  // [B, V, d]: the head's gradient per sample
  torch::Tensor norms = g.pow(2).sum({1, 2}).sqrt().to(torch::kDouble).cpu();
  return std::vector<double>(norms.data_ptr<double>(), norms.data_ptr<double>() + rows);
}

EffortScores effort_scores(train::StageContext& ctx, const ItemIndex& index,
                           const std::vector<data::PrefixKey>& keys, const std::vector<char>& mine) {
  const Config& config = ctx.config;
  const int64_t max_len = config.get_int("align.max_len");
  const data::InstructionOptions io = instruction_options(config);
  std::vector<std::string> skipped;
  const auto mixture = data::build_instructions(index.dataset, index.item_tokens, io, &skipped);
  AlignModel am = make_align_model(ctx, index, mixture, ctx.run.artifacts("prune") + "/tokenizer");
  const uint64_t seed = static_cast<uint64_t>(config.get_int("align.train.seed"));
  eval::GenerativeOptions gen;
  gen.num_beams = config.get_int("align.valid.num_beams");
  gen.batch_size = config.get_int("align.eval_batch_size");
  gen.pad_id = std::max<int64_t>(0, am.tokenizer->pad_id());
  const int64_t chunk = config.get_int("align.chunk_tokens");

  EffortScores out;
  out.effort.assign(keys.size(), 0.0);
  const int64_t warmup = config.get_int("prune.effort.warmup_steps");
  if (config.get_string("align.model.path").empty() && warmup > 0) {
    const auto t0 = std::chrono::steady_clock::now();
    std::map<std::string, int64_t> too_long;
    PromptCases valid = seqrec_cases(index, *am.tokenizer, io, "valid", max_len,
                                     config.get_int("prune.effort.valid_users"), seed);
    AlignTask task(am.lm, tokenize_for(am, mixture, max_len, &too_long),
                   {valid.prompts, valid.targets}, index.trie, am.vocab.token_ids, gen, chunk,
                   gen.pad_id, ctx.comm, config.get_string("align.loss") == "token");
    train::TrainOptions o = train::TrainOptions::from_config(config, "align.train");
    o.max_steps = warmup;
    o.early_stop_patience = 0;
    o.eval_every = 0;
    o.checkpoint_every = 0;
    train::Trainer trainer(o, "prune", ctx.run, ctx.comm, ctx.metrics, config.hash({"align", "prune"}));
    const train::TrainResult fit = trainer.fit(task);
    out.warmup_valid = fit.best_valid;
    out.warmup_s = seconds_since(t0);
    GREC_INFO("prune: LLM warm-up of {} steps, valid HR@10 {:.4f}, {:.0f} s", fit.steps,
              fit.best_valid.is_null() ? 0.0 : fit.best_valid.value("HR@10", 0.0), out.warmup_s);
  }

  // The seqrec samples one per key, in key order (the natural order of the builder).
  data::InstructionOptions so = io;
  so.tasks = {"seqrec"};
  so.weights = {{"seqrec", 1.0}};
  const auto seqrec = data::build_instructions(index.dataset, index.item_tokens, so, nullptr);
  GREC_CHECK(seqrec.size() == keys.size(), "prune: {} seqrec samples for {} keys", seqrec.size(),
             keys.size());
  std::vector<data::TokenizedSample> samples = tokenize_for(am, seqrec, max_len, nullptr);
  std::vector<torch::Tensor> phi;
  for (const auto& p : am.lm->parameters()) {
    if (p.requires_grad()) phi.push_back(p);
  }
  am.lm->eval();  // no dropout: a sample's score does not depend on when it is scored
  const auto t1 = std::chrono::steady_clock::now();
  const int64_t n_mine = std::count(mine.begin(), mine.end(), char(1));
  Progress progress("prune effort", n_mine, ProgressOptions{ctx.is_root(), 10.0, "sample"});
  if (config.get_string("prune.effort.params") == "head") {
    if (!am.lm->lm_head_weight().requires_grad()) {
      user_error("prune.effort.params: head needs a trainable LM head (align.lora.train_embeddings "
                 "is false)");
    }
    std::vector<int64_t> batch;
    auto flush = [&] {
      const std::vector<double> norms = head_gradient_norms(am.lm, samples, batch, gen.pad_id);
      for (size_t r = 0; r < batch.size(); ++r) out.effort[batch[r]] = norms[r];
      out.scored += static_cast<int64_t>(batch.size());
      progress.advance(static_cast<int64_t>(batch.size()));
      batch.clear();
    };
    for (size_t k = 0; k < keys.size(); ++k) {
      if (!mine[k]) continue;
      batch.push_back(static_cast<int64_t>(k));
      if (batch.size() == 32) flush();
    }
    if (!batch.empty()) flush();
    progress.finish();
    out.score_s = seconds_since(t1);
    return out;
  }
  AlignTask task(am.lm, std::move(samples), {}, index.trie, am.vocab.token_ids, gen, chunk,
                 gen.pad_id, ctx.comm, false);
  for (size_t k = 0; k < keys.size(); ++k) {
    if (!mine[k]) continue;
    torch::Tensor loss = task.loss_sum(train::Batch{{static_cast<int64_t>(k)}, 0, 0});
    auto grads = torch::autograd::grad({loss}, phi, {}, false, false, /*allow_unused=*/true);
    double sq = 0;
    for (const auto& g : grads) {
      if (g.defined()) sq += g.to(torch::kDouble).pow(2).sum().item<double>();
    }
    out.effort[k] = std::sqrt(sq);
    ++out.scored;
    progress.advance(1);
  }
  progress.finish();
  out.score_s = seconds_since(t1);
  return out;
}

}  // namespace grec::stages
