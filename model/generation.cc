// Greedy and beam search over CausalLM (see model/generation.h).
#include "model/generation.h"

#include <cmath>
#include <limits>

#include "core/error.h"

namespace grec::model {

namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

// Decoding must not see dropout; restores the caller's train/eval mode on exit.
class EvalModeGuard {
 public:
  explicit EvalModeGuard(CausalLM& lm) : lm_(lm), was_training_(lm->is_training()) {
    lm_->eval();
  }
  ~EvalModeGuard() {
    if (was_training_) lm_->train();
  }

 private:
  CausalLM& lm_;
  bool was_training_;
};

torch::Tensor prompt_mask(const torch::Tensor& input_ids, const torch::Tensor& attention_mask) {
  TORCH_CHECK(input_ids.dim() == 2, "generation: input_ids must be [B, T]");
  TORCH_CHECK(input_ids.size(1) > 0, "generation: empty prompt");
  if (!attention_mask.defined()) return torch::ones_like(input_ids, torch::kLong);
  TORCH_CHECK(attention_mask.sizes() == input_ids.sizes(),
              "generation: attention_mask must have the shape of input_ids");
  return attention_mask.to(torch::kLong);
}

// The running sequence for decoding either through the KV cache (only the new token is fed) or
// by recomputing the whole sequence each step; both yield the next-token logits [rows, vocab].
class StepDecoder {
 public:
  StepDecoder(CausalLM& lm, const torch::Tensor& input_ids, const torch::Tensor& mask, bool use_cache)
      : lm_(lm), use_cache_(use_cache), seq_(input_ids), mask_(mask) {}

  torch::Tensor prompt_logits() {
    return lm_->forward(seq_, mask_, use_cache_ ? &cache_ : nullptr).select(1, -1);
  }
  // Keeps / duplicates rows (row i becomes old row index[i]).
  void reorder(const torch::Tensor& index) {
    if (use_cache_) {
      cache_.reorder(index);
    } else {
      seq_ = seq_.index_select(0, index);
      mask_ = mask_.index_select(0, index);
    }
  }
  // Appends `tokens` [rows] and returns the logits of the next position.
  torch::Tensor step(const torch::Tensor& tokens) {
    auto next = tokens.view({-1, 1}).to(torch::kLong);
    auto ones = torch::ones_like(next);
    if (use_cache_) return lm_->forward(next, ones, &cache_).select(1, 0);
    seq_ = torch::cat({seq_, next}, 1);
    mask_ = torch::cat({mask_, ones}, 1);
    return lm_->forward(seq_, mask_, nullptr).select(1, -1);
  }

 private:
  CausalLM& lm_;
  bool use_cache_;
  KVCache cache_;
  torch::Tensor seq_, mask_;
};

}  // namespace

torch::Tensor greedy(CausalLM& lm, const torch::Tensor& input_ids,
                     const torch::Tensor& attention_mask, GenerationOptions options) {
  TORCH_CHECK(options.max_new_tokens >= 0, "greedy: max_new_tokens must be >= 0");
  torch::NoGradGuard no_grad;
  EvalModeGuard eval(lm);
  const int64_t batch = input_ids.size(0);
  StepDecoder decoder(lm, input_ids, prompt_mask(input_ids, attention_mask), options.use_cache);
  std::vector<torch::Tensor> out;
  if (options.max_new_tokens == 0) return torch::empty({batch, 0}, torch::kLong);
  auto logits = decoder.prompt_logits();
  auto finished = torch::zeros({batch}, torch::kBool);
  for (int64_t i = 0; i < options.max_new_tokens; ++i) {
    auto next = logits.argmax(-1);
    if (options.eos_token_id >= 0) {
      next = torch::where(finished, torch::full_like(next, options.eos_token_id), next);
      finished = finished.logical_or(next == options.eos_token_id);
    }
    out.push_back(next);
    if (i + 1 == options.max_new_tokens) break;
    if (options.eos_token_id >= 0 && finished.all().item<bool>()) break;
    logits = decoder.step(next);
  }
  return torch::stack(out, 1);
}

std::vector<std::vector<BeamSequence>> beam_search(CausalLM& lm, const torch::Tensor& input_ids,
                                                   const torch::Tensor& attention_mask,
                                                   GenerationOptions options,
                                                   const BeamConstraint* constraint) {
  TORCH_CHECK(options.num_beams >= 1, "beam_search: num_beams must be >= 1");
  TORCH_CHECK(options.max_new_tokens >= 1, "beam_search: max_new_tokens must be >= 1");
  TORCH_CHECK(!constraint || (constraint->allowed && constraint->advance),
              "beam_search: a constraint needs both `allowed` and `advance`");
  torch::NoGradGuard no_grad;
  EvalModeGuard eval(lm);
  const int64_t batch = input_ids.size(0);
  const int64_t beams = options.num_beams;
  const int64_t rows = batch * beams;
  const int64_t eos = options.eos_token_id;

  StepDecoder decoder(lm, input_ids, prompt_mask(input_ids, attention_mask), options.use_cache);
  // The prompt runs once per prompt; its cache is then duplicated to the prompt's beams.
  auto expand = torch::arange(batch, torch::kLong).repeat_interleave(beams);
  auto logits = decoder.prompt_logits().index_select(0, expand);
  decoder.reorder(expand);
  const int64_t vocab = logits.size(-1);

  // Only beam 0 of each prompt is alive at first, so the first step yields distinct tokens; a
  // hypothesis with score -inf is dead (the constraint left fewer sequences than beams).
  std::vector<double> scores(rows, kNegInf);
  for (int64_t b = 0; b < batch; ++b) scores[b * beams] = 0;
  const int64_t initial = constraint ? constraint->initial_state : 0;
  std::vector<int64_t> states(rows, initial);
  std::vector<char> finished(rows, 0);
  std::vector<std::vector<int64_t>> tokens(rows);
  torch::Tensor eos_row;  // the forced continuation of a finished hypothesis: eos at log-prob 0
  if (eos >= 0) {
    TORCH_CHECK(eos < vocab, "beam_search: eos_token_id outside the vocabulary");
    eos_row = torch::full({1, vocab}, kNegInf, torch::kDouble);
    eos_row[0][eos] = 0.0;
  }

  for (int64_t step = 0; step < options.max_new_tokens; ++step) {
    auto logp = torch::log_softmax(logits.to(torch::kFloat), -1).to(torch::kDouble);
    if (constraint) {
      auto mask = constraint->allowed(states);
      TORCH_CHECK(mask.dim() == 2 && mask.size(0) == rows && mask.size(1) == vocab,
                  "beam_search: the constraint mask must be [hypotheses, vocab]");
      logp = logp + mask.to(torch::kDouble);
    }
    if (eos >= 0) {
      auto fin = torch::from_blob(finished.data(), {rows}, torch::kChar).to(torch::kBool);
      logp = torch::where(fin.unsqueeze(1), eos_row, logp);
    }
    auto prior = torch::from_blob(scores.data(), {rows, 1}, torch::kDouble);
    auto cand = (prior + logp).view({batch, beams * vocab});
    auto top = cand.topk(beams, 1, /*largest=*/true, /*sorted=*/true);
    auto values = std::get<0>(top).contiguous();
    auto index = std::get<1>(top).contiguous();
    const double* v = values.data_ptr<double>();
    const int64_t* ix = index.data_ptr<int64_t>();

    std::vector<double> new_scores(rows);
    std::vector<int64_t> new_states(rows, initial), source(rows), next_token(rows);
    std::vector<char> new_finished(rows, 0);
    std::vector<std::vector<int64_t>> new_tokens(rows);
    bool all_done = true;
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t b = r / beams;
      const int64_t src = b * beams + ix[r] / vocab;
      const int64_t tok = ix[r] % vocab;
      source[r] = src;
      next_token[r] = tok;
      new_scores[r] = v[r];
      if (std::isinf(v[r]) || std::isnan(v[r])) {  // dead hypothesis: nothing left to extend
        new_scores[r] = kNegInf;
        continue;
      }
      new_tokens[r] = tokens[src];
      if (finished[src]) {  // a finished hypothesis carries over unchanged
        new_states[r] = states[src];
        new_finished[r] = 1;
        continue;
      }
      new_tokens[r].push_back(tok);
      new_states[r] = constraint ? constraint->advance(states[src], tok) : 0;
      new_finished[r] = eos >= 0 && tok == eos;
      if (!new_finished[r]) all_done = false;
    }
    scores.swap(new_scores);
    states.swap(new_states);
    finished.swap(new_finished);
    tokens.swap(new_tokens);
    if (all_done || step + 1 == options.max_new_tokens) break;
    decoder.reorder(torch::tensor(source, torch::kLong));
    logits = decoder.step(torch::tensor(next_token, torch::kLong));
  }

  // topk returned each prompt's hypotheses sorted by score, so rows are already best first.
  std::vector<std::vector<BeamSequence>> out(batch);
  for (int64_t r = 0; r < rows; ++r) {
    if (scores[r] == kNegInf) continue;
    BeamSequence s;
    s.tokens = std::move(tokens[r]);
    s.score = scores[r];
    s.state = states[r];
    s.finished = finished[r];
    out[r / beams].push_back(std::move(s));
  }
  return out;
}

}  // namespace grec::model
