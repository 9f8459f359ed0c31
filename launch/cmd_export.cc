// `grec export RUN_DIR --out DIR` (a run -> a serving bundle) and `grec recommend BUNDLE` (lists
// for one history, or for many from a JSON-lines file, sharded over ranks under mpirun).
#include "launch/cmd_export.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <thread>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "core/error.h"
#include "core/fs.h"
#include "core/table.h"
#include "dist/collectives.h"
#include "dist/mpi_env.h"
#include "export/bundle.h"
#include "launch/guarded.h"
#include "serve/recommender.h"
#include "stages/export_run.h"

namespace grec::launch {
namespace {

namespace fs = std::filesystem;

struct ExportArgs {
  std::string run_dir, out, dtype = "fp32";
  bool force = false;
};

struct RecommendArgs {
  std::string bundle, history, input, output, model;
  int64_t k = 0;  // 0: 10, or the model's largest k when smaller
  int64_t beams = 0;
  int64_t batch_size = 32;
  int threads = 0;
  bool exclude_history = false;
  bool json = false;
  bool no_verify = false;
};

std::vector<std::string> split_history(const std::string& text) {
  std::vector<std::string> ids;
  std::stringstream ss(text);
  std::string part;
  while (std::getline(ss, part, ',')) {
    const auto b = part.find_first_not_of(' '), e = part.find_last_not_of(' ');
    if (b != std::string::npos) ids.push_back(part.substr(b, e - b + 1));
  }
  return ids;
}

nlohmann::json answer_json(const serve::Answer& a) {
  nlohmann::json items = nlohmann::json::array();
  for (const auto& it : a.items) items.push_back({{"id", it.id}, {"title", it.title}, {"score", it.score}});
  nlohmann::json j = {{"items", items}};
  if (!a.warnings.empty()) j["warnings"] = a.warnings;
  if (!a.error.empty()) j["error"] = a.error;
  return j;
}

// A raw id given as a JSON string or number.
std::string raw_id_of(const nlohmann::json& v, const std::string& where) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  user_error("{}: history entries must be strings (raw item ids), got {}", where, v.dump());
}

struct InputLine {
  nlohmann::json user;  // echoed as given
  serve::Query query;
};

std::vector<InputLine> read_input(const std::string& path, const serve::Query& defaults) {
  std::ifstream in(path);
  if (!in) user_error("--input: cannot read {}", path);
  std::vector<InputLine> lines;
  std::string line;
  int64_t no = 0;
  while (std::getline(in, line)) {
    ++no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = fmt::format("{}:{}", path, no);
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      user_error("{}: not valid JSON ({})", where, e.what());
    }
    if (!j.is_object() || !j.contains("history") || !j["history"].is_array()) {
      user_error("{}: each line must be an object with a \"history\" array", where);
    }
    InputLine l;
    l.user = j.value("user", nlohmann::json(nullptr));
    l.query = defaults;
    l.query.history.clear();
    for (const auto& v : j["history"]) l.query.history.push_back(raw_id_of(v, where));
    try {
      if (j.contains("k")) l.query.k = j["k"].get<int64_t>();
      if (j.contains("model")) l.query.model = j["model"].get<std::string>();
      if (j.contains("exclude_history")) l.query.exclude_history = j["exclude_history"].get<bool>();
    } catch (const nlohmann::json::exception& e) {
      user_error("{}: {}", where, e.what());
    }
    lines.push_back(std::move(l));
  }
  return lines;
}

void run_export(const ExportArgs& a) {
  bundle::ExportOptions o;
  o.dtype = a.dtype;
  o.overwrite = a.force;
  const std::string cmd = fmt::format("grec export {} --out {} --dtype {}{}", a.run_dir, a.out,
                                      a.dtype, a.force ? " --force" : "");
  const nlohmann::json m = stages::export_run_dir(a.run_dir, a.out, o, cmd);
  int64_t bytes = 0;
  for (const auto& [name, f] : m["files"].items()) bytes += f.value("bytes", int64_t{0});
  std::printf("exported %s -> %s: models %s, %zu files, %.1f MB\n", a.run_dir.c_str(), a.out.c_str(),
              m["models"].dump().c_str(), m["files"].size(), bytes / 1e6);
}

int run_recommend(const RecommendArgs& a) {
  dist::MpiEnv env(nullptr, nullptr);
  const int threads = a.threads > 0 ? a.threads
                                    : std::max(1, static_cast<int>(std::thread::hardware_concurrency()) /
                                                      std::max(1, env.local_world()));
  torch::set_num_threads(threads);
  if (a.history.empty() == a.input.empty()) {
    user_error("give either --history RAW,RAW,... or --input users.jsonl");
  }
  if (!a.input.empty() && a.output.empty()) user_error("--input needs --output recs.jsonl");
  bundle::LoadOptions lo;
  lo.verify = !a.no_verify;
  serve::RecommenderOptions ro;
  ro.batch_size = a.batch_size;
  ro.num_beams = a.beams;
  auto rec = serve::make_bundle_recommender(bundle::load_bundle(a.bundle, lo), ro);
  serve::Query defaults;
  defaults.k = a.k;
  defaults.exclude_history = a.exclude_history;
  const auto models = rec->models();
  defaults.model = a.model.empty() ? models.front() : a.model;
  if (a.k == 0) defaults.k = std::max<int64_t>(1, std::min<int64_t>(10, rec->max_k(defaults.model)));

  if (!a.history.empty()) {
    defaults.history = split_history(a.history);
    const serve::Answer ans = rec->recommend({defaults}).at(0);
    if (!ans.error.empty()) user_error("{}", ans.error);
    if (env.rank() != 0) return 0;
    for (const auto& w : ans.warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());
    if (a.json) {
      nlohmann::json j = answer_json(ans);
      j["model"] = defaults.model;
      std::cout << j.dump() << std::endl;
      return 0;
    }
    Table t({"rank", "id", "score", "title"});
    for (size_t i = 0; i < ans.items.size(); ++i) {
      const auto& it = ans.items[i];
      t.add_row({std::to_string(i + 1), it.id, fmt::format("{:.4f}", it.score), it.title});
    }
    std::fputs(t.render().c_str(), stdout);
    return 0;
  }

  const std::vector<InputLine> lines = read_input(a.input, defaults);
  const size_t n = lines.size(), r = env.rank(), w = env.world();
  const size_t begin = n * r / w, end = n * (r + 1) / w;
  std::vector<serve::Query> mine;
  for (size_t i = begin; i < end; ++i) mine.push_back(lines[i].query);
  const auto answers = rec->recommend(mine);
  std::string text;
  int64_t errors = 0;
  for (size_t i = begin; i < end; ++i) {
    nlohmann::json j = answer_json(answers[i - begin]);
    j["user"] = lines[i].user;
    j["model"] = lines[i].query.model;
    errors += answers[i - begin].error.empty() ? 0 : 1;
    text += j.dump() + "\n";
  }
  // Each rank writes its share; rank 0 joins them in rank order into the output, atomically.
  const std::string part = fmt::format("{}.part{}", a.output, r);
  write_file_atomic(part, text);
  dist::barrier();
  if (r == 0) {
    std::string all;
    for (size_t k = 0; k < w; ++k) {
      const std::string p = fmt::format("{}.part{}", a.output, k);
      all += read_file(p);
      fs::remove(p);
    }
    write_file_atomic(a.output, all);
  }
  errors = dist::allreduce_max(errors);  // any rank's rejected lines are reported below
  dist::barrier();
  if (r == 0) {
    std::fprintf(stderr, "recommend: %zu users -> %s (%d rank%s)%s\n", n, a.output.c_str(), env.world(),
                 env.world() > 1 ? "s" : "", errors ? "; some lines were rejected (see \"error\")" : "");
  }
  return 0;
}

}  // namespace

void add_export_commands(CLI::App& app, int* exit_code) {
  auto ea = std::make_shared<ExportArgs>();
  auto* exp = app.add_subcommand("export", "write the serving bundle of a finished run");
  exp->add_option("RUN_DIR", ea->run_dir, "run folder, e.g. runs/demo")->required();
  exp->add_option("--out", ea->out, "bundle folder to create")->required();
  exp->add_option("--dtype", ea->dtype, "LLM weights in the bundle: fp32 or bf16")
      ->check(CLI::IsMember({"fp32", "bf16"}));
  exp->add_flag("--force", ea->force, "replace an existing bundle folder");
  exp->callback([ea, exit_code]() { guarded(exit_code, [&] { run_export(*ea); }); });

  auto ra = std::make_shared<RecommendArgs>();
  auto* rec = app.add_subcommand("recommend", "top-k items from a bundle for one history or many");
  rec->add_option("BUNDLE", ra->bundle, "bundle folder (grec export)")->required();
  rec->add_option("--history", ra->history, "raw item ids, oldest first: RAW,RAW,...");
  rec->add_option("--input", ra->input,
                  "JSON lines {\"user\": .., \"history\": [raw ids], optional k, model, exclude_history}");
  rec->add_option("--output", ra->output, "JSON lines out, one per input line, in input order");
  rec->add_option("-k", ra->k, "items per list (default 10, or the model's largest k when smaller)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 30));
  rec->add_option("--model", ra->model, "llm or student (default: llm when the bundle has it)")
      ->check(CLI::IsMember({"llm", "student"}));
  rec->add_flag("--exclude-history", ra->exclude_history, "leave the history's items out of the lists");
  rec->add_option("--beams", ra->beams, "LLM beams (default: the bundle's, as stage evaluate used)")
      ->check(CLI::Range(int64_t{1}, int64_t{4096}));
  rec->add_option("--batch-size", ra->batch_size, "histories scored together")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  rec->add_option("--threads", ra->threads, "intra-op threads per rank (default: cores / ranks on the node)");
  rec->add_flag("--json", ra->json, "one JSON object instead of a table (with --history)");
  rec->add_flag("--no-verify", ra->no_verify, "skip the sha256 check of the bundle's files");
  rec->callback([ra, exit_code]() {
    guarded(exit_code, [&] { run_recommend(*ra); });
  });
}

}  // namespace grec::launch
