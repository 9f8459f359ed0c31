// Helpers for the causal-LM tests: the temp folder (tests/test_util/temp_dir.h), tiny random
// configs, and running the independent Python reference (tests/reference/causal_lm_reference.py)
// with /usr/bin/python3.
#pragma once

#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "model/causal_lm.h"
#include "tests/test_util/temp_dir.h"

namespace grec::test {

inline model::CausalLMConfig tiny_config(bool qwen) {
  model::CausalLMConfig c;
  c.architecture = qwen ? "Qwen2ForCausalLM" : "LlamaForCausalLM";
  c.model_type = qwen ? "qwen2" : "llama";
  c.vocab_size = 80;
  c.hidden_size = 32;
  c.intermediate_size = 48;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.max_position_embeddings = 64;
  c.rope_theta = qwen ? 1000000.0 : 10000.0;
  c.tie_word_embeddings = qwen;
  c.attention_bias = qwen;
  c.initializer_range = 0.2;
  return c;
}

// A random model whose norms and biases are random too (so every parameter matters).
inline model::CausalLM tiny_model(bool qwen, uint64_t seed) {
  torch::manual_seed(seed);
  model::CausalLM m(tiny_config(qwen));
  torch::NoGradGuard g;
  for (auto& p : m->named_parameters()) {
    if (p.key().find("norm") != std::string::npos) p.value().copy_(1 + 0.1 * torch::randn_like(p.value()));
    if (p.key().find("bias") != std::string::npos) p.value().copy_(0.1 * torch::randn_like(p.value()));
  }
  m->eval();
  return m;
}

// A random model in eval mode with large weights: peaked next-token distributions, so argmax and
// beam rankings have no near ties (decoding tests compare against brute force).
inline model::CausalLM peaked_lm(uint64_t seed, int64_t vocab, bool qwen = false) {
  model::CausalLMConfig c = tiny_config(qwen);
  c.vocab_size = vocab;
  c.max_position_embeddings = 128;
  c.initializer_range = 0.3;
  torch::manual_seed(seed);
  model::CausalLM lm(c);
  lm->eval();
  return lm;
}

inline bool python_torch_available() {
  return std::system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") == 0;
}

inline std::string reference_script() {
  return std::string(GREC_SOURCE_DIR) + "/tests/reference/causal_lm_reference.py";
}

inline std::string run_capture(const std::string& cmd) {
  std::string out;
  FILE* f = popen(cmd.c_str(), "r");
  if (!f) return out;
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), f)) > 0) out.append(buf, n);
  pclose(f);
  return out;
}

inline std::string json_2d(const torch::Tensor& t) {
  nlohmann::json j = nlohmann::json::array();
  auto c = t.to(torch::kLong).contiguous();
  for (int64_t b = 0; b < c.size(0); ++b) {
    nlohmann::json row = nlohmann::json::array();
    for (int64_t i = 0; i < c.size(1); ++i) row.push_back(c[b][i].item<int64_t>());
    j.push_back(row);
  }
  return j.dump();
}

// Logits [B, T, V] from the Python reference on checkpoint `dir`.
inline torch::Tensor reference_logits(const std::string& dir, const torch::Tensor& ids,
                                      const torch::Tensor& mask = {}) {
  std::string cmd = "/usr/bin/python3 " + reference_script() + " logits '" + dir + "' --ids '" +
                    json_2d(ids) + "'";
  if (mask.defined()) cmd += " --mask '" + json_2d(mask) + "'";
  auto out = run_capture(cmd);
  auto j = nlohmann::json::parse(out).at("logits");
  const int64_t B = j.size(), T = j[0].size(), V = j[0][0].size();
  auto t = torch::empty({B, T, V}, torch::kFloat);
  auto a = t.accessor<float, 3>();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = 0; i < T; ++i)
      for (int64_t v = 0; v < V; ++v) a[b][i][v] = j[b][i][v].get<float>();
  return t;
}

}  // namespace grec::test
