// Stage `evaluate`: generative full-ranking evaluation of the aligned LLM (ALGORITHMS.md §2).
// For every user with a held-out item (the sasrec stage's cases), the seqrec prompt is decoded by
// constrained beam search (evaluate.num_beams, 20) over all item tuples, sharded over ranks:
// HR@{1,5,10}, NDCG@{5,10}. The popularity baseline is ranked on the same users here; the SASRec
// baseline comes from the per-case ranks stage sasrec kept (artifacts/sasrec/case_ranks.json),
// restricted to the same users, when that stage ran.
// Writes artifacts/evaluate/results.json = {"test": {"llm": .., "sasrec": .., "popularity": ..},
// "valid": {...}} and prints the table. Presplit data (several held-out items per user) adds, for
// every model, "held_out": Recall@K and NDCG@K over the whole held-out set (DEALRec, BIGRec),
// printed as a second table.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <torch/torch.h>

#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/table.h"
#include "dist/communicator.h"
#include "eval/generative.h"
#include "eval/ranking.h"
#include "eval/split_cases.h"
#include "model/causal_lm.h"
#include "tokenizer/vocab_extension.h"
#include "stages/align_setup.h"
#include "stages/sasrec_case_ranks.h"
#include "stages/stage_list.h"

namespace grec::stages {
namespace {

void declare_evaluate(ConfigSchema& s) {
  s.add_int("evaluate.num_beams", 20, "beams of the constrained beam search (the ranked list length)");
  s.add_int("evaluate.batch_size", 32, "prompts decoded together (each with num_beams hypotheses)");
  s.add_int_list("evaluate.ks", {1, 5, 10}, "cut-offs K of HR@K and NDCG@K (K <= num_beams)");
  s.add_int("evaluate.max_users", 0, "test users (seeded sample); 0 = every user");
  s.add_int("evaluate.max_valid_users", 0, "validation users (seeded sample); 0 = every user");
  s.add_string_list("evaluate.splits", {"valid", "test"}, "splits to evaluate");
}

// Popularity on the users of `cases` (their histories are not needed to rank by popularity).
nlohmann::json popularity(const ItemIndex& index, const PromptCases& cases,
                          const std::vector<int64_t>& ks, dist::Communicator& comm) {
  std::vector<eval::RankingCase> rc(cases.targets.size());
  for (size_t i = 0; i < rc.size(); ++i) {
    rc[i].target = cases.targets[i];
    rc[i].held_out = cases.held_out[i];
  }
  eval::RankingOptions ro;
  ro.ks = ks;
  return eval::popularity_ranking(index.dataset, rc, ro, &comm);
}

std::string metric_cell(const nlohmann::json& m, const std::string& key) {
  return m.is_object() && m.contains(key) ? fmt::format("{:.4f}", m[key].get<double>()) : "-";
}

nlohmann::json run_evaluate(StageContext& ctx) {
  const auto t0 = std::chrono::steady_clock::now();
  const Config& config = ctx.config;
  const std::string model_dir = aligned_model_dir(ctx.run);
  if (!std::filesystem::exists(model_dir + "/config.json")) {
    user_error("{} has no model: run the align stage first (grec stage align CONFIG)", model_dir);
  }
  ItemIndex index = load_item_index(config, ctx.run);
  auto tokenizer = tok::load_tokenizer(model_dir);
  model::CausalLM lm = model::load_hf(model_dir);
  lm->eval();
  const auto token_ids = tok::semantic_token_ids(*tokenizer, index.ids.level_sizes);
  const data::InstructionOptions io = instruction_options(config);
  eval::GenerativeOptions gen;
  gen.num_beams = config.get_int("evaluate.num_beams");
  gen.batch_size = config.get_int("evaluate.batch_size");
  gen.ks = config.get_int_list("evaluate.ks");
  gen.pad_id = std::max<int64_t>(0, tokenizer->pad_id());
  for (int64_t k : gen.ks) {
    if (k < 1 || k > gen.num_beams) {
      user_error("evaluate.ks has K = {}: every K must be in [1, evaluate.num_beams = {}] ({})", k,
                 gen.num_beams, config.origin("evaluate.ks"));
    }
  }
  const auto max_users_of = [&](const std::string& split) {
    return config.get_int(split == "test" ? "evaluate.max_users" : "evaluate.max_valid_users");
  };
  const uint64_t seed = static_cast<uint64_t>(config.get_int("align.train.seed"));
  std::string no_sasrec;  // why SASRec cannot be reported, if it cannot
  const nlohmann::json sasrec_ranks = read_sasrec_case_ranks(ctx.run, &no_sasrec);

  nlohmann::json results = nlohmann::json::object();
  double users_per_s = 0;
  for (const std::string& split : config.get_string_list("evaluate.splits")) {
    const PromptCases cases =
        seqrec_cases(index, *tokenizer, io, split, config.get_int("align.max_len"), max_users_of(split), seed);
    const auto s0 = std::chrono::steady_clock::now();
    nlohmann::json llm =
        eval::generative_ranking(lm, cases.prompts, cases.targets, index.trie, token_ids, gen,
                                 &ctx.comm, &cases.held_out);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - s0).count();
    users_per_s = s > 0 ? cases.targets.size() / s : 0;
    llm["users_per_s"] = users_per_s;
    nlohmann::json row = {{"llm", llm}, {"popularity", popularity(index, cases, gen.ks, ctx.comm)}};
    // SASRec on the same users, from the ranks its stage kept for every case.
    std::string why = no_sasrec;
    nlohmann::json sasrec = sasrec_metrics_for_users(sasrec_ranks, split, cases.users, gen.ks, &why);
    if (!sasrec.is_null()) {
      row["sasrec"] = sasrec;
    } else {
      GREC_WARN("evaluate: no SASRec row for {}: {}", split, why);
    }
    results[split] = row;
    GREC_INFO("evaluate: {} {} users, LLM HR@10 {:.4f} NDCG@10 {:.4f} ({:.1f} users/s)", split,
              cases.targets.size(), llm.value("HR@10", 0.0), llm.value("NDCG@10", 0.0), users_per_s);
  }
  const double wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  results["num_beams"] = gen.num_beams;
  results["wall_s"] = wall_s;
  if (ctx.is_root()) {
    write_file_atomic(ctx.run.artifacts("evaluate") + "/results.json", results.dump(2) + "\n");
    ctx.metrics.write({{"stage", "evaluate"}, {"event", "results"}, {"results", results}});
    std::vector<std::string> header = {"split", "model"};
    std::vector<std::string> keys;
    for (int64_t k : gen.ks) keys.push_back("HR@" + std::to_string(k));
    for (int64_t k : gen.ks) {
      if (k > 1) keys.push_back("NDCG@" + std::to_string(k));
    }
    header.insert(header.end(), keys.begin(), keys.end());
    Table table(header);
    for (const auto& [split, row] : results.items()) {
      if (!row.is_object()) continue;
      for (const char* model : {"llm", "sasrec", "popularity"}) {
        if (!row.contains(model)) continue;
        std::vector<std::string> cells = {split, model};
        for (const auto& k : keys) cells.push_back(metric_cell(row[model], k));
        table.add_row(cells);
      }
    }
    std::fputs(table.render().c_str(), stdout);
    // Presplit data: the set metrics over every held-out item of a user (DEALRec / BIGRec).
    std::vector<std::string> set_keys;
    for (int64_t k : gen.ks) set_keys.push_back("Recall@" + std::to_string(k));
    for (int64_t k : gen.ks) {
      if (k > 1) set_keys.push_back("NDCG@" + std::to_string(k));
    }
    std::vector<std::string> set_header = {"split", "model"};
    set_header.insert(set_header.end(), set_keys.begin(), set_keys.end());
    Table sets(set_header);
    bool any_set = false;
    for (const auto& [split, row] : results.items()) {
      if (!row.is_object()) continue;
      for (const char* model : {"llm", "sasrec", "popularity"}) {
        if (!row.contains(model) || !row[model].contains("held_out")) continue;
        any_set = true;
        std::vector<std::string> cells = {split, model};
        for (const auto& k : set_keys) cells.push_back(metric_cell(row[model]["held_out"], k));
        sets.add_row(cells);
      }
    }
    if (any_set) {
      std::printf("\nevery held-out item of a user (Recall@K, NDCG@K over the held-out set):\n");
      std::fputs(sets.render().c_str(), stdout);
    }
    std::fflush(stdout);
  }
  nlohmann::json summary = {{"wall_s", wall_s}, {"users_per_s", users_per_s}};
  if (results.contains("test")) {
    summary["test_HR@10"] = results["test"]["llm"].value("HR@10", 0.0);
    summary["popularity_test_HR@10"] = results["test"]["popularity"].value("HR@10", 0.0);
  }
  return summary;
}

}  // namespace

Stage make_evaluate_stage() {
  Stage s;
  s.name = "evaluate";
  s.help = "generative evaluation: constrained beam search over all items, LLM vs SASRec and popularity";
  s.config_sections = {"evaluate", "align", "data"};
  s.inputs = {"ingest", "rqvae", "sasrec", "align"};
  s.declare = declare_evaluate;
  s.run = run_evaluate;
  return s;
}

}  // namespace grec::stages
