// Causal LM training speed: forward+backward tokens/s of a ~50M-parameter LLaMA-style model
// (hidden 512, 14 layers, 8 heads, 4 kv heads, intermediate 1408, vocab 8192, untied) at sequence
// 256, in fp32 and bf16 (bf16 = parameters and activations in bf16; RMSNorm statistics and softmax
// in fp32 as HF), against the Python reference doing the same math with the same libtorch on the
// same number of threads (bench/causal_lm_reference_bench.py, run with /usr/bin/python3).
// Optionally (--checkpointing) the fp32 cost of activation checkpointing.
// Each measurement: warm-up iterations, then the median of timed iterations.
// Usage: bench_causal_lm [--threads 2] [--batch 4] [--seq 256] [--iters 3] [--warmup 1]
//                        [--layers 14] [--checkpointing] [--no-reference]
// One JSON object on stdout.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "model/causal_lm.h"

namespace {

using Clock = std::chrono::steady_clock;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double max_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}

// Median seconds of one training step (forward, next-token cross-entropy, backward).
double step_seconds(grec::model::CausalLM& m, int64_t batch, int64_t seq, int warmup, int iters) {
  const int64_t V = m->config().vocab_size;
  torch::manual_seed(1);
  auto ids = torch::randint(0, V, {batch, seq}, torch::kLong);
  auto targets = ids.narrow(1, 1, seq - 1).reshape({-1});
  std::vector<double> times;
  for (int it = 0; it < warmup + iters; ++it) {
    auto t0 = Clock::now();
    auto logits = m->forward(ids);
    auto loss = torch::nn::functional::cross_entropy(
        logits.narrow(1, 0, seq - 1).to(torch::kFloat).reshape({-1, V}), targets);
    loss.backward();
    for (auto& p : m->parameters()) p.mutable_grad() = torch::Tensor();
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    if (it >= warmup) times.push_back(s);
  }
  return median(times);
}

std::string run_capture(const std::string& cmd, int* status) {
  std::string out;
  FILE* f = popen(cmd.c_str(), "r");
  if (!f) {
    *status = -1;
    return out;
  }
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), f)) > 0) out.append(buf, n);
  *status = pclose(f);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 2, iters = 3, warmup = 1;
  int64_t batch = 4, seq = 256, layers = 14;
  bool checkpointing = false, reference = true;
  for (int i = 1; i < argc; ++i) {
    auto is = [&](const char* name) { return !std::strcmp(argv[i], name) && i + 1 < argc; };
    if (is("--threads")) threads = std::atoi(argv[++i]);
    else if (is("--batch")) batch = std::atoll(argv[++i]);
    else if (is("--seq")) seq = std::atoll(argv[++i]);
    else if (is("--iters")) iters = std::atoi(argv[++i]);
    else if (is("--warmup")) warmup = std::atoi(argv[++i]);
    else if (is("--layers")) layers = std::atoll(argv[++i]);
    else if (!std::strcmp(argv[i], "--checkpointing")) checkpointing = true;
    else if (!std::strcmp(argv[i], "--no-reference")) reference = false;
    else {
      std::cerr << "bench_causal_lm: unknown argument '" << argv[i] << "'\n";
      return 2;
    }
  }
  torch::set_num_threads(threads);
  grec::model::CausalLMConfig c;
  c.vocab_size = 8192;
  c.hidden_size = 512;
  c.intermediate_size = 1408;
  c.num_hidden_layers = layers;
  c.num_attention_heads = 8;
  c.num_key_value_heads = 4;
  c.max_position_embeddings = std::max<int64_t>(2048, seq);
  torch::manual_seed(0);
  grec::model::CausalLM m(c);
  int64_t params = 0;
  for (auto& p : m->parameters()) params += p.numel();
  m->train();
  const double tokens = static_cast<double>(batch * seq);

  nlohmann::json grec_j;
  double ck_s = 0;
  if (checkpointing) {
    // Run first: peak RSS only grows, so the checkpointed peak is read before the plain run.
    m->mutable_config().activation_checkpointing = true;
    ck_s = step_seconds(m, batch, seq, warmup, iters);
    m->mutable_config().activation_checkpointing = false;
    grec_j["fp32_checkpointing_tokens_per_s"] = tokens / ck_s;
    grec_j["fp32_checkpointing_peak_rss_mb"] = max_rss_mb();
  }
  const double fp32_s = step_seconds(m, batch, seq, warmup, iters);
  grec_j["fp32_tokens_per_s"] = tokens / fp32_s;
  grec_j["fp32_step_s"] = fp32_s;
  grec_j["fp32_peak_rss_mb"] = max_rss_mb();
  if (checkpointing) grec_j["checkpointing_time_factor"] = ck_s / fp32_s;
  m->to(torch::kBFloat16);
  const double bf16_s = step_seconds(m, batch, seq, warmup, iters);
  grec_j["bf16_tokens_per_s"] = tokens / bf16_s;
  grec_j["bf16_step_s"] = bf16_s;

  nlohmann::json j;
  j["bench"] = "causal_lm_forward_backward";
  j["params"] = params;
  j["config"] = {{"hidden", c.hidden_size},   {"layers", c.num_hidden_layers},
                 {"heads", c.num_attention_heads}, {"kv_heads", c.num_key_value_heads},
                 {"intermediate", c.intermediate_size}, {"vocab", c.vocab_size}};
  j["seq"] = seq;
  j["batch"] = batch;
  j["threads"] = threads;
  j["iters"] = iters;
  j["warmup"] = warmup;
  j["statistic"] = "median step time";
  j["bf16_mode"] = "parameters and inputs in bf16 (RMSNorm statistics and softmax in fp32, as HF)";
  j["grec"] = grec_j;
  j["bf16_over_fp32"] = (tokens / bf16_s) / (tokens / fp32_s);
  j["reference"] = nullptr;
  j["grec_over_python"] = nullptr;
  if (reference) {
    std::string cmd = "/usr/bin/python3 " + std::string(GREC_SOURCE_DIR) +
                      "/bench/causal_lm_reference_bench.py --config '" + c.to_json().dump() +
                      "' --threads " + std::to_string(threads) + " --iters " +
                      std::to_string(iters) + " --warmup " + std::to_string(warmup) +
                      " --batch " + std::to_string(batch) + " --seq " + std::to_string(seq);
    int status = 0;
    auto out = run_capture(cmd, &status);
    auto ref = nlohmann::json::parse(out, nullptr, false);
    if (status == 0 && ref.is_object()) {
      j["reference"] = ref;
      j["grec_over_python"] = {
          {"fp32", (tokens / fp32_s) / ref["fp32_tokens_per_s"].get<double>()},
          {"bf16", (tokens / bf16_s) / ref["bf16_tokens_per_s"].get<double>()}};
    } else {
      std::cerr << "bench_causal_lm: the Python reference failed (status " << status << ")\n";
    }
  }
  std::cout << j.dump() << std::endl;
  return 0;
}
