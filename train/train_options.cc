// Config keys of the trainer (train/train_options.h).
#include "train/train_options.h"

#include "core/config.h"
#include "core/error.h"

namespace grec::train {

void TrainOptions::declare(ConfigSchema& s, const std::string& prefix, const TrainOptions& d) {
  const auto k = [&](const char* key) { return prefix + "." + key; };
  s.add_int(k("seed"), d.seed, "seed of initialisation, sample order and per-sample randomness");
  s.add_int(k("epochs"), d.epochs, "passes over the training samples");
  s.add_int(k("max_steps"), d.max_steps, "optimizer steps; > 0 overrides epochs");
  s.add_int(k("global_batch_size"), d.global_batch_size,
            "samples per optimizer step over all ranks");
  s.add_int(k("micro_batch_size"), d.micro_batch_size,
            "samples per forward/backward on one rank (gradient accumulation); 0 = the whole "
            "local batch");
  s.add_choice(k("optimizer"), d.optimizer, {"adamw", "adam", "adagrad", "sgd"}, "optimizer");
  s.add_bool(k("fused"), d.fused,
             "adamw: update each float32 CPU parameter in one fused pass (same rule as "
             "torch::optim::AdamW, fewer passes over memory); false = torch::optim's step");
  s.add_float(k("lr"), d.lr, "peak learning rate");
  s.add_float(k("weight_decay"), d.weight_decay,
              "weight decay (decoupled for adamw, L2 for the others)");
  s.add_bool(k("decay_exclude"), d.decay_exclude,
             "exempt biases, normalisation weights and embeddings from weight decay");
  s.add_float(k("beta1"), d.beta1, "adam/adamw beta1");
  s.add_float(k("beta2"), d.beta2, "adam/adamw beta2");
  s.add_float(k("eps"), d.eps, "adam/adamw/adagrad epsilon");
  s.add_float(k("momentum"), d.momentum, "sgd momentum");
  s.add_float(k("grad_clip"), d.grad_clip, "clip the global gradient L2 norm to this; 0 = off");
  s.add_choice(k("schedule"), d.schedule, {"constant", "linear", "cosine", "inverse_sqrt"},
               "learning-rate schedule after the linear warm-up");
  s.add_float(k("warmup_steps"), d.warmup_steps,
              "steps of linear warm-up from 0 to lr; a value in (0, 1) is a fraction of the "
              "total steps");
  s.add_float(k("min_lr_ratio"), d.min_lr_ratio,
              "linear/cosine decay ends at lr * min_lr_ratio");
  s.add_choice(k("precision"), d.precision, {"fp32", "bf16"},
               "bf16 = autocast to bfloat16 with fp32 master weights");
  s.add_bool(k("group_by_length"), d.group_by_length,
             "compose each global batch of samples of similar length (sorted within megabatches "
             "of 50 batches, batches shuffled): less padding on every rank; for tasks that report "
             "sample lengths (align)");
  s.add_int(k("checkpoint_every"), d.checkpoint_every,
            "steps between checkpoints; 0 = only on a new best, on SIGTERM and at the end");
  s.add_int(k("keep_last"), d.keep_last, "checkpoints kept besides the best one");
  s.add_choice(k("resume"), d.resume, {"auto", "never"},
               "auto = continue from the latest complete checkpoint");
  s.add_int(k("eval_every"), d.eval_every,
            "steps between validations; 0 = at the end of every epoch");
  s.add_int(k("log_every"), d.log_every, "steps between metrics.jsonl records");
  s.add_int(k("early_stop_patience"), d.early_stop_patience,
            "stop after this many validations without improvement; 0 = never");
  s.add_choice(k("nonfinite"), d.nonfinite, {"skip", "abort"},
               "on a NaN/Inf gradient: skip the step with a warning, or stop the job");
  s.add_float(k("bucket_mb"), d.bucket_mb, "size of the gradient all-reduce buckets (MiB)");
  s.add_float(k("first_bucket_mb"), d.first_bucket_mb,
              "size of the first gradient bucket (MiB), small so that it starts early");
}

void TrainOptions::declare(ConfigSchema& schema, const std::string& prefix) {
  declare(schema, prefix, TrainOptions());
}

TrainOptions TrainOptions::from_config(const Config& c, const std::string& prefix) {
  const auto k = [&](const char* key) { return prefix + "." + key; };
  TrainOptions o;
  o.seed = c.get_int(k("seed"));
  o.epochs = c.get_int(k("epochs"));
  o.max_steps = c.get_int(k("max_steps"));
  o.global_batch_size = c.get_int(k("global_batch_size"));
  o.micro_batch_size = c.get_int(k("micro_batch_size"));
  o.optimizer = c.get_string(k("optimizer"));
  o.fused = c.get_bool(k("fused"));
  o.lr = c.get_float(k("lr"));
  o.weight_decay = c.get_float(k("weight_decay"));
  o.decay_exclude = c.get_bool(k("decay_exclude"));
  o.beta1 = c.get_float(k("beta1"));
  o.beta2 = c.get_float(k("beta2"));
  o.eps = c.get_float(k("eps"));
  o.momentum = c.get_float(k("momentum"));
  o.grad_clip = c.get_float(k("grad_clip"));
  o.schedule = c.get_string(k("schedule"));
  o.warmup_steps = c.get_float(k("warmup_steps"));
  o.min_lr_ratio = c.get_float(k("min_lr_ratio"));
  o.precision = c.get_string(k("precision"));
  o.group_by_length = c.get_bool(k("group_by_length"));
  o.checkpoint_every = c.get_int(k("checkpoint_every"));
  o.keep_last = c.get_int(k("keep_last"));
  o.resume = c.get_string(k("resume"));
  o.eval_every = c.get_int(k("eval_every"));
  o.log_every = c.get_int(k("log_every"));
  o.early_stop_patience = c.get_int(k("early_stop_patience"));
  o.nonfinite = c.get_string(k("nonfinite"));
  o.bucket_mb = c.get_float(k("bucket_mb"));
  o.first_bucket_mb = c.get_float(k("first_bucket_mb"));

  const auto positive = [&](const char* key, double v, bool allow_zero) {
    if (v < 0 || (!allow_zero && v == 0)) {
      user_error("config key '{}' must be {}, got {} ({})", k(key),
                 allow_zero ? ">= 0" : "> 0", v, c.origin(k(key)));
    }
  };
  positive("global_batch_size", static_cast<double>(o.global_batch_size), false);
  positive("micro_batch_size", static_cast<double>(o.micro_batch_size), true);
  positive("epochs", static_cast<double>(o.epochs), true);
  positive("max_steps", static_cast<double>(o.max_steps), true);
  positive("lr", o.lr, true);
  positive("weight_decay", o.weight_decay, true);
  positive("grad_clip", o.grad_clip, true);
  positive("warmup_steps", o.warmup_steps, true);
  positive("checkpoint_every", static_cast<double>(o.checkpoint_every), true);
  positive("keep_last", static_cast<double>(o.keep_last), true);
  positive("eval_every", static_cast<double>(o.eval_every), true);
  positive("log_every", static_cast<double>(o.log_every), false);
  positive("early_stop_patience", static_cast<double>(o.early_stop_patience), true);
  positive("bucket_mb", o.bucket_mb, false);
  positive("first_bucket_mb", o.first_bucket_mb, false);
  if (o.min_lr_ratio < 0 || o.min_lr_ratio > 1) {
    user_error("config key '{}' must be in [0, 1], got {} ({})", k("min_lr_ratio"),
               o.min_lr_ratio, c.origin(k("min_lr_ratio")));
  }
  if (o.epochs == 0 && o.max_steps == 0) {
    user_error("config keys '{}' and '{}' are both 0: nothing to train", k("epochs"),
               k("max_steps"));
  }
  return o;
}

}  // namespace grec::train
