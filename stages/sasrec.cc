// Stage `sasrec`: trains SASRec (ALGORITHMS.md §5) on the training prefixes of dataset.h5 with the
// Trainer, selects the best epoch on the validation split (full ranking), and reports the
// validation and test metrics of those weights in <run>/artifacts/sasrec/results.json.
//
// One sample = one training user: inputs are the last max_len items of the training prefix but
// the final one, and every position predicts its next item. Validation ranks the valid item after
// the training prefix; test ranks the test item after training + valid. The best weights go to
// artifacts/sasrec/model.safetensors + config.json (sasrec_artifact.h): embed's collaborative
// item vectors, and the DEALRec surrogate.
#include <chrono>

#include <torch/torch.h>

#include "core/config.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/hash.h"
#include "core/log.h"
#include "data_pipeline/dataset.h"
#include "data_pipeline/sequence_batches.h"
#include "dist/communicator.h"
#include "dist/sampler.h"
#include "eval/ranking.h"
#include "eval/split_cases.h"
#include "model/sasrec.h"
#include "model/sasrec_loss.h"
#include "stages/sasrec_artifact.h"
#include "stages/sasrec_case_ranks.h"
#include "stages/sasrec_task.h"
#include "stages/stage_list.h"
#include "train/train_options.h"
#include "train/trainer.h"

namespace grec::stages {
namespace {

nlohmann::json run_sasrec(StageContext& ctx) {
  const auto t0 = std::chrono::steady_clock::now();
  const Config& config = ctx.config;
  const std::string path = dataset_path(config);
  data::Dataset dataset = data::read_dataset(path);
  train::TrainOptions options = train::TrainOptions::from_config(config, "sasrec.train");
  SASRecTask task(dataset, config, ctx.comm, static_cast<uint64_t>(options.seed));
  GREC_INFO("sasrec: {} training users, {} items, loss {}, dataset {}", task.num_samples(),
            dataset.num_items(), config.get_string("sasrec.loss"), path);
  train::Trainer trainer(options, "sasrec", ctx.run, ctx.comm, ctx.metrics, config.hash({"sasrec"}));
  train::TrainResult fit = trainer.fit(task);
  // Every case's rank is kept next to the metrics: stage evaluate scores SASRec on exactly the
  // users it samples for the LLM from them.
  nlohmann::json per_case = nlohmann::json::object();
  nlohmann::json split_metrics = nlohmann::json::object();
  for (const char* split : {"valid", "test"}) {
    const bool several = eval::has_several_held_out(task.cases(split));
    std::vector<std::vector<int64_t>> held_out;
    const std::vector<int64_t> ranks = task.ranks(split, several ? &held_out : nullptr);
    std::vector<int64_t> users;
    for (const auto& c : task.cases(split)) users.push_back(c.user);
    per_case[split] = {{"users", users}, {"ranks", ranks}};
    // Presplit data: the ranks of every held-out item too (evaluate's set metrics).
    if (several) per_case[split]["held_out_ranks"] = held_out;
    split_metrics[split] = task.evaluate_from(ranks, several ? &held_out : nullptr);
  }
  const nlohmann::json valid = split_metrics["valid"], test = split_metrics["test"];
  const nlohmann::json popularity = {{"valid", task.evaluate_popularity("valid")},
                                     {"test", task.evaluate_popularity("test")}};
  const double wall_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  nlohmann::json results = {{"valid", valid},
                            {"test", test},
                            {"popularity", popularity},
                            {"mask_history", task.mask_history()},
                            {"loss", config.get_string("sasrec.loss")},
                            {"best_step", fit.best_step},
                            {"steps", fit.steps},
                            {"train_wall_s", fit.wall_s},
                            {"wall_s", wall_s}};
  if (ctx.is_root()) {
    write_file_atomic(ctx.run.artifacts("sasrec") + "/results.json", results.dump(2) + "\n");
    per_case["mask_history"] = task.mask_history();
    write_file_atomic(sasrec_case_ranks_path(ctx.run), per_case.dump() + "\n");
    write_sasrec_artifact(ctx.run, task.model());
    ctx.metrics.write({{"stage", "sasrec"}, {"step", fit.steps}, {"event", "results"},
                       {"valid", valid}, {"test", test}});
  }
  GREC_INFO("sasrec: test HR@10 {:.4f} NDCG@10 {:.4f} MRR {:.4f} (best step {}, {:.0f} s); "
            "popularity HR@10 {:.4f} NDCG@10 {:.4f}",
            test.value("HR@10", 0.0), test.value("NDCG@10", 0.0), test.value("MRR", 0.0),
            fit.best_step, wall_s, popularity["test"].value("HR@10", 0.0),
            popularity["test"].value("NDCG@10", 0.0));
  nlohmann::json summary = {{"best_step", fit.best_step}, {"wall_s", wall_s}};
  for (const char* key : {"HR@10", "NDCG@10"}) {
    if (test.contains(key)) summary[std::string("test_") + key] = test[key];
  }
  summary["popularity_test_HR@10"] = popularity["test"].value("HR@10", 0.0);
  return summary;
}

}  // namespace

Stage make_sasrec_stage() {
  Stage s;
  s.name = "sasrec";
  s.help = "SASRec baseline: train on the training prefixes, full-ranking HR/NDCG/MRR on valid and test";
  s.config_sections = {"sasrec", "data"};
  s.inputs = {"ingest"};
  s.declare = declare_sasrec;
  s.run = run_sasrec;
  return s;
}

}  // namespace grec::stages
