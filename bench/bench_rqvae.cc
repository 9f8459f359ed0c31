// RQ-VAE benchmark, one JSON object per line on stdout: epoch time of grec's RQ-VAE (forward,
// backward, grad clip, AdamW step over every batch of an epoch) vs bench/rqvae_reference.py run
// as a subprocess on the same data, batches, model and threads; plus k-means initialisation time.
//
//   bench_rqvae --mode quality --dataset dataset.h5 [--codes 32] [--epochs 1000]
//       TF-IDF item embeddings (title, categories, genres, description; 128-d) → RQ-VAE trained
//       by the Trainer with stage rqvae's defaults → sinkhorn collision resolution; prints
//       collisions before/after, utilisation and perplexity per level, topic purity when the
//       dataset has planted topics.
//   bench_rqvae [--items 8192] [--dim 768] [--hidden 512,256,128] [--levels 3] [--codes 256]
//               [--batch 1024] [--epochs 3] [--threads 1] [--python /usr/bin/python3]
//               [--profile trace.json]   (chrome trace of grec's last epoch, per-op times)
//
// The data is seeded Gaussian mixtures (topics) written to a raw float32 file both sides read.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <numeric>
#include <random>
#include <sstream>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <torch/csrc/autograd/profiler_legacy.h>
#include <torch/torch.h>

#include "data_pipeline/dataset.h"
#include "data_pipeline/item_text.h"
#include "data_pipeline/tfidf.h"
#include "dist/communicator.h"
#include "model/rqvae.h"
#include "tokenizer/collisions.h"
#include "train/rqvae_task.h"
#include "train/trainer.h"

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

std::string run_capture(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  while (fgets(buf, sizeof buf, p)) out += buf;
  pclose(p);
  return out;
}

int quality(const std::string& dataset_path, int64_t codes, int64_t levels, int64_t epochs,
            int64_t dim, const std::string& svd, const std::string& run_dir) {
  namespace gt = grec::train;
  const grec::data::Dataset ds = grec::data::read_dataset(dataset_path);
  grec::data::TfidfOptions to;
  to.dim = dim;
  to.method = svd;
  const auto texts = grec::data::build_item_texts(ds, grec::data::default_item_text_fields());
  std::vector<float> emb = grec::data::tfidf_embed(texts, to);
  const int64_t n = ds.num_items();
  torch::Tensor x = torch::from_blob(emb.data(), {n, dim}, torch::kFloat).clone();
  auto comm = grec::dist::make_communicator(torch::kCPU);
  gt::TrainOptions o;
  o.optimizer = "adamw";
  o.lr = 1e-3;
  o.weight_decay = 1e-4;
  o.decay_exclude = false;
  o.global_batch_size = std::min<int64_t>(1024, n);
  o.epochs = epochs;
  o.grad_clip = 1.0;
  o.warmup_steps = 0.02;
  o.checkpoint_every = 0;
  o.resume = "never";
  o.log_every = 1000;
  const int64_t spe = (n + o.global_batch_size - 1) / o.global_batch_size;
  o.eval_every = 10 * spe;
  gt::RQVAETaskOptions t;
  t.global_batch_size = o.global_batch_size;
  t.dead_code_last_epoch = epochs * 8 / 10;
  const auto t0 = Clock::now();
  gt::RQVAETask task(x, grec::model::RQVAEOptions(dim).levels(levels).codebook_size(codes), t, *comm);
  grec::MetricsWriter metrics;
  gt::Trainer trainer(o, "rqvae", grec::RunDir(run_dir), *comm, metrics, "bench");
  const gt::TrainResult fit = trainer.fit(task);
  task.model()->eval();
  const grec::model::Quantized q = task.model()->quantize(x);
  grec::tok::CollisionOptions co;
  grec::tok::CollisionStats cs;
  const torch::Tensor fin = grec::tok::resolve_collisions(q.codes, q.last_distances, co, &cs);
  nlohmann::json r = {{"bench", "rqvae_quality"}, {"dataset", dataset_path}, {"items", n},
                      {"levels", levels}, {"codes", codes}, {"epochs", epochs},
                      {"best_step", fit.best_step}, {"train_s", seconds_since(t0)},
                      {"kmeans_init_s", task.kmeans_seconds()},
                      {"reseeded_codes", task.reseeded_codes()},
                      {"collision_rate_before", cs.collision_rate_before},
                      {"collision_rate_after", cs.collision_rate_after},
                      {"colliding_after_sinkhorn", cs.colliding_items_after_sinkhorn},
                      {"suffix_level_added", cs.suffix_level_added},
                      {"final_unique_rate", 1.0 - grec::tok::collision_rate(fin)}};
  for (int64_t l = 0; l < levels; ++l) {
    const gt::CodeUsage u = gt::code_usage(q.codes.select(1, l), codes);
    r["utilisation_l" + std::to_string(l)] = u.utilisation;
    r["perplexity_l" + std::to_string(l)] = u.perplexity;
  }
  if (ds.item_ints.count("topic")) {
    const auto& topic = ds.item_ints.at("topic");
    std::map<int64_t, std::map<int64_t, int64_t>> by;
    std::map<int64_t, int64_t> sizes;
    for (int64_t i = 0; i < n; ++i) {
      ++by[q.codes[i][0].item<int64_t>()][topic[i]];
      ++sizes[topic[i]];
    }
    int64_t hit = 0, largest = 0;
    for (auto& [c, m] : by) {
      int64_t b = 0;
      for (auto& [tt, k] : m) b = std::max(b, k);
      hit += b;
    }
    for (auto& [tt, k] : sizes) largest = std::max(largest, k);
    r["topics"] = sizes.size();
    r["topic_purity_first_code"] = static_cast<double>(hit) / n;
    r["largest_topic_share"] = static_cast<double>(largest) / n;
  }
  std::cout << r.dump() << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"RQ-VAE epoch time: grec vs plain PyTorch"};
  int64_t items = 8192, dim = 768, levels = 3, codes = 256, batch = 1024, epochs = 3, threads = 1,
          latent = 32, kmeans_iters = 20;
  std::string hidden = "512,256,128", python = "/usr/bin/python3";
  bool skip_reference = false;
  std::string profile_path;
  std::string mode = "speed", dataset, tfidf_method = "projection", run_dir = "/tmp/grec_bench_rqvae_run";
  int64_t tfidf_dim = 128;
  app.add_option("--mode", mode, "speed | quality");
  app.add_option("--dataset", dataset, "quality: dataset.h5");
  app.add_option("--tfidf-dim", tfidf_dim);
  app.add_option("--tfidf-method", tfidf_method, "projection | svd");
  app.add_option("--run-dir", run_dir);
  app.add_option("--items", items);
  app.add_option("--dim", dim);
  app.add_option("--hidden", hidden);
  app.add_option("--latent", latent);
  app.add_option("--levels", levels);
  app.add_option("--codes", codes);
  app.add_option("--batch", batch);
  app.add_option("--epochs", epochs);
  app.add_option("--threads", threads);
  app.add_option("--kmeans-iters", kmeans_iters);
  app.add_option("--python", python);
  app.add_flag("--skip-reference", skip_reference);
  app.add_option("--profile", profile_path, "write a chrome trace of the last epoch's ops here");
  CLI11_PARSE(app, argc, argv);
  torch::set_num_threads(static_cast<int>(threads));
  if (mode == "quality") return quality(dataset, codes, levels, epochs, tfidf_dim, tfidf_method, run_dir);

  // Data: 64 topic centres + noise, L2-normalised like text embeddings.
  torch::manual_seed(1);
  const torch::Tensor centres = torch::randn({64, dim});
  const torch::Tensor topic = torch::randint(64, {items}, torch::kLong);
  torch::Tensor x = centres.index_select(0, topic) + 0.7 * torch::randn({items, dim});
  x = (x / x.norm(2, 1, true)).contiguous();
  const std::string data_path = "/tmp/grec_bench_rqvae_" + std::to_string(::getpid()) + ".f32";
  {
    std::ofstream f(data_path, std::ios::binary);
    f.write(reinterpret_cast<const char*>(x.data_ptr<float>()), x.numel() * sizeof(float));
  }
  std::vector<int64_t> hid;
  {
    std::stringstream ss(hidden);
    std::string t;
    while (std::getline(ss, t, ',')) if (!t.empty()) hid.push_back(std::stoll(t));
  }
  // The same permutation the reference uses is not needed bit-for-bit: both walk contiguous
  // blocks of a fixed permutation, so batch sizes and counts match.
  std::vector<int64_t> perm(items);
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), std::mt19937_64(0));
  const torch::Tensor permt = torch::tensor(perm, torch::kLong);

  torch::manual_seed(0);
  grec::model::RQVAE model(grec::model::RQVAEOptions(dim).encoder_dims(hid).latent_dim(latent)
                               .levels(levels).codebook_size(codes));
  auto t0 = Clock::now();
  model->init_codebooks_kmeans(x.index_select(0, permt.slice(0, 0, batch)), kmeans_iters, 0);
  const double kmeans_s = seconds_since(t0);

  torch::optim::AdamW opt(model->parameters(),
                          torch::optim::AdamWOptions(1e-3).weight_decay(1e-4));
  std::vector<double> times;
  double last_loss = 0;
  for (int64_t e = 0; e <= epochs; ++e) {
    std::unique_ptr<torch::autograd::profiler::RecordProfile> prof;
    if (!profile_path.empty() && e == epochs) {
      prof = std::make_unique<torch::autograd::profiler::RecordProfile>(profile_path);
    }
    t0 = Clock::now();
    for (int64_t s = 0; s < items; s += batch) {
      const torch::Tensor idx = permt.slice(0, s, std::min(items, s + batch));
      const grec::model::RQVAEOutput out = model->forward(x.index_select(0, idx));
      // Gradients reset to none, as the Trainer does (trainer.cc) and as the reference does
      // (zero_grad(set_to_none=True)); LibTorch 1.13's zero_grad() zero-fills instead, which
      // costs a fill plus an accumulate per parameter that neither side really has.
      for (auto& p : model->parameters()) p.mutable_grad() = torch::Tensor();
      const torch::Tensor loss = out.loss_sum() / static_cast<double>(idx.size(0));
      loss.backward();
      torch::nn::utils::clip_grad_norm_(model->parameters(), 1.0);
      opt.step();
      last_loss = loss.item<double>();
    }
    if (e > 0) times.push_back(seconds_since(t0));
  }
  const double grec_epoch = *std::min_element(times.begin(), times.end());
  nlohmann::json g = {{"impl", "grec"}, {"epoch_s", grec_epoch},
                      {"epoch_s_mean", std::accumulate(times.begin(), times.end(), 0.0) / times.size()},
                      {"kmeans_init_s", kmeans_s}, {"final_loss", last_loss}};
  std::cout << g.dump() << std::endl;

  nlohmann::json result = {{"bench", "rqvae_epoch"}, {"items", items}, {"dim", dim},
                           {"hidden", hid}, {"latent", latent}, {"levels", levels},
                           {"codes", codes}, {"batch", batch}, {"threads", threads},
                           {"grec_epoch_s", grec_epoch}, {"grec_kmeans_init_s", kmeans_s}};
  if (!skip_reference) {
    std::ostringstream cmd;
    cmd << python << " " << GREC_SOURCE_DIR << "/bench/rqvae_reference.py --data " << data_path
        << " --items " << items << " --dim " << dim << " --hidden " << hidden << " --latent "
        << latent << " --levels " << levels << " --codes " << codes << " --batch " << batch
        << " --epochs " << epochs << " --threads " << threads << " --kmeans_iters "
        << kmeans_iters;
    const std::string out = run_capture(cmd.str());
    try {
      const nlohmann::json ref = nlohmann::json::parse(out.substr(out.find('{')));
      result["pytorch_epoch_s"] = ref["epoch_s"];
      result["pytorch_kmeans_init_s"] = ref["kmeans_init_s"];
      result["ratio"] = ref["epoch_s"].get<double>() / grec_epoch;  // > 1: grec faster
    } catch (const std::exception& e) {
      result["reference_error"] = out.empty() ? std::string("no output") : out;
    }
  }
  std::remove(data_path.c_str());
  std::cout << result.dump() << std::endl;
  return 0;
}
