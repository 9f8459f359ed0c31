// Causal LM speed: forward+backward tokens/s of a ~50M-parameter LLaMA-style config at sequence
// 256, fp32 and bf16 (the model cast to bf16), vs the Python reference doing the same math on the
// same threads (bench/causal_lm_reference_bench.py); plus KV-cache decode tokens/s.
// Usage: bench_causal_lm [threads=1] [iters=3] [batch=1]. One JSON object on stdout.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "model/causal_lm.h"

namespace {

using Clock = std::chrono::steady_clock;

double fwd_bwd_tokens_per_s(grec::model::CausalLM& m, int64_t batch, int64_t seq, int iters) {
  const int64_t V = m->config().vocab_size;
  torch::manual_seed(1);
  auto ids = torch::randint(0, V, {batch, seq}, torch::kLong);
  double total = 0;
  for (int it = 0; it < iters + 1; ++it) {
    auto t0 = Clock::now();
    auto logits = m->forward(ids);
    auto loss = torch::nn::functional::cross_entropy(
        logits.narrow(1, 0, seq - 1).to(torch::kFloat).reshape({-1, V}),
        ids.narrow(1, 1, seq - 1).reshape({-1}));
    loss.backward();
    for (auto& p : m->parameters()) p.mutable_grad() = torch::Tensor();
    double s = std::chrono::duration<double>(Clock::now() - t0).count();
    if (it > 0) total += s;  // the first iteration is warm-up
  }
  return static_cast<double>(batch * seq * iters) / total;
}

double decode_tokens_per_s(grec::model::CausalLM& m, int64_t batch, int64_t prompt, int64_t steps) {
  torch::NoGradGuard g;
  auto ids = torch::randint(0, m->config().vocab_size, {batch, prompt}, torch::kLong);
  grec::model::KVCache cache;
  auto logits = m->forward(ids, {}, &cache);
  auto t0 = Clock::now();
  for (int64_t s = 0; s < steps; ++s) {
    auto next = logits.select(1, logits.size(1) - 1).argmax(-1, true);
    logits = m->forward(next, {}, &cache);
  }
  return static_cast<double>(batch * steps) / std::chrono::duration<double>(Clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 1;
  const int iters = argc > 2 ? std::atoi(argv[2]) : 3;
  const int64_t batch = argc > 3 ? std::atoll(argv[3]) : 1;
  const int64_t seq = 256;
  torch::set_num_threads(threads);
  grec::model::CausalLMConfig c;
  c.vocab_size = 32000;
  c.hidden_size = 512;
  c.intermediate_size = 1376;
  c.num_hidden_layers = 6;
  c.num_attention_heads = 8;
  c.num_key_value_heads = 4;
  c.initializer_range = 0.02;
  grec::model::CausalLM m(c);
  int64_t params = 0;
  for (auto& p : m->parameters()) params += p.numel();
  m->train();
  const double fp32 = fwd_bwd_tokens_per_s(m, batch, seq, iters);
  const double dec32 = decode_tokens_per_s(m, 4, 32, 32);
  m->to(torch::kBFloat16);
  const double bf16 = fwd_bwd_tokens_per_s(m, batch, seq, iters);
  const double dec16 = decode_tokens_per_s(m, 4, 32, 32);

  nlohmann::json cfg = c.to_json();
  std::string cmd = "/usr/bin/python3 " + std::string(GREC_SOURCE_DIR) +
                    "/bench/causal_lm_reference_bench.py --config '" + cfg.dump() +
                    "' --threads " + std::to_string(threads) + " --iters " + std::to_string(iters) +
                    " --batch " + std::to_string(batch) + " --seq " + std::to_string(seq);
  nlohmann::json ref;
  if (FILE* f = popen(cmd.c_str(), "r")) {
    std::string out;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0) out.append(buf, n);
    if (pclose(f) == 0) ref = nlohmann::json::parse(out, nullptr, false);
  }
  nlohmann::json j;
  j["bench"] = "causal_lm_forward_backward";
  j["params"] = params;
  j["seq"] = seq;
  j["batch"] = batch;
  j["threads"] = threads;
  j["bf16_mode"] = "model cast to bf16 (RMSNorm statistics and softmax in fp32, as HF)";
  j["grec"] = {{"fp32_tokens_per_s", fp32}, {"bf16_tokens_per_s", bf16},
               {"decode_fp32_tokens_per_s", dec32}, {"decode_bf16_tokens_per_s", dec16}};
  j["bf16_over_fp32"] = bf16 / fp32;
  if (ref.is_object() && !ref.is_discarded()) {
    j["reference"] = ref;
    j["ratio"] = {{"fp32", fp32 / ref["fp32_tokens_per_s"].get<double>()},
                  {"bf16", bf16 / ref["bf16_tokens_per_s"].get<double>()}};
  } else {
    j["reference"] = nullptr;
    j["ratio"] = nullptr;
  }
  std::cout << j.dump() << std::endl;
  return 0;
}
