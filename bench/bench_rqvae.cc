// RQ-VAE benchmark, one JSON object per line on stdout: epoch time of grec's RQ-VAE training as
// stage rqvae runs it (RQVAETask under the Trainer: forward, backward, gradient sync, clipping,
// the fused AdamW step) vs bench/rqvae_reference.py run as a subprocess on the same data, batch
// size, model and threads; plus k-means initialisation time.
//
//   bench_rqvae --mode quality --dataset dataset.h5 [--codes 32] [--epochs 1000]
//       TF-IDF item embeddings (title, categories, genres, description; 128-d) → RQ-VAE trained
//       by the Trainer with stage rqvae's defaults → sinkhorn collision resolution; prints
//       collisions before/after, utilisation and perplexity per level, topic purity when the
//       dataset has planted topics.
//   bench_rqvae [--items 8192] [--dim 768] [--hidden 512,256,128] [--levels 3] [--codes 256]
//               [--batch 1024] [--epochs 3] [--threads 1] [--python /usr/bin/python3]
//               [--unfused]              (torch::optim::AdamW instead of grec's fused AdamW)
//               [--profile trace.json]   (chrome trace of grec's training, per-op times)
//
// The data is seeded Gaussian mixtures (topics) written to a raw float32 file both sides read.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <numeric>
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
#include "stages/rqvae_task.h"
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
            int64_t dim, const std::string& svd, const std::string& run_dir,
            const std::string& precision) {
  namespace gt = grec::train;
  namespace gs = grec::stages;
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
  o.precision = precision;
  o.warmup_steps = 0.02;
  o.checkpoint_every = 0;
  o.resume = "never";
  o.log_every = 1000;
  const int64_t spe = (n + o.global_batch_size - 1) / o.global_batch_size;
  o.eval_every = 10 * spe;
  gs::RQVAETaskOptions t;
  t.global_batch_size = o.global_batch_size;
  t.dead_code_last_epoch = epochs * 8 / 10;
  const auto t0 = Clock::now();
  gs::RQVAETask task(x, grec::model::RQVAEOptions(dim).levels(levels).codebook_size(codes), t, *comm);
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
                      {"precision", precision},
                      {"best_step", fit.best_step}, {"train_s", seconds_since(t0)},
                      {"kmeans_init_s", task.kmeans_seconds()},
                      {"reseeded_codes", task.reseeded_codes()},
                      {"collision_rate_before", cs.collision_rate_before},
                      {"collision_rate_after", cs.collision_rate_after},
                      {"colliding_after_sinkhorn", cs.colliding_items_after_sinkhorn},
                      {"suffix_level_added", cs.suffix_level_added},
                      {"final_unique_rate", 1.0 - grec::tok::collision_rate(fin)}};
  for (int64_t l = 0; l < levels; ++l) {
    const gs::CodeUsage u = gs::code_usage(q.codes.select(1, l), codes);
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
  std::string hidden = "512,256,128", python = "/usr/bin/python3", precision = "fp32",
              ref_precision = "fp32";
  bool skip_reference = false, unfused = false;
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
  app.add_option("--precision", precision, "grec: fp32 | bf16 (MLPs under autocast)");
  app.add_option("--ref-precision", ref_precision, "reference: fp32 | bf16");
  app.add_flag("--unfused", unfused, "grec with torch::optim::AdamW instead of the fused AdamW");
  app.add_option("--profile", profile_path, "write a chrome trace of the training ops here");
  CLI11_PARSE(app, argc, argv);
  torch::set_num_threads(static_cast<int>(threads));
  if (mode == "quality") return quality(dataset, codes, levels, epochs, tfidf_dim, tfidf_method, run_dir, precision);

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
  // grec's side is what `grec run` executes: RQVAETask under the Trainer (sampler, GradSync,
  // clipping, the configured optimizer), one log line per epoch; epoch time from its samples/s.
  namespace gt = grec::train;
  namespace gs = grec::stages;
  auto comm = grec::dist::make_communicator(torch::kCPU);
  gt::TrainOptions o;
  o.optimizer = "adamw";
  o.fused = !unfused;
  o.precision = precision;
  o.lr = 1e-3;
  o.weight_decay = 1e-4;
  o.decay_exclude = false;
  o.global_batch_size = batch;
  o.epochs = epochs + 1;  // epoch 0 is warm-up, as in the reference
  o.grad_clip = 1.0;
  o.checkpoint_every = 0;
  o.resume = "never";
  const int64_t steps_per_epoch = (items + batch - 1) / batch;
  o.log_every = steps_per_epoch;
  o.eval_every = steps_per_epoch * o.epochs;
  gs::RQVAETaskOptions to;
  to.global_batch_size = batch;
  to.kmeans_iters = kmeans_iters;
  to.dead_code_reseed = false;  // the reference has none
  torch::manual_seed(0);
  gs::RQVAETask task(x, grec::model::RQVAEOptions(dim).encoder_dims(hid).latent_dim(latent)
                            .levels(levels).codebook_size(codes), to, *comm);
  const std::string metrics_path = data_path + ".metrics.jsonl";
  std::vector<double> times;
  double last_loss = 0;
  {
    grec::MetricsWriter metrics(metrics_path);
    gt::Trainer trainer(o, "rqvae", grec::RunDir(run_dir), *comm, metrics, "bench");
    std::unique_ptr<torch::autograd::profiler::RecordProfile> prof;
    if (!profile_path.empty()) {
      prof = std::make_unique<torch::autograd::profiler::RecordProfile>(profile_path);
    }
    trainer.fit(task);
  }
  {
    std::ifstream in(metrics_path);
    std::string line;
    int64_t epoch_lines = 0;
    while (std::getline(in, line)) {
      const nlohmann::json j = nlohmann::json::parse(line);
      if (!j.contains("samples_per_s")) continue;
      if (epoch_lines++ > 0) times.push_back(static_cast<double>(items) / j["samples_per_s"].get<double>());
      last_loss = j["loss"].get<double>();
    }
  }
  std::remove(metrics_path.c_str());
  if (times.empty()) {
    std::cerr << "bench_rqvae: the trainer logged no epochs\n";
    return 1;
  }
  const double kmeans_s = task.kmeans_seconds();
  const double grec_epoch = *std::min_element(times.begin(), times.end());
  nlohmann::json g = {{"impl", "grec"}, {"epoch_s", grec_epoch},
                      {"epoch_s_mean", std::accumulate(times.begin(), times.end(), 0.0) / times.size()},
                      {"kmeans_init_s", kmeans_s}, {"final_loss", last_loss},
                      {"optimizer", o.fused ? "fused adamw" : "torch::optim::AdamW"}};
  std::cout << g.dump() << std::endl;

  nlohmann::json result = {{"bench", "rqvae_epoch"}, {"items", items}, {"dim", dim},
                           {"hidden", hid}, {"latent", latent}, {"levels", levels},
                           {"codes", codes}, {"batch", batch}, {"threads", threads},
                           {"precision", precision}, {"reference_precision", ref_precision},
                           {"grec_epoch_s", grec_epoch}, {"grec_kmeans_init_s", kmeans_s}};
  if (!skip_reference) {
    std::ostringstream cmd;
    cmd << python << " " << GREC_SOURCE_DIR << "/bench/rqvae_reference.py --data " << data_path
        << " --items " << items << " --dim " << dim << " --hidden " << hidden << " --latent "
        << latent << " --levels " << levels << " --codes " << codes << " --batch " << batch
        << " --epochs " << epochs << " --threads " << threads << " --kmeans_iters "
        << kmeans_iters << " --precision " << ref_precision;
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
