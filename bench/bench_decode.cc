// Decoding speed of a small random causal LM (4 layers, hidden 256), one JSON object on stdout:
//   - greedy decode tokens/s with the KV cache vs recomputing the whole sequence each step, at
//     batch 1 and 8 (prompt 64 tokens);
//   - trie-constrained beam search (beam 20 over a 10k-item trie, 3 levels x 32 random unique
//     codes): users (prompts)/s and returned items/s.
// Each figure is the mean over repeated calls for at least 2-3 s after a warm-up call.
// Usage: bench_decode [--threads 2] [--quick]
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "model/causal_lm.h"
#include "model/generation.h"
#include "tokenizer/constrained_decoding.h"
#include "tokenizer/prefix_trie.h"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

grec::model::CausalLMConfig small_config(int64_t vocab) {
  grec::model::CausalLMConfig c;
  c.vocab_size = vocab;
  c.hidden_size = 256;
  c.intermediate_size = 688;
  c.num_hidden_layers = 4;
  c.num_attention_heads = 8;
  c.num_key_value_heads = 4;
  c.max_position_embeddings = 1024;
  return c;
}

int64_t count_params(grec::model::CausalLM& lm) {
  int64_t n = 0;
  for (const auto& p : lm->parameters()) n += p.numel();
  return n;
}

nlohmann::json bench_greedy(grec::model::CausalLM& lm, int64_t batch, int64_t prompt_len,
                            int64_t new_tokens, bool use_cache) {
  auto ids = torch::randint(lm->config().vocab_size, {batch, prompt_len}, torch::kLong);
  grec::model::GenerationOptions o;
  o.max_new_tokens = new_tokens;
  o.use_cache = use_cache;
  grec::model::greedy(lm, ids, {}, o);  // warm-up
  int reps = 0;
  auto t0 = Clock::now();
  do {
    grec::model::greedy(lm, ids, {}, o);
    ++reps;
  } while (seconds_since(t0) < 2.0);
  const double s = seconds_since(t0) / reps;
  return {{"kv_cache", use_cache}, {"batch", batch}, {"prompt_len", prompt_len},
          {"new_tokens", new_tokens}, {"seconds_per_call", s},
          {"tokens_per_s", static_cast<double>(batch * new_tokens) / s}};
}

nlohmann::json bench_constrained(int64_t base_vocab, int64_t items, int64_t levels, int64_t codes,
                                 int64_t beams, int64_t batch, int64_t prompt_len) {
  // Semantic-ID tokens follow the text vocabulary; rounded up to a multiple of 64 as in training.
  const int64_t vocab = (base_vocab + levels * codes + 63) / 64 * 64;
  torch::manual_seed(0);
  grec::model::CausalLM lm(small_config(vocab));
  lm->eval();
  std::vector<std::vector<int64_t>> token_ids(levels);
  for (int64_t l = 0; l < levels; ++l)
    for (int64_t c = 0; c < codes; ++c) token_ids[l].push_back(base_vocab + l * codes + c);
  std::mt19937_64 rng(1);
  std::set<std::vector<int64_t>> seen;
  std::vector<int64_t> flat;
  while (static_cast<int64_t>(seen.size()) < items) {
    std::vector<int64_t> t(levels);
    for (auto& x : t) x = static_cast<int64_t>(rng() % codes);
    if (seen.insert(t).second) flat.insert(flat.end(), t.begin(), t.end());
  }
  auto trie = grec::tok::PrefixTrie::build(flat, items, levels);
  auto ids = torch::randint(base_vocab, {batch, prompt_len}, torch::kLong);
  grec::tok::constrained_beam_search(lm, ids, {}, trie, token_ids, beams);  // warm-up
  int reps = 0;
  int64_t returned = 0;
  auto t0 = Clock::now();
  do {
    auto hits = grec::tok::constrained_beam_search(lm, ids, {}, trie, token_ids, beams);
    for (const auto& h : hits) returned += h.size();
    ++reps;
  } while (seconds_since(t0) < 3.0);
  const double s = seconds_since(t0);
  return {{"items", items}, {"levels", levels}, {"codes_per_level", codes},
          {"trie_nodes", trie.num_nodes()}, {"beams", beams}, {"batch", batch},
          {"prompt_len", prompt_len}, {"vocab", vocab}, {"params", count_params(lm)},
          {"seconds_per_call", s / reps},
          {"users_per_s", static_cast<double>(reps * batch) / s},
          {"items_per_s", static_cast<double>(returned) / s}};
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 2;
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) threads = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--quick")) quick = true;
    else {
      std::fprintf(stderr, "bench_decode: unknown argument '%s'\n", argv[i]);
      return 2;
    }
  }
  torch::set_num_threads(threads);
  torch::NoGradGuard no_grad;
  torch::manual_seed(0);
  grec::model::CausalLM lm(small_config(4096));
  lm->eval();
  const int64_t new_tokens = quick ? 32 : 64;
  nlohmann::json greedy = nlohmann::json::array();
  for (int64_t batch : {int64_t{1}, int64_t{8}}) {
    auto cached = bench_greedy(lm, batch, 64, new_tokens, true);
    auto recomputed = bench_greedy(lm, batch, 64, new_tokens, false);
    greedy.push_back({{"batch", batch}, {"prompt_len", 64}, {"new_tokens", new_tokens},
                      {"kv_cache_tokens_per_s", cached["tokens_per_s"]},
                      {"recompute_tokens_per_s", recomputed["tokens_per_s"]},
                      {"kv_cache_speedup", cached["tokens_per_s"].get<double>() /
                                               recomputed["tokens_per_s"].get<double>()}});
  }
  nlohmann::json j;
  j["bench"] = "decode";
  j["threads"] = threads;
  j["model"] = {{"params", count_params(lm)}, {"hidden", 256}, {"layers", 4}, {"heads", 8},
                {"kv_heads", 4}, {"vocab", 4096}};
  j["greedy"] = greedy;
  j["constrained_beam_search"] = bench_constrained(4096, 10000, 3, 32, 20, quick ? 2 : 8, 64);
  std::printf("%s\n", j.dump().c_str());
  return 0;
}
