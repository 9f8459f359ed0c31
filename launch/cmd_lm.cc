// `grec lm info|logits|generate`: inspect a causal LM checkpoint (HF layout) by hand. Output goes
// to stdout (info as a table or one JSON line, logits as one JSON array line, generate as text);
// errors are one line on stderr and exit code 1.
#include "launch/cmd_lm.h"

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <sstream>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "core/error.h"
#include "core/log.h"
#include "launch/guarded.h"
#include "model/causal_lm.h"
#include "model/generation.h"
#include "model/hf_io.h"
#include "tokenizer/text_tokenizer.h"

namespace grec::launch {

namespace {

void require_dir(const std::string& dir) {
  if (!std::filesystem::is_directory(dir)) {
    grec::user_error("checkpoint directory '{}' does not exist", dir);
  }
}

// "5,17,42" -> ids; UserError naming the bad entry.
std::vector<int64_t> parse_ids(const std::string& text) {
  std::vector<int64_t> ids;
  std::stringstream ss(text);
  std::string part;
  while (std::getline(ss, part, ',')) {
    size_t used = 0;
    int64_t v = -1;
    try {
      v = std::stoll(part, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != part.size() || v < 0) {
      grec::user_error("--ids: '{}' is not a non-negative integer (expected e.g. 5,17,42)", part);
    }
    ids.push_back(v);
  }
  if (ids.empty()) grec::user_error("--ids: no token ids given");
  return ids;
}

void check_ids(const std::vector<int64_t>& ids, int64_t vocab) {
  for (auto id : ids) {
    if (id >= vocab) grec::user_error("--ids: token id {} is outside the vocabulary ({})", id, vocab);
  }
}

nlohmann::json info_json(const std::string& dir) {
  auto lm = grec::model::load_hf(dir);
  const auto& c = lm->config();
  int64_t params = 0;
  for (const auto& p : lm->parameters()) params += p.numel();
  nlohmann::json j = c.to_json();
  j["parameters"] = params;
  j["dir"] = dir;
  return j;
}

void print_info(const nlohmann::json& j) {
  const char* keys[] = {"architectures",       "model_type",          "vocab_size",
                        "hidden_size",         "intermediate_size",   "num_hidden_layers",
                        "num_attention_heads", "num_key_value_heads", "max_position_embeddings",
                        "rms_norm_eps",        "rope_theta",          "tie_word_embeddings",
                        "torch_dtype",         "parameters"};
  for (const char* k : keys) {
    if (!j.contains(k)) continue;
    const auto& v = j[k];
    std::string s = v.is_array() && v.size() == 1 && v[0].is_string() ? v[0].get<std::string>()
                    : v.is_string()                                   ? v.get<std::string>()
                                                                      : v.dump();
    std::cout << k << std::string(std::max<size_t>(1, 25 - std::string(k).size()), ' ') << s
              << "\n";
  }
  std::cout << std::flush;
}

}  // namespace

void add_lm_commands(CLI::App& app, int* exit_code) {
  auto* lm = app.add_subcommand("lm", "inspect causal LM checkpoints (HF layout)");
  lm->require_subcommand(1);

  // info
  struct InfoArgs {
    std::string dir;
    bool json = false;
  };
  auto ia = std::make_shared<InfoArgs>();
  auto* info = lm->add_subcommand("info", "config summary and parameter count of a checkpoint");
  info->add_option("DIR", ia->dir, "checkpoint directory (config.json + safetensors)")->required();
  info->add_flag("--json", ia->json, "print one JSON object instead of a table");
  info->callback([ia, exit_code]() {
    guarded(exit_code, [&] {
      require_dir(ia->dir);
      auto j = info_json(ia->dir);
      if (ia->json) {
        std::cout << j.dump() << std::endl;
      } else {
        print_info(j);
      }
    });
  });

  // logits
  struct LogitsArgs {
    std::string dir, ids;
  };
  auto la = std::make_shared<LogitsArgs>();
  auto* logits = lm->add_subcommand("logits", "logits of the last position for given token ids");
  logits->add_option("DIR", la->dir, "checkpoint directory")->required();
  logits->add_option("--ids", la->ids, "comma-separated token ids, e.g. 5,17,42")->required();
  logits->callback([la, exit_code]() {
    guarded(exit_code, [&] {
      require_dir(la->dir);
      auto ids = parse_ids(la->ids);
      auto model = grec::model::load_hf(la->dir);
      model->eval();
      check_ids(ids, model->config().vocab_size);
      torch::NoGradGuard no_grad;
      auto input = torch::tensor(ids, torch::kLong).view({1, -1});
      auto last = model->forward(input)[0][-1].to(torch::kDouble).contiguous();
      const double* p = last.data_ptr<double>();
      // Doubles widened from the model's dtype print the exact float value, round-trippable.
      nlohmann::json arr = std::vector<double>(p, p + last.numel());
      std::cout << arr.dump() << std::endl;
    });
  });

  // generate
  struct GenerateArgs {
    std::string dir, prompt;
    int64_t max_new = 32;
    int64_t beams = 1;
  };
  auto ga = std::make_shared<GenerateArgs>();
  auto* gen = lm->add_subcommand("generate", "greedy (or beam) continuation of a text prompt");
  gen->add_option("DIR", ga->dir, "checkpoint directory with a tokenizer")->required();
  gen->add_option("--prompt", ga->prompt, "prompt text")->required();
  gen->add_option("--max-new", ga->max_new, "maximum number of new tokens")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  gen->add_option("--beams", ga->beams, "beam search with this many beams (1 = greedy)")
      ->check(CLI::Range(int64_t{1}, int64_t{1024}));
  gen->callback([ga, exit_code]() {
    guarded(exit_code, [&] {
      require_dir(ga->dir);
      auto tokenizer = grec::tok::load_tokenizer(ga->dir);
      auto model = grec::model::load_hf(ga->dir);
      auto ids = tokenizer->encode(ga->prompt, /*add_special=*/true);
      if (ids.empty()) grec::user_error("--prompt: the prompt encodes to no tokens");
      check_ids(ids, model->config().vocab_size);
      grec::model::GenerationOptions o;
      o.max_new_tokens = ga->max_new;
      o.num_beams = ga->beams;
      o.eos_token_id = tokenizer->eos_id() >= 0 ? tokenizer->eos_id() : model->config().eos_token_id;
      auto input = torch::tensor(ids, torch::kLong).view({1, -1});
      std::vector<int64_t> out;
      if (ga->beams == 1) {
        auto t = grec::model::greedy(model, input, {}, o).contiguous();
        out.assign(t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + t.numel());
      } else {
        out = grec::model::beam_search(model, input, {}, o)[0].at(0).tokens;
      }
      if (o.eos_token_id >= 0 && !out.empty() && out.back() == o.eos_token_id) out.pop_back();
      std::cout << tokenizer->decode(out, /*skip_special=*/true) << std::endl;
    });
  });
}

}  // namespace grec::launch
