// The trainer's options, declared under a stage's prefix ("sasrec.train", "rqvae.train", ...)
// with defaults chosen by the stage (DESIGN.md "Config and CLI conventions").
#pragma once

#include <cstdint>
#include <string>

namespace grec {
class Config;
class ConfigSchema;
}  // namespace grec

namespace grec::train {

struct TrainOptions {
  int64_t seed = 0;
  int64_t epochs = 10;
  int64_t max_steps = 0;  // > 0 overrides epochs
  int64_t global_batch_size = 256;
  int64_t micro_batch_size = 0;  // per rank; 0 = the whole local batch in one micro-step
  // Optimizer: "adamw" | "adam" | "adagrad" | "sgd".
  std::string optimizer = "adamw";
  bool fused = true;  // adamw: one pass per parameter (train/fused_adamw.h); false = torch::optim's
  double lr = 1e-3;
  double weight_decay = 0.0;
  bool decay_exclude = true;  // no weight decay on biases, norms and embeddings
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double momentum = 0.0;  // sgd
  double grad_clip = 1.0;  // global L2 norm; 0 = off
  // Schedule: "constant" | "linear" | "cosine" | "inverse_sqrt" (all after a linear warm-up).
  std::string schedule = "constant";
  double warmup_steps = 0;  // >= 1: steps; in (0, 1): a fraction of the total steps
  double min_lr_ratio = 0.0;  // floor of linear/cosine decay, as a fraction of lr
  std::string precision = "fp32";  // "fp32" | "bf16" (autocast, fp32 master weights)
  int64_t checkpoint_every = 500;  // steps; 0 = only on stop, on a new best and at the end
  int64_t keep_last = 3;
  std::string resume = "auto";  // "auto" | "never"
  int64_t eval_every = 0;       // steps; 0 = at the end of every epoch
  int64_t log_every = 50;
  int64_t early_stop_patience = 0;  // evaluations without improvement; 0 = off
  std::string nonfinite = "skip";   // "skip" (warn, skip the step) | "abort"
  bool group_by_length = false;     // batches of similar sample length (tasks that report them)
  double bucket_mb = 25.0;          // gradient buckets
  double first_bucket_mb = 1.0;

  static void declare(ConfigSchema& schema, const std::string& prefix,
                      const TrainOptions& defaults);
  static void declare(ConfigSchema& schema, const std::string& prefix);  // the defaults above
  static TrainOptions from_config(const Config& config, const std::string& prefix);
};

}  // namespace grec::train
