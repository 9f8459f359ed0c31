// Stage `rqvae`: trains the RQ-VAE (ALGORITHMS.md §1) on the embed stage's item embeddings with
// the Trainer (data-parallel over items), picks the checkpoint with the fewest collisions (then
// the lowest loss), assigns every item its nearest-code tuple, resolves collisions (sinkhorn, then
// the suffix backstop) and writes artifacts/rqvae/semantic_ids.h5 + semantic_ids.tsv, a report
// table on stdout and results.json.
#include <chrono>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <map>

#include <fmt/format.h>
#include <torch/torch.h>

#include "core/config.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/h5.h"
#include "core/log.h"
#include "core/table.h"
#include "data_pipeline/dataset.h"
#include "dist/communicator.h"
#include "model/rqvae.h"
#include "tokenizer/collisions.h"
#include "tokenizer/semantic_ids.h"
#include "stages/rqvae_task.h"
#include "stages/stage_list.h"
#include "train/train_options.h"
#include "train/trainer.h"

namespace grec::stages {
namespace {

train::TrainOptions rqvae_train_defaults() {
  // LC-Rec: AdamW lr 1e-3, wd 1e-4, batch 1024, grad clip 1.0, linear warm-up, thousands of
  // epochs. 1000 epochs of the 600-item demo is 1000 steps: a few seconds.
  train::TrainOptions d;
  d.optimizer = "adamw";
  d.lr = 1e-3;
  d.weight_decay = 1e-4;
  d.decay_exclude = false;
  d.global_batch_size = 1024;
  d.epochs = 1000;
  d.grad_clip = 1.0;
  d.warmup_steps = 0.02;
  d.checkpoint_every = 0;
  d.log_every = 100;
  return d;
}

void declare_rqvae(ConfigSchema& s) {
  s.add_int_list("rqvae.encoder_dims", {256, 128},
                 "hidden sizes of the encoder MLP (decoder mirrors it); LC-Rec for 4096-d "
                 "inputs: [2048,1024,512,256,128,64], TIGER for 768-d: [512,256,128]");
  s.add_int("rqvae.latent_dim", 32, "latent and code dimension d");
  s.add_int("rqvae.levels", 3, "residual levels L (LC-Rec 4, TIGER 3)");
  s.add_int("rqvae.codebook_size", 32, "codes per level K (LC-Rec and TIGER: 256; 32 suits the demo)");
  s.add_float("rqvae.beta", 0.25, "commitment weight beta");
  s.add_bool("rqvae.kmeans_init", true,
             "initialise each level's codebook by k-means on the first batch's residuals");
  s.add_int("rqvae.kmeans_iters", 100, "Lloyd iterations of the k-means initialisation");
  s.add_bool("rqvae.dead_code_reseed", true,
             "re-seed codes used by fewer than dead_code_threshold items from the worst-served items");
  s.add_int("rqvae.dead_code_threshold", 1, "a code used by fewer items than this is dead");
  s.add_int("rqvae.dead_code_every", 10, "epochs between dead-code passes");
  s.add_float("rqvae.dead_code_until", 0.8,
              "fraction of the epochs after which re-seeding stops, so codes settle");
  s.add_bool("rqvae.ema", false, "EMA codebook updates instead of the codebook loss");
  s.add_float("rqvae.ema_decay", 0.99, "EMA decay gamma");
  s.add_choice("rqvae.collisions.method", "sinkhorn", {"sinkhorn", "suffix"},
               "collision resolution: sinkhorn (LC-Rec) re-assigns colliding items' last code, "
               "then a suffix level (TIGER) makes any rest unique; suffix: the suffix level only. "
               "The written IDs are always unique");
  s.add_float("rqvae.collisions.epsilon", 0.003, "sinkhorn epsilon (LC-Rec 0.003)");
  s.add_int("rqvae.collisions.iterations", 50, "sinkhorn normalisation iterations");
  s.add_int("rqvae.collisions.rounds", 20, "sinkhorn rounds over the colliding groups");
  s.add_int("rqvae.report_every", 10,
            "epochs between evaluations (loss, utilisation, perplexity, collisions) when "
            "rqvae.train.eval_every is 0");
  train::TrainOptions::declare(s, "rqvae.train", rqvae_train_defaults());
}

torch::Tensor read_embeddings(const std::string& path) {
  if (!std::filesystem::exists(path)) {
    user_error("rqvae: {} does not exist; run the embed stage first", path);
  }
  h5::File f = h5::File::open(path);
  if (!f.exists("/embeddings")) user_error("rqvae: {} has no dataset /embeddings", path);
  const std::vector<uint64_t> shape = f.shape("/embeddings");
  std::vector<float> v = f.read_f32("/embeddings");
  std::vector<int64_t> dims(shape.begin(), shape.end());
  if (dims.size() != 2) {
    torch::Tensor flat = torch::from_blob(v.data(), {static_cast<int64_t>(v.size())}, torch::kFloat);
    check_embeddings(flat, -1, path + ":/embeddings");  // names the bad shape
  }
  return torch::from_blob(v.data(), dims, torch::kFloat).clone();
}

std::string fmt_fixed(double v, int digits) { return fmt::format("{:.{}f}", v, digits); }

// Share of items whose first-level code's majority topic is their own topic.
double first_code_purity(const torch::Tensor& codes, const std::vector<int64_t>& topic) {
  std::map<int64_t, std::map<int64_t, int64_t>> by_code;
  const torch::Tensor first = codes.select(1, 0).contiguous();
  for (int64_t i = 0; i < first.size(0); ++i) ++by_code[first[i].item<int64_t>()][topic[i]];
  int64_t hit = 0;
  for (auto& [code, topics] : by_code) {
    int64_t best = 0;
    for (auto& [t, c] : topics) best = std::max(best, c);
    hit += best;
  }
  return static_cast<double>(hit) / static_cast<double>(first.size(0));
}

// The trainer's, the model's and the task's options from the rqvae.* keys, for `n` items of
// dimension `dim` on `world` ranks.
struct RQVAESetup {
  train::TrainOptions train;
  model::RQVAEOptions model{1};
  RQVAETaskOptions task;
};

RQVAESetup rqvae_setup(const Config& config, int64_t n, int64_t dim, int world) {
  RQVAESetup s;
  train::TrainOptions& options = s.train;
  options = train::TrainOptions::from_config(config, "rqvae.train");
  options.global_batch_size = std::min(options.global_batch_size, n);
  const int64_t steps_per_epoch = (n + options.global_batch_size - 1) / options.global_batch_size;
  const int64_t report_every = config.get_int("rqvae.report_every");
  if (options.eval_every == 0 && report_every > 0) options.eval_every = report_every * steps_per_epoch;

  const int64_t L = config.get_int("rqvae.levels"), K = config.get_int("rqvae.codebook_size");
  if (L < 1) user_error("config key 'rqvae.levels' must be >= 1 ({})", config.origin("rqvae.levels"));
  if (K < 2) user_error("config key 'rqvae.codebook_size' must be >= 2 ({})", config.origin("rqvae.codebook_size"));
  s.model = model::RQVAEOptions(dim);
  s.model.encoder_dims(config.get_int_list("rqvae.encoder_dims"))
      .latent_dim(config.get_int("rqvae.latent_dim"))
      .levels(L)
      .codebook_size(K)
      .beta(config.get_float("rqvae.beta"))
      .ema(config.get_bool("rqvae.ema"))
      .ema_decay(config.get_float("rqvae.ema_decay"));
  if (s.model.ema() && world > 1 && options.micro_batch_size > 0) {
    user_error("rqvae.ema needs 'rqvae.train.micro_batch_size' = 0 with several ranks ({}): EMA "
               "statistics are summed over ranks once per step",
               config.origin("rqvae.train.micro_batch_size"));
  }
  RQVAETaskOptions& to = s.task;
  to.kmeans_init = config.get_bool("rqvae.kmeans_init");
  to.kmeans_iters = config.get_int("rqvae.kmeans_iters");
  to.dead_code_reseed = config.get_bool("rqvae.dead_code_reseed");
  to.dead_code_threshold = config.get_int("rqvae.dead_code_threshold");
  to.dead_code_every = config.get_int("rqvae.dead_code_every");
  const int64_t epochs = options.max_steps > 0
                             ? (options.max_steps + steps_per_epoch - 1) / steps_per_epoch
                             : options.epochs;
  to.dead_code_last_epoch =
      static_cast<int64_t>(std::floor(config.get_float("rqvae.dead_code_until") * epochs));
  to.global_batch_size = options.global_batch_size;
  to.seed = static_cast<uint64_t>(options.seed);
  return s;
}

// The trained model's codes made unique (rqvae.collisions.*), as the semantic_ids.h5 record.
tok::SemanticIds resolve_ids(RQVAETask& task, const Config& config, const model::Quantized& q,
                             tok::CollisionStats* cs) {
  tok::CollisionOptions co;
  co.method = config.get_string("rqvae.collisions.method");
  co.epsilon = config.get_float("rqvae.collisions.epsilon");
  co.iterations = config.get_int("rqvae.collisions.iterations");
  co.rounds = config.get_int("rqvae.collisions.rounds");
  const torch::Tensor final_codes =
      tok::resolve_collisions(q.codes, q.last_distances, co, cs).to(torch::kLong).contiguous();
  // Every later stage names items by these tuples: a duplicate would make two items one.
  GREC_CHECK(cs->collision_rate_after == 0.0, "rqvae: semantic IDs not unique after resolution");

  const model::RQVAEOptions& mo = task.model()->options();
  const int64_t L = mo.levels(), K = mo.codebook_size();
  tok::SemanticIds ids;
  ids.items = final_codes.size(0);
  ids.levels = final_codes.size(1);
  ids.codes.assign(final_codes.data_ptr<int64_t>(), final_codes.data_ptr<int64_t>() + final_codes.numel());
  ids.rq_levels = L;
  ids.codebook_size = K;
  ids.code_dim = mo.latent_dim();
  for (int64_t l = 0; l < ids.levels; ++l) {
    ids.level_sizes.push_back(l < L ? K : final_codes.select(1, l).max().item<int64_t>() + 1);
  }
  const torch::Tensor books = task.model()->codebooks().detach().contiguous();
  for (int64_t l = 0; l < L; ++l) {
    const torch::Tensor b = books[l].contiguous();
    ids.codebooks.emplace_back(b.data_ptr<float>(), b.data_ptr<float>() + b.numel());
  }
  ids.method = co.method;
  ids.config = {{"rqvae", config.dump({"rqvae"})}};
  return ids;
}

// results.json: code usage per level, collisions, and the semantic sanity figures.
nlohmann::json rqvae_report(const RQVAETask& task, const torch::Tensor& x,
                            const model::Quantized& q, const tok::SemanticIds& ids,
                            const tok::CollisionStats& cs, const nlohmann::json& valid,
                            const train::TrainResult& fit, const data::Dataset* dataset,
                            uint64_t seed) {
  const int64_t n = x.size(0), L = ids.rq_levels, K = ids.codebook_size;
  nlohmann::json per_level = nlohmann::json::array();
  for (int64_t l = 0; l < L; ++l) {
    const CodeUsage u = code_usage(q.codes.select(1, l), K);
    per_level.push_back({{"level", l}, {"utilisation", u.utilisation}, {"perplexity", u.perplexity}});
  }
  const nlohmann::json collisions = {{"method", ids.method},
                               {"collision_rate_before", cs.collision_rate_before},
                               {"colliding_items_before", cs.colliding_items_before},
                               {"max_group_before", cs.max_group_before},
                               {"colliding_items_after_sinkhorn", cs.colliding_items_after_sinkhorn},
                               {"collision_rate_after", cs.collision_rate_after},
                               {"suffix_level_added", cs.suffix_level_added},
                               {"suffix_max", cs.suffix_max}};
  nlohmann::json results = {{"items", n},
                            {"levels", L},
                            {"codebook_size", K},
                            {"levels_total", ids.levels},
                            {"valid", valid},
                            {"per_level", per_level},
                            {"collisions", collisions},
                            {"kmeans_init_s", task.kmeans_seconds()},
                            {"reseeded_codes", task.reseeded_codes()},
                            {"best_step", fit.best_step},
                            {"steps", fit.steps},
                            {"train_wall_s", fit.wall_s}};
  // Semantic sanity: items sharing a first code should be closer in text-embedding space.
  std::vector<float> flat(x.data_ptr<float>(), x.data_ptr<float>() + x.numel());
  double not_sharing = NAN;
  results["cosine_sharing_first_code"] =
      tok::mean_cosine_sharing_first_code(flat, n, x.size(1), ids, &not_sharing, seed);
  results["cosine_not_sharing_first_code"] = not_sharing;
  if (dataset && dataset->item_ints.count("topic")) {
    const auto& topic = dataset->item_ints.at("topic");
    std::map<int64_t, int64_t> sizes;
    for (int64_t t : topic) ++sizes[t];
    int64_t largest = 0;
    for (auto& [t, c] : sizes) largest = std::max(largest, c);
    results["topic_purity_first_code"] = first_code_purity(q.codes, topic);
    results["topics"] = static_cast<int64_t>(sizes.size());
    results["largest_topic_share"] = static_cast<double>(largest) / static_cast<double>(n);
  }
  return results;
}

// The report table on stdout (rank 0).
void print_rqvae_table(const nlohmann::json& results, const tok::CollisionStats& cs) {
  const nlohmann::json& valid = results["valid"];
  Table t({"figure", "value"});
  t.add_row({"items", results["items"].dump()});
  t.add_row({"levels x codes", fmt::format("{} x {}{}", results["levels"].get<int64_t>(),
                                           results["codebook_size"].get<int64_t>(),
                                           cs.suffix_level_added ? " + suffix" : "")});
  t.add_row({"collision rate before", fmt_fixed(cs.collision_rate_before, 4)});
  t.add_row({"collision rate after", fmt_fixed(cs.collision_rate_after, 4)});
  for (const auto& pl : results["per_level"]) {
    t.add_row({fmt::format("level {} utilisation / perplexity", pl["level"].get<int64_t>()),
               fmt::format("{:.3f} / {:.1f}", pl["utilisation"].get<double>(),
                           pl["perplexity"].get<double>())});
  }
  t.add_row({"recon / quant loss", fmt::format("{:.4f} / {:.4f}", valid["recon_loss"].get<double>(),
                                               valid["quant_loss"].get<double>())});
  if (results["cosine_sharing_first_code"].is_number()) {
    t.add_row({"cosine sharing / not sharing 1st code",
               fmt::format("{:.3f} / {:.3f}", results["cosine_sharing_first_code"].get<double>(),
                           results["cosine_not_sharing_first_code"].is_number()
                               ? results["cosine_not_sharing_first_code"].get<double>()
                               : NAN)});
  }
  if (results.contains("topic_purity_first_code")) {
    t.add_row({"topic purity of 1st code (largest topic share)",
               fmt::format("{:.3f} ({:.3f})", results["topic_purity_first_code"].get<double>(),
                           results["largest_topic_share"].get<double>())});
  }
  t.add_row({"k-means init s", fmt_fixed(results["kmeans_init_s"].get<double>(), 3)});
  std::cout << "rqvae\n" << t.render() << std::flush;
}

nlohmann::json run_rqvae(StageContext& ctx) {
  const auto t0 = std::chrono::steady_clock::now();
  const Config& config = ctx.config;
  const std::string emb_path = ctx.run.artifacts("embed") + "/embeddings.h5";
  torch::Tensor x = read_embeddings(emb_path);
  // The dataset supplies titles for the TSV and the planted topics for purity (synthetic data).
  std::unique_ptr<data::Dataset> dataset;
  const std::string ds_path = dataset_path(config);
  if (std::filesystem::exists(ds_path)) dataset = std::make_unique<data::Dataset>(data::read_dataset(ds_path));
  check_embeddings(x, dataset ? dataset->num_items() : -1, emb_path + ":/embeddings");
  const int64_t n = x.size(0);

  // Train, keep the selected weights' codes.
  const RQVAESetup setup = rqvae_setup(config, n, x.size(1), ctx.comm.world());
  RQVAETask task(x, setup.model, setup.task, ctx.comm);
  GREC_INFO("rqvae: {} items x {} dims, L={} K={} latent {}, batch {}, k-means init {:.2f} s",
            n, x.size(1), setup.model.levels(), setup.model.codebook_size(),
            setup.model.latent_dim(), setup.train.global_batch_size, task.kmeans_seconds());
  train::Trainer trainer(setup.train, "rqvae", ctx.run, ctx.comm, ctx.metrics, config.hash({"rqvae"}));
  const train::TrainResult fit = trainer.fit(task);
  const nlohmann::json valid = task.evaluate("valid");
  task.model()->eval();
  const model::Quantized q = task.model()->quantize(task.embeddings());

  // Unique IDs, the report, the files.
  tok::CollisionStats cs;
  tok::SemanticIds ids = resolve_ids(task, config, q, &cs);
  nlohmann::json results =
      rqvae_report(task, x, q, ids, cs, valid, fit, dataset.get(), setup.task.seed);
  ids.stats = results["collisions"];
  ids.stats["report"] = results;
  results["wall_s"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (ctx.is_root()) {
    const std::string dir = ctx.run.artifacts("rqvae");
    tok::write_semantic_ids(ids, dir + "/semantic_ids.h5");
    tok::write_semantic_ids_tsv(ids, dataset.get(), dir + "/semantic_ids.tsv");
    write_file_atomic(dir + "/results.json", results.dump(2) + "\n");
    ctx.metrics.write({{"stage", "rqvae"}, {"step", fit.steps}, {"event", "results"},
                       {"valid", valid}, {"collisions", results["collisions"]}});
    print_rqvae_table(results, cs);
  }
  GREC_INFO("rqvae: collisions {:.4f} -> {:.4f}, best step {}, {:.1f} s", cs.collision_rate_before,
            cs.collision_rate_after, fit.best_step, results["wall_s"].get<double>());
  nlohmann::json summary = {{"collision_rate_before", cs.collision_rate_before},
                            {"collision_rate_after", cs.collision_rate_after},
                            {"levels_total", ids.levels},
                            {"wall_s", results["wall_s"]}};
  for (const auto& pl : results["per_level"]) {
    summary["utilisation_l" + pl["level"].dump()] = pl["utilisation"];
  }
  if (results.contains("topic_purity_first_code")) summary["topic_purity"] = results["topic_purity_first_code"];
  return summary;
}

}  // namespace

Stage make_rqvae_stage() {
  Stage s;
  s.name = "rqvae";
  s.help = "RQ-VAE semantic item IDs: train on item embeddings, resolve collisions, write semantic_ids.h5";
  s.config_sections = {"rqvae", "data"};
  s.inputs = {"embed"};
  s.declare = declare_rqvae;
  s.run = run_rqvae;
  return s;
}

}  // namespace grec::stages
