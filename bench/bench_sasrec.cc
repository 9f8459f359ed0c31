// SASRec benchmarks, one JSON object per line on stdout.
//
//   bench_sasrec [--data Beauty.txt] [--threads 1] [--steps 30]       training throughput of grec's
//       SASRec (forward + backward + Adam step) vs bench/sasrec_reference.py run as a subprocess on
//       the same data, batches, model and threads; fp32, then bf16 autocast.
//   bench_sasrec --mode quality --data Beauty.txt [--epochs 30]       a plain training loop (no
//       Trainer) with full-ranking validation each epoch; test HR/NDCG/MRR of the best epoch.
//
// The data is an s3rec-style sequence file ("user item item ..." per line), split leave-one-out.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <numeric>
#include <sstream>
#include <unordered_map>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <ATen/autocast_mode.h>
#include <torch/torch.h>

#include "data_pipeline/dataset.h"
#include "data_pipeline/sequence_batches.h"
#include "eval/ranking.h"
#include "model/sasrec.h"
#include "model/sasrec_loss.h"

namespace {

using grec::data::Dataset;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// "user item item ..." lines -> Dataset with a leave-one-out split (items by first appearance).
Dataset read_seqtxt(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  Dataset d;
  std::unordered_map<std::string, int64_t> item_index;
  d.seq_offsets.push_back(0);
  std::string line, tok;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string user;
    if (!(ls >> user)) continue;
    d.user_raw_ids.push_back(user);
    while (ls >> tok) {
      auto [it, fresh] = item_index.emplace(tok, static_cast<int64_t>(d.item_raw_ids.size()));
      if (fresh) d.item_raw_ids.push_back(tok);
      d.seq_items.push_back(it->second);
    }
    d.seq_offsets.push_back(static_cast<int64_t>(d.seq_items.size()));
    const int64_t len = d.seq_offsets.back() - d.seq_offsets[d.seq_offsets.size() - 2];
    d.train_end.push_back(std::max<int64_t>(0, len - 2));
    d.valid_end.push_back(std::max<int64_t>(0, len - 1));
  }
  return d;
}

torch::Tensor as_tensor(const std::vector<int64_t>& v, std::vector<int64_t> shape) {
  return torch::from_blob(const_cast<int64_t*>(v.data()), shape, torch::kLong).clone();
}

std::vector<grec::eval::RankingCase> cases_for(const Dataset& d, const std::string& split) {
  std::vector<grec::eval::RankingCase> cases;
  for (int64_t u = 0; u < d.num_users(); ++u) {
    const int64_t end = split == "valid" ? d.train_end[u] : d.valid_end[u];
    if (end < 1 || end >= d.length(u)) continue;
    grec::eval::RankingCase c;
    c.history.assign(d.sequence(u), d.sequence(u) + end);
    c.target = d.sequence(u)[end];
    cases.push_back(std::move(c));
  }
  return cases;
}

nlohmann::json evaluate(grec::model::SASRec& model, const std::vector<grec::eval::RankingCase>& cases,
                        int64_t max_len, bool mask_history) {
  model->eval();
  grec::eval::RankingOptions ro;
  ro.mask_history = mask_history;
  ro.batch_size = 512;
  grec::data::SequenceBatchOptions so;
  so.max_len = max_len;
  auto scorer = [&](const std::vector<const grec::eval::RankingCase*>& batch) {
    std::vector<const std::vector<int64_t>*> hist;
    for (const auto* c : batch) hist.push_back(&c->history);
    auto b = grec::data::make_input_batch(hist, so);
    return model->score_all(as_tensor(b.input, {b.batch, b.width}));
  };
  auto j = grec::eval::full_ranking(cases, scorer, ro, nullptr);
  model->train();
  return j;
}

struct Bench {
  Dataset data;
  std::vector<int64_t> users;
  int64_t batch = 128, max_len = 50, hidden = 64, blocks = 2, heads = 1;
  double dropout = 0.2;
};

torch::Tensor step_loss(grec::model::SASRec& model, const Bench& b, const std::vector<int64_t>& users,
                        grec::model::SASRecLoss loss, int64_t negatives,
                        const std::vector<uint64_t>& seeds) {
  grec::data::SequenceBatchOptions so;
  so.max_len = b.max_len;
  so.num_negatives = negatives;
  auto sb = grec::data::make_train_batch(b.data, users, seeds, so);
  torch::Tensor input = as_tensor(sb.input, {sb.batch, sb.width});
  torch::Tensor target = as_tensor(sb.target, {sb.batch * sb.width});
  auto packed = model->forward_packed(input);
  torch::Tensor t = target.index_select(0, packed.index);
  torch::Tensor neg;
  if (negatives > 0) {
    neg = as_tensor(sb.negatives, {sb.batch * sb.width, negatives}).index_select(0, packed.index);
  }
  return grec::model::sasrec_loss_sum(*model, packed.hidden, t, neg, loss);
}

nlohmann::json run_throughput(const Bench& b, int64_t steps, int64_t warmup, bool bf16) {
  torch::manual_seed(0);
  grec::model::SASRec model(grec::model::SASRecOptions(b.data.num_items())
                                .max_len(b.max_len).hidden(b.hidden).blocks(b.blocks)
                                .heads(b.heads).dropout(b.dropout));
  torch::optim::Adam opt(model->parameters(), torch::optim::AdamOptions(1e-3));
  const int64_t nb = static_cast<int64_t>(b.users.size()) / b.batch;
  double t_total = 0;
  int64_t samples = 0;
  for (int64_t s = 0; s < warmup + steps; ++s) {
    const int64_t k = s % nb;
    std::vector<int64_t> users(b.users.begin() + k * b.batch, b.users.begin() + (k + 1) * b.batch);
    auto t0 = Clock::now();
    opt.zero_grad();
    torch::Tensor loss;
    if (bf16) {
      at::autocast::set_cpu_enabled(true);
      at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
      loss = step_loss(model, b, users, grec::model::SASRecLoss::kCe, 0, {});
      at::autocast::clear_cache();
      at::autocast::set_cpu_enabled(false);
    } else {
      loss = step_loss(model, b, users, grec::model::SASRecLoss::kCe, 0, {});
    }
    (loss / double(b.batch)).backward();
    opt.step();
    if (s >= warmup) {
      t_total += seconds_since(t0);
      samples += b.batch;
    }
  }
  return {{"samples_per_s", samples / t_total}, {"steps", steps}, {"seconds", t_total}};
}

int mode_quality(Bench& b, int64_t epochs, int64_t patience, double lr, const std::string& loss_name,
                 int64_t negatives, bool mask_history, uint64_t seed) {
  torch::manual_seed(seed);
  grec::model::SASRec model(grec::model::SASRecOptions(b.data.num_items())
                                .max_len(b.max_len).hidden(b.hidden).blocks(b.blocks)
                                .heads(b.heads).dropout(b.dropout));
  torch::optim::Adam opt(model->parameters(), torch::optim::AdamOptions(lr).betas({0.9, 0.98}));
  const auto loss = grec::model::parse_sasrec_loss(loss_name);
  auto valid = cases_for(b.data, "valid"), test = cases_for(b.data, "test");
  double best = -1;
  int64_t best_epoch = -1;
  std::stringstream best_state;
  const auto t_start = Clock::now();
  for (int64_t e = 0; e < epochs; ++e) {
    std::vector<int64_t> order = b.users;
    grec::data::SampleRng rng(seed * 1000003ULL + e);
    for (int64_t i = static_cast<int64_t>(order.size()) - 1; i > 0; --i) {
      std::swap(order[i], order[rng.uniform(i + 1)]);
    }
    auto t0 = Clock::now();
    double loss_sum = 0;
    for (size_t s = 0; s < order.size(); s += b.batch) {
      std::vector<int64_t> users(order.begin() + s,
                                 order.begin() + std::min(order.size(), s + b.batch));
      std::vector<uint64_t> seeds;
      for (size_t i = 0; i < users.size(); ++i) seeds.push_back(seed ^ (e << 32) ^ (s + i) * 0x9E37ULL);
      opt.zero_grad();
      torch::Tensor l = step_loss(model, b, users, loss, negatives, seeds) / double(users.size());
      l.backward();
      opt.step();
      loss_sum += l.item<double>() * users.size();
    }
    const double train_s = seconds_since(t0);
    auto v = evaluate(model, valid, b.max_len, mask_history);
    const double score = v["NDCG@10"].get<double>();
    nlohmann::json line = {{"epoch", e + 1}, {"loss", loss_sum / order.size()}, {"train_s", train_s},
                           {"valid", v}};
    std::cerr << line.dump() << std::endl;
    if (score > best) {
      best = score;
      best_epoch = e + 1;
      best_state.str("");
      torch::serialize::OutputArchive ar;
      model->save(ar);
      ar.save_to(best_state);
    } else if (e + 1 - best_epoch >= patience) {
      break;
    }
  }
  torch::serialize::InputArchive ar;
  best_state.seekg(0);
  ar.load_from(best_state);
  model->load(ar);
  nlohmann::json out = {{"bench", "sasrec_quality"},
                        {"loss", loss_name},
                        {"best_epoch", best_epoch},
                        {"valid", evaluate(model, valid, b.max_len, mask_history)},
                        {"test", evaluate(model, test, b.max_len, mask_history)},
                        {"mask_history", mask_history},
                        {"threads", at::get_num_threads()},
                        {"wall_s", seconds_since(t_start)}};
  std::cout << out.dump() << std::endl;
  return 0;
}

nlohmann::json run_reference(const std::string& script, const std::string& data, const Bench& b,
                             int64_t steps, int64_t warmup, int threads, bool bf16) {
  std::string cmd = "/usr/bin/python3 " + script + " --data " + data + " --batch " +
                    std::to_string(b.batch) + " --max-len " + std::to_string(b.max_len) +
                    " --hidden " + std::to_string(b.hidden) + " --blocks " +
                    std::to_string(b.blocks) + " --dropout " + std::to_string(b.dropout) +
                    " --steps " + std::to_string(steps) + " --warmup " + std::to_string(warmup) +
                    " --threads " + std::to_string(threads) + (bf16 ? " --bf16" : "");
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return {{"error", "cannot start " + cmd}};
  std::string out;
  char buf[4096];
  while (fgets(buf, sizeof buf, p)) out += buf;
  const int rc = pclose(p);
  if (rc != 0) return {{"error", "reference exited with " + std::to_string(rc)}};
  return nlohmann::json::parse(out.substr(out.rfind('{')));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"SASRec throughput and quality benchmarks"};
  // The source root, from this file's (absolute, under CMake) path: <root>/bench/bench_sasrec.cc.
  const std::string here = __FILE__;
  const std::string root = here.substr(0, here.rfind("/bench/"));
  std::string mode = "throughput", data = root + "/../shared/datasets/amazon-s3rec/Beauty.txt";
  std::string script = root + "/bench/sasrec_reference.py";
  std::string loss = "ce";
  int threads = 1;
  int64_t steps = 30, warmup = 5, epochs = 30, patience = 5, negatives = 1;
  double lr = 1e-3;
  bool mask_history = false, no_reference = false, no_bf16 = false;
  uint64_t seed = 0;
  Bench b;
  app.add_option("--mode", mode, "throughput | quality");
  app.add_option("--data", data, "s3rec-style sequence file");
  app.add_option("--reference", script, "the Python reference script");
  app.add_option("--threads", threads, "intra-op threads (both sides)");
  app.add_option("--steps", steps);
  app.add_option("--warmup", warmup);
  app.add_option("--batch", b.batch);
  app.add_option("--max-len", b.max_len);
  app.add_option("--hidden", b.hidden);
  app.add_option("--blocks", b.blocks);
  app.add_option("--dropout", b.dropout);
  app.add_option("--epochs", epochs);
  app.add_option("--patience", patience);
  app.add_option("--lr", lr);
  app.add_option("--loss", loss);
  app.add_option("--negatives", negatives);
  app.add_option("--seed", seed);
  app.add_flag("--mask-history", mask_history);
  app.add_flag("--no-reference", no_reference);
  app.add_flag("--no-bf16", no_bf16);
  CLI11_PARSE(app, argc, argv);

  at::set_num_threads(threads);
  b.data = read_seqtxt(data);
  b.users = grec::data::sasrec_train_users(b.data);
  if (mode == "quality") {
    return mode_quality(b, epochs, patience, lr, loss, negatives, mask_history, seed);
  }
  for (bool bf16 : {false, true}) {
    if (bf16 && no_bf16) continue;
    nlohmann::json g = run_throughput(b, steps, warmup, bf16);
    nlohmann::json out = {{"bench", "sasrec_train"},
                          {"precision", bf16 ? "bf16" : "fp32"},
                          {"threads", threads},
                          {"batch", b.batch},
                          {"max_len", b.max_len},
                          {"hidden", b.hidden},
                          {"loss", "ce"},
                          {"grec", g}};
    if (!no_reference) {
      nlohmann::json r = run_reference(script, data, b, steps, warmup, threads, bf16);
      out["reference"] = r;
      if (r.contains("samples_per_s")) {
        out["ratio"] = g["samples_per_s"].get<double>() / r["samples_per_s"].get<double>();
      }
    }
    std::cout << out.dump() << std::endl;
  }
  return 0;
}
