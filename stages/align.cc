// Stage `align`: LC-Rec alignment fine-tuning (ALGORITHMS.md §2). Builds the instruction mixture
// from the training parts of the sequences and the item text, adds the semantic-ID tokens to the
// tokenizer and the model (new rows = mean of the old ones plus noise), and fine-tunes the LM —
// an HF checkpoint (align.model.path) or, when none is given, a small LLaMA-style model from
// scratch with a SentencePiece BPE tokenizer trained on the item and instruction text (the demo).
// Full fine-tuning, or LoRA with align.lora.r > 0 (merged into the weights at the end). The best
// epoch by validation seqrec HR@10 (constrained beam search on a user sample) is kept and written
// in HF layout to artifacts/align/model (config.json, model.safetensors, tokenizer files).
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>

#include <torch/torch.h>

#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "data_pipeline/instruction_batches.h"
#include "dist/communicator.h"
#include "model/causal_lm.h"
#include "model/lora.h"
#include "tokenizer/vocab_extension.h"
#include "stages/align_model.h"
#include "stages/align_setup.h"
#include "stages/align_task.h"
#include "stages/prune_kept.h"
#include "stages/stage_list.h"
#include "train/train_options.h"

namespace grec::stages {
namespace {

train::TrainOptions align_train_defaults() {
  train::TrainOptions d;
  d.optimizer = "adamw";
  d.lr = 1e-3;  // from scratch; LC-Rec fine-tunes pretrained LLMs at 5e-5
  d.weight_decay = 0.01;
  d.global_batch_size = 64;
  // Measured on Beauty (docs/results.md): valid HR@10 still rises at epoch 5-6 of the full
  // seqrec mixture; early stopping on the validation sample ends runs that have flattened.
  d.epochs = 6;
  d.early_stop_patience = 2;
  d.schedule = "cosine";
  d.warmup_steps = 0.05;
  d.grad_clip = 1.0;
  d.checkpoint_every = 0;
  d.log_every = 20;
  d.group_by_length = true;  // instruction lengths vary ~10x across tasks
  return d;
}

void declare_align(ConfigSchema& s) {
  s.add_string("align.model.path", "",
               "HF checkpoint folder to fine-tune (config.json, *.safetensors, tokenizer.json or "
               "tokenizer.model); empty = a small LLaMA-style model from scratch");
  s.add_int("align.model.hidden", 128, "from scratch: hidden size");
  s.add_int("align.model.layers", 2, "from scratch: decoder layers");
  s.add_int("align.model.heads", 4, "from scratch: attention heads");
  s.add_int("align.model.kv_heads", 2, "from scratch: key/value heads (grouped-query attention)");
  s.add_int("align.model.intermediate", 384, "from scratch: SwiGLU inner size");
  s.add_float("align.model.dropout", 0.0, "from scratch: attention and residual dropout");
  s.add_int("align.tokenizer.vocab_size", 1000,
            "from scratch: SentencePiece BPE vocabulary trained on the item and instruction text");
  s.add_string_list("align.tasks", {"seqrec", "item2index", "index2item", "fusionseqrec"},
                    "LC-Rec tasks: seqrec, item2index, index2item, fusionseqrec, itemsearch, "
                    "preferenceobtain (the last two need query/review or preference text)");
  for (const std::string& task : data::instruction_task_names()) {
    s.add_float("align.weights." + task, 1.0,
                "mixture weight of " + task + ": samples = round(weight x natural count)");
  }
  s.add_int("align.max_history", 20, "items in a history (most recent kept)");
  s.add_int("align.max_len", 256, "tokens per sample; prompts are cut from the left");
  s.add_string("align.prompt_template", data::InstructionOptions().prompt_template,
               "prompt wrapper; {instruction} is replaced by the task text");
  s.add_choice("align.prompt_style", "auto", {"auto", "varied", "fixed", "compact"},
               "task phrasings: varied (several per task, seeded; LC-Rec), fixed (the first of "
               "them, which evaluation uses), compact (one short phrasing per task: fewest "
               "tokens); auto = compact from scratch, varied for a pretrained align.model.path");
  s.add_string("align.text_field", "title", "item text field used by the text tasks");
  s.add_bool("align.item_tasks_all_items", false,
             "item2index/index2item over every item (default: items of training parts only)");
  s.add_int("align.lora.r", 0, "LoRA rank; 0 = full fine-tuning");
  s.add_float("align.lora.alpha", 32, "LoRA alpha");
  s.add_float("align.lora.dropout", 0.05, "LoRA dropout");
  s.add_string_list("align.lora.targets", {"q", "k", "v", "o", "gate", "up", "down"},
                    "projections that get adapters");
  s.add_bool("align.lora.train_embeddings", true,
             "embeddings and LM head fully trainable (new semantic-ID tokens learn only so)");
  s.add_choice("align.loss", "sample", {"sample", "token"},
               "sample: every sample's response tokens average to one loss (each sample weighs "
               "the same); token: every response token weighs the same (LC-Rec / HF), so tasks "
               "with long responses (index2item text) weigh more");
  s.add_int("align.chunk_tokens", 8192,
            "padded tokens per forward: each rank's samples are sorted by length and chunked");
  s.add_int("align.valid.users", 1000,
            "users in the validation sample (0 = all); at HR@10 ~ 0.07 the standard error is "
            "~0.008 with 1000 users (0.018 with 200), enough to pick the best epoch");
  s.add_int("align.valid.num_beams", 20, "beams of the validation constrained beam search");
  s.add_int("align.eval_batch_size", 32, "prompts decoded together in validation");
  train::TrainOptions::declare(s, "align.train", align_train_defaults());
}

nlohmann::json run_align(StageContext& ctx) {
  const auto t0 = std::chrono::steady_clock::now();
  const Config& config = ctx.config;
  const train::TrainOptions options = train::TrainOptions::from_config(config, "align.train");
  const uint64_t seed = static_cast<uint64_t>(options.seed);
  const int64_t max_len = config.get_int("align.max_len");
  ItemIndex index = load_item_index(config, ctx.run);
  data::InstructionOptions io = instruction_options(config);
  nlohmann::json pruned = nullptr;
  if (prune_enabled(config)) {
    // DEALRec: the per-user tasks come from the prefixes stage prune kept.
    auto kept = std::make_shared<std::vector<char>>(read_kept_prefixes(ctx.run, index.dataset));
    const data::Dataset& d = index.dataset;
    io.keep_prefix = [kept, &d](int64_t u, int64_t end) { return (*kept)[d.seq_offsets[u] + end] != 0; };
    const int64_t n_kept = std::count(kept->begin(), kept->end(), char(1));
    pruned = {{"kept", n_kept}, {"samples", int64_t(data::training_prefixes(d).size())}};
    GREC_INFO("align: per-user tasks from the {} of {} training prefixes stage prune kept", n_kept,
              pruned["samples"].get<int64_t>());
  }
  std::vector<std::string> skipped;
  const auto instructions = data::build_instructions(index.dataset, index.item_tokens, io, &skipped);
  for (const std::string& why : skipped) GREC_INFO("align: {}", why);
  for (const auto& [task, n] : data::count_by_task(instructions)) {
    GREC_INFO("align: {} {} samples", n, task);
  }

  AlignModel am = make_align_model(ctx, index, instructions, ctx.run.artifacts("align") + "/tokenizer");
  std::unique_ptr<tok::TextTokenizer>& tokenizer = am.tokenizer;
  model::CausalLM lm = am.lm;
  const tok::SemanticVocab& vocab = am.vocab;
  const int64_t lora_r = config.get_int("align.lora.r");
  GREC_INFO("align: {} ({} layers, hidden {}), vocabulary {} ({} semantic-ID tokens added), {}",
            lm->config().architecture, lm->config().num_hidden_layers, lm->config().hidden_size,
            vocab.model_vocab, vocab.num_added, lora_r > 0 ? "LoRA r=" + std::to_string(lora_r) : "full fine-tuning");

  std::map<std::string, int64_t> too_long;
  std::vector<data::TokenizedSample> samples = tokenize_for(am, instructions, max_len, &too_long);
  for (const auto& [t, n] : too_long) {
    if (ctx.is_root()) GREC_WARN("align: left out {} {} samples whose response does not fit align.max_len {} "
              "(raise it to keep them)", n, t, max_len);
  }
  if (samples.empty()) user_error("align: no training sample fits align.max_len {}", max_len);
  PromptCases valid = seqrec_cases(index, *tokenizer, io, "valid", max_len,
                                   config.get_int("align.valid.users"), seed);
  eval::GenerativeOptions gen;
  gen.num_beams = config.get_int("align.valid.num_beams");
  gen.batch_size = config.get_int("align.eval_batch_size");
  gen.pad_id = std::max<int64_t>(0, tokenizer->pad_id());
  AlignTask task(lm, std::move(samples), {valid.prompts, valid.targets}, index.trie,
                 vocab.token_ids, gen, config.get_int("align.chunk_tokens"), gen.pad_id, ctx.comm,
                 config.get_string("align.loss") == "token");
  train::Trainer trainer(options, "align", ctx.run, ctx.comm, ctx.metrics, config.hash({"align"}));
  const train::TrainResult fit = trainer.fit(task);
  const nlohmann::json best_valid = fit.best_valid.is_null() ? task.evaluate("valid") : fit.best_valid;

  // Padding waste and tokens over all ranks.
  torch::Tensor counts = torch::tensor({task.padding_waste(), static_cast<double>(task.tokens_seen())},
                                       torch::kDouble);
  ctx.comm.allreduce(counts, dist::ReduceOp::kSum);
  const double waste = counts[0].item<double>() / ctx.comm.world();
  const double tokens = counts[1].item<double>();
  if (model::has_lora(lm)) model::merge_lora(lm);
  const std::string out = aligned_model_dir(ctx.run);
  if (ctx.is_root()) {
    model::save_hf(lm, out);
    tokenizer->save(out);
  }
  ctx.comm.barrier();
  const double wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  nlohmann::json per_task = nlohmann::json::object();
  for (const auto& [t, n] : data::count_by_task(instructions)) {
    per_task[t] = n - (too_long.count(t) ? too_long.at(t) : 0);
  }
  nlohmann::json left_out = too_long;
  const nlohmann::json results = {{"valid", best_valid},
                                  {"pruned", pruned},
                                  {"samples", per_task},
                                  {"skipped_tasks", skipped},
                                  {"too_long_left_out", left_out},
                                  {"padding_waste", waste},
                                  {"train_tokens", tokens},
                                  // Training steps only: validation and checkpoints excluded.
                                  {"train_tokens_per_s", fit.train_s() > 0 ? tokens / fit.train_s() : 0.0},
                                  {"best_step", fit.best_step},
                                  {"steps", fit.steps},
                                  {"train_wall_s", fit.wall_s},
                                  {"valid_s", fit.eval_s},
                                  {"checkpoint_s", fit.checkpoint_s},
                                  {"wall_s", wall_s},
                                  {"model", out}};
  if (ctx.is_root()) {
    write_file_atomic(ctx.run.artifacts("align") + "/results.json", results.dump(2) + "\n");
    ctx.metrics.write({{"stage", "align"}, {"step", fit.steps}, {"event", "results"}, {"valid", best_valid},
                       {"padding_waste", waste}});
  }
  GREC_INFO("align: valid HR@10 {:.4f} on {} users (best step {}), padding waste {:.1f}%, {:.0f} tokens/s, "
            "{:.0f} s; model in {}",
            best_valid.value("HR@10", 0.0), best_valid.value("users", 0), fit.best_step, 100 * waste,
            results["train_tokens_per_s"].get<double>(), wall_s, out);
  return {{"valid_HR@10", best_valid.value("HR@10", 0.0)},
          {"padding_waste", waste},
          {"best_step", fit.best_step},
          {"wall_s", wall_s}};
}

}  // namespace

Stage make_align_stage() {
  Stage s;
  s.name = "align";
  s.help = "LC-Rec alignment: fine-tune the LLM on instruction tasks in semantic IDs";
  s.config_sections = {"align", "data"};
  s.inputs = {"ingest", "rqvae"};
  // With pruning on, align trains on prune's kept set; off, its key stays as without the stage.
  s.config_inputs = [](const Config& c) {
    return prune_enabled(c) ? std::vector<std::string>{"prune"} : std::vector<std::string>{};
  };
  s.declare = declare_align;
  s.run = run_align;
  return s;
}

}  // namespace grec::stages
