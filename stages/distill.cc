// Stage `distill` (DLLM2Rec, ALGORITHMS.md §4): teaches a small sequential
// student (SASRec or GRU4Rec) from the aligned LLM. Off unless distill.enabled.
//
//  1. Teacher pass (stages/distill_teacher.h): the LLM's top-K items with beam log-probabilities
//     at each student training position, and one embedding per item; cached in
//     artifacts/distill/teacher.h5 (reused when its key matches; distill.teacher.file reads a
//     given file and refuses one computed for another dataset, model or teacher config).
//  2. The distilled student under the Trainer (data-parallel, resumable, checkpoints/distill):
//     next-item loss + λ · ranking distillation, the teacher embedding term on its items.
//  3. With distill.compare_plain, the same student without either, same seed and epochs
//     (checkpoints/distill_plain).
//  4. Serving speed: users/s of the student's full ranking vs the LLM's beam search on the same
//     histories and ranks.
// Writes artifacts/distill/results.json and, for a SASRec student, the distilled model (teacher
// term folded into the item table) as artifacts/distill/model.safetensors + config.json, which
// the serving bundle prefers over stage sasrec's. Prints the table of distilled, plain, teacher.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include <fmt/format.h>
#include <torch/torch.h>

#include "core/error.h"
#include "core/fs.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/table.h"
#include "data_pipeline/sequence_batches.h"
#include "dist/communicator.h"
#include "model/gru4rec.h"
#include "model/teacher_item_term.h"
#include "stages/align_setup.h"
#include "stages/distill_task.h"
#include "stages/distill_teacher.h"
#include "stages/sasrec_artifact.h"
#include "stages/stage_list.h"
#include "train/train_options.h"
#include "train/trainer.h"

namespace grec::stages {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

void declare_distill(ConfigSchema& s) {
  s.add_bool("distill.enabled", false, "distil the aligned LLM into a small sequential student");
  s.add_choice("distill.student", "sasrec", {"sasrec", "gru4rec"},
               "student model: SASRec (sizes from sasrec.*) or GRU4Rec (max_len and hidden from "
               "sasrec.*, distill.gru4rec.*)");
  s.add_int("distill.gru4rec.layers", 1, "GRU4Rec student: GRU layers");
  s.add_float("distill.gru4rec.dropout", 0.25, "GRU4Rec student: dropout on embeddings and outputs");
  s.add_float("distill.lambda", 0.7, "λ_RD: weight of the ranking distillation (DLLM2Rec 0.7-0.8); "
              "0 = none");
  s.add_float("distill.weights.position", 0.3, "coefficient of the rank-position weight");
  s.add_float("distill.weights.confidence", 0.5, "coefficient of the teacher-confidence weight");
  s.add_float("distill.weights.consistency", 0.1,
              "coefficient of the weight for items also in the student's top-K");
  s.add_float("distill.weights.position_lambda", 1.0, "λ of the position weight exp(-k/λ)");
  s.add_bool("distill.embedding.enabled", true,
             "add the teacher's item embedding through a learned projection to the student's");
  s.add_float("distill.embedding.weight", 0.25, "w of e_i = E[i] + w (W z_i + b) (DLLM2Rec 0.2-0.3)");
  s.add_bool("distill.compare_plain", true,
             "also train the same student without distillation (same seed and epochs)");
  s.add_choice("distill.teacher.samples", "last", {"last", "all"},
               "positions the teacher is asked at: each user's last training position, or all");
  s.add_int("distill.teacher.top_k", 10, "K: teacher items per position");
  s.add_int("distill.teacher.num_beams", 20, "beams of the teacher's constrained beam search");
  s.add_int("distill.teacher.batch_size", 32, "teacher prompts decoded together");
  s.add_choice("distill.teacher.embedding", "auto", {"auto", "text", "ids", "none"},
               "item embedding from the LLM: mean hidden state of the item's text (align.text_field) "
               "or of its semantic-ID tokens; auto = text when most items have text");
  s.add_int("distill.teacher.embed_max_len", 64, "tokens per item text in the embedding pass");
  s.add_string("distill.teacher.file", "",
               "a teacher file to read instead of computing one (refused when computed for "
               "another dataset, model or teacher config)");
  s.add_float("distill.gru4rec.lr", 5e-3,
              "GRU4Rec student: learning rate, in place of distill.train.lr (which SASRec uses)");
  s.add_int("distill.gru4rec.early_stop_patience", 20,
            "GRU4Rec student: evaluations without improvement before it stops, in place of "
            "distill.train.early_stop_patience");
  train::TrainOptions::declare(s, "distill.train", sasrec_train_defaults());
  // The students train as stage sasrec does unless distill.train says otherwise.
  s.inherit("distill.train", "sasrec.train");
}

std::string dataset_fingerprint(const data::Dataset& d) {
  uint64_t h = fnv1a64(d.seq_offsets.data(), d.seq_offsets.size() * sizeof(int64_t));
  h = fnv1a64(d.seq_items.data(), d.seq_items.size() * sizeof(int64_t), h);
  h = fnv1a64(d.train_end.data(), d.train_end.size() * sizeof(int64_t), h);
  return hex64(fnv1a64(d.valid_end.data(), d.valid_end.size() * sizeof(int64_t), h));
}

// The teacher: a given file (checked), the cached one when its key matches, or a new pass.
TeacherOutputs load_or_compute_teacher(StageContext& ctx, const ItemIndex& index,
                                       const std::string& model_dir, bool* computed) {
  const Config& config = ctx.config;
  const TeacherOptions to = teacher_options(config);
  const std::string key = teacher_key(dataset_fingerprint(index.dataset), model_dir, to);
  const std::string given = config.get_string("distill.teacher.file");
  *computed = false;
  if (!given.empty()) return read_teacher(given, key);
  const std::string path = ctx.run.artifacts("distill") + "/teacher.h5";
  if (std::filesystem::exists(path)) {
    try {
      TeacherOutputs t = read_teacher(path, key);
      GREC_INFO("distill: teacher outputs from {} ({} samples)", path, t.size());
      return t;
    } catch (const UserError& e) {
      GREC_INFO("distill: recomputing the teacher ({})", e.what());
    }
  }
  TeacherOutputs t = compute_teacher(index, model_dir, instruction_options(config), to, ctx.comm);
  t.key = key;
  if (ctx.is_root()) {
    make_dirs(ctx.run.artifacts("distill"));
    write_teacher(path, t);
  }
  ctx.comm.barrier();
  *computed = true;
  return t;
}

// The teacher's embeddings as unit rows [num_items, dz] (their scale differs between LLMs).
torch::Tensor teacher_embedding(const TeacherOutputs& t, int64_t num_items) {
  torch::Tensor z = torch::from_blob(const_cast<float*>(t.item_embedding.data()),
                                     {num_items, t.emb_dim}, torch::kFloat)
                        .clone();
  return z / z.norm(2, 1, true).clamp_min(1e-12);
}

// A student factory for `config`; with `z` defined, the teacher term is attached.
std::function<StudentModel()> student_factory(const Config& config, int64_t num_items,
                                              torch::Tensor z) {
  const double weight = config.get_float("distill.embedding.weight");
  const std::string kind = config.get_string("distill.student");
  return [&config, num_items, z, weight, kind]() {
    StudentModel s;
    if (kind == "gru4rec") {
      auto g = std::make_shared<model::GRU4RecImpl>(
          model::GRU4RecOptions(num_items)
              .max_len(config.get_int("sasrec.max_len"))
              .hidden(config.get_int("sasrec.hidden"))
              .layers(config.get_int("distill.gru4rec.layers"))
              .dropout(config.get_float("distill.gru4rec.dropout")));
      s = {g, g.get()};
    } else {
      auto m = std::make_shared<model::SASRecImpl>(
        model::SASRecOptions(num_items)
            .max_len(config.get_int("sasrec.max_len"))
            .hidden(config.get_int("sasrec.hidden"))
            .blocks(config.get_int("sasrec.blocks"))
            .heads(config.get_int("sasrec.heads"))
            .dropout(config.get_float("sasrec.dropout"))
            .ffn(config.get_int("sasrec.ffn"))
            .init(config.get_string("sasrec.init")));
      s = {m, m.get()};
    }
    if (z.defined()) {
      s.net->set_teacher_term(model::TeacherItemTerm(
          z, model::TeacherItemTermOptions(s.net->hidden_size()).weight(weight)).ptr());
    }
    return s;
  };
}

struct StudentResult {
  nlohmann::json valid, test;
  train::TrainResult fit;
};

// The students' trainer: distill.train, which inherits every key it leaves unset from
// sasrec.train (declare_distill), so the plain student is the pipeline's SASRec baseline. GRU4Rec
// learns slowly at SASRec's rate (ML-100K, docs/results.md: at 1e-3 it stopped below
// popularity), so its lr and patience are its own keys.
train::TrainOptions distill_train_options(const Config& config) {
  train::TrainOptions o = train::TrainOptions::from_config(config, "distill.train");
  if (config.get_string("distill.student") == "gru4rec") {
    o.lr = config.get_float("distill.gru4rec.lr");
    o.early_stop_patience = config.get_int("distill.gru4rec.early_stop_patience");
    if (!(o.lr > 0)) {
      user_error("distill.gru4rec.lr must be > 0, got {} ({})", o.lr,
                 config.origin("distill.gru4rec.lr"));
    }
  }
  return o;
}

StudentResult train_student(StageContext& ctx, DistillTask& task, const std::string& name) {
  const train::TrainOptions options = distill_train_options(ctx.config);
  train::Trainer trainer(options, name, ctx.run, ctx.comm, ctx.metrics,
                         ctx.config.hash({"distill", "sasrec"}));
  StudentResult r;
  r.fit = trainer.fit(task);
  r.valid = task.evaluate_from(task.ranks("valid"));
  r.test = task.evaluate_from(task.ranks("test"));
  return r;
}

// Collective: seconds the student takes to rank every item for each teacher history (same
// chunks and ranks as the teacher's lists), the slowest rank's.
double student_ranking_seconds(model::SequentialRecommender& student, torch::nn::Module& module,
                               const data::Dataset& d, const TeacherOutputs& t,
                               int64_t batch_size, dist::Communicator& comm) {
  torch::NoGradGuard no_grad;
  const bool was_training = module.is_training();
  module.eval();
  data::SequenceBatchOptions o;
  o.max_len = student.max_len();
  const int64_t n = t.size(), chunks = (n + batch_size - 1) / batch_size;
  const auto t0 = Clock::now();
  for (int64_t c = comm.rank(); c < chunks; c += comm.world()) {
    std::vector<std::vector<int64_t>> hist;
    for (int64_t s = c * batch_size; s < std::min(n, (c + 1) * batch_size); ++s) {
      const int64_t* seq = d.sequence(t.users[s]);
      hist.emplace_back(seq, seq + t.ends[s]);
    }
    std::vector<const std::vector<int64_t>*> ptrs;
    for (const auto& h : hist) ptrs.push_back(&h);
    data::SequenceBatch b = data::make_input_batch(ptrs, o);
    torch::Tensor input = torch::from_blob(b.input.data(), {b.batch, b.width}, torch::kLong).clone();
    torch::Tensor scores = student.score_all(input);
    (void)std::get<1>(scores.topk(std::min<int64_t>(t.k, scores.size(1)), 1));
  }
  torch::Tensor secs = torch::full({1}, seconds_since(t0), torch::kDouble);
  comm.allreduce(secs, dist::ReduceOp::kMax);
  module.train(was_training);
  return secs.item<double>();
}

std::string cell(const nlohmann::json& m, const std::string& key) {
  return m.is_object() && m.contains(key) ? fmt::format("{:.4f}", m[key].get<double>()) : "-";
}

void print_table(const nlohmann::json& results, const std::string& student) {
  const std::vector<std::string> keys = {"HR@1", "HR@5", "HR@10", "HR@20", "NDCG@5", "NDCG@10", "NDCG@20"};
  std::vector<std::string> header = {"split", "model"};
  header.insert(header.end(), keys.begin(), keys.end());
  Table table(header);
  for (const char* split : {"valid", "test"}) {
    for (const auto& [label, row] : std::vector<std::pair<std::string, std::string>>{
             {"distilled " + student, "distilled"}, {"plain " + student, "plain"}, {"llm (teacher)", "teacher"}}) {
      if (!results.contains(row) || !results[row].contains(split)) continue;
      std::vector<std::string> cells = {split, label};
      for (const auto& k : keys) cells.push_back(cell(results[row][split], k));
      table.add_row(cells);
    }
  }
  std::fputs(table.render().c_str(), stdout);
  std::fflush(stdout);
}

nlohmann::json run_distill(StageContext& ctx) {
  const auto t0 = Clock::now();
  const Config& config = ctx.config;
  const std::string model_dir = aligned_model_dir(ctx.run);
  if (!std::filesystem::exists(model_dir + "/config.json")) {
    user_error("distill: {} has no aligned model (config.json): run the align stage first "
               "(grec stage align CONFIG)", model_dir);
  }
  const ItemIndex index = load_item_index(config, ctx.run);
  const data::Dataset& d = index.dataset;
  bool computed = false;
  const TeacherOutputs teacher = load_or_compute_teacher(ctx, index, model_dir, &computed);
  if (teacher.emb_dim > 0 && static_cast<int64_t>(teacher.item_embedding.size()) != d.num_items() * teacher.emb_dim) {
    user_error("distill: the teacher file has embeddings for {} items, the dataset has {}",
               teacher.item_embedding.size() / teacher.emb_dim, d.num_items());
  }
  const std::string student = config.get_string("distill.student");
  const bool use_embedding = config.get_bool("distill.embedding.enabled") && teacher.emb_dim > 0;
  if (config.get_bool("distill.embedding.enabled") && teacher.emb_dim == 0) {
    GREC_WARN("distill: the teacher has no item embeddings (distill.teacher.embedding none): the "
              "embedding term is off");
  }
  DistillLossOptions lo;
  lo.lambda = config.get_float("distill.lambda");
  if (!(lo.lambda >= 0) || !std::isfinite(lo.lambda)) {
    user_error("distill.lambda must be >= 0, got {} ({})", lo.lambda, config.origin("distill.lambda"));
  }
  lo.weights.position(config.get_float("distill.weights.position"))
      .confidence(config.get_float("distill.weights.confidence"))
      .consistency(config.get_float("distill.weights.consistency"))
      .position_lambda(config.get_float("distill.weights.position_lambda"));
  const train::TrainOptions train_options = distill_train_options(config);
  const auto seed = static_cast<uint64_t>(train_options.seed);
  GREC_INFO("distill: {} student, {} teacher samples (top {}), λ {}, embedding term {}, lr {}, "
            "patience {}", student, teacher.size(), teacher.k, lo.lambda,
            use_embedding ? teacher.embedding : "off", train_options.lr,
            train_options.early_stop_patience);

  DistillTask task(d, config, ctx.comm, seed,
                   student_factory(config, d.num_items(),
                                   use_embedding ? teacher_embedding(teacher, d.num_items()) : torch::Tensor()),
                   &teacher, lo);
  const StudentResult distilled = train_student(ctx, task, "distill");
  nlohmann::json results = {{"student", student},
                            {"lambda", lo.lambda},
                            {"embedding", use_embedding ? teacher.embedding : "off"},
                            {"train", {{"seed", train_options.seed}, {"lr", train_options.lr},
                                       {"epochs", train_options.epochs},
                                       {"early_stop_patience", train_options.early_stop_patience},
                                       {"global_batch_size", train_options.global_batch_size}}},
                            {"distilled", {{"valid", distilled.valid}, {"test", distilled.test},
                                           {"best_step", distilled.fit.best_step},
                                           {"train_wall_s", distilled.fit.wall_s}}}};
  if (config.get_bool("distill.compare_plain")) {
    DistillTask plain(d, config, ctx.comm, seed, student_factory(config, d.num_items(), {}), nullptr, lo);
    const StudentResult p = train_student(ctx, plain, "distill_plain");
    results["plain"] = {{"valid", p.valid}, {"test", p.test}, {"best_step", p.fit.best_step},
                        {"train_wall_s", p.fit.wall_s}};
  }
  // The teacher's own metrics, as stage evaluate measured them.
  const std::string eval_path = ctx.run.artifacts("evaluate") + "/results.json";
  if (std::filesystem::exists(eval_path)) {
    const nlohmann::json e = nlohmann::json::parse(read_file(eval_path), nullptr, false);
    nlohmann::json t = nlohmann::json::object();
    for (const char* split : {"valid", "test"}) {
      if (e.is_object() && e.contains(split) && e[split].contains("llm")) t[split] = e[split]["llm"];
    }
    if (!t.empty()) results["teacher"] = t;
  }
  // Serving speed on the teacher's histories: the student's full ranking vs the LLM's search.
  const double student_s = student_ranking_seconds(task.student(), task.module(), d, teacher,
                                                   config.get_int("distill.teacher.batch_size"), ctx.comm);
  const double n = static_cast<double>(teacher.size());
  results["teacher_pass"] = {{"samples", teacher.size()},
                             {"computed_in_this_run", computed},
                             {"list_wall_s", teacher.list_wall_s},
                             {"samples_per_s", teacher.list_wall_s > 0 ? n / teacher.list_wall_s : 0.0},
                             {"embedding", teacher.embedding},
                             {"embed_wall_s", teacher.embed_wall_s},
                             {"items_per_s", teacher.embed_wall_s > 0 ? d.num_items() / teacher.embed_wall_s : 0.0}};
  results["serving"] = {{"users", teacher.size()},
                        {"ranks", ctx.comm.world()},
                        {"student_users_per_s", student_s > 0 ? n / student_s : 0.0},
                        {"llm_users_per_s", teacher.list_wall_s > 0 ? n / teacher.list_wall_s : 0.0},
                        {"speedup", teacher.list_wall_s > 0 && student_s > 0 ? teacher.list_wall_s / student_s : 0.0}};
  const double wall_s = seconds_since(t0);
  results["wall_s"] = wall_s;
  if (ctx.is_root()) {
    const std::string dir = ctx.run.artifacts("distill");
    make_dirs(dir);
    if (student == "sasrec") {
      write_sasrec_files(dir, task.model());
    } else {
      // Only a SASRec student goes to the serving bundle; an earlier run's must not pass for it.
      std::filesystem::remove(dir + "/model.safetensors");
      std::filesystem::remove(dir + "/config.json");
    }
    write_file_atomic(dir + "/results.json", results.dump(2) + "\n");
    ctx.metrics.write({{"stage", "distill"}, {"event", "results"}, {"results", results}});
    print_table(results, student);
  }
  nlohmann::json summary = {{"wall_s", wall_s},
                            {"test_HR@10", distilled.test.value("HR@10", 0.0)},
                            {"serving_speedup", results["serving"]["speedup"]}};
  if (results.contains("plain")) summary["plain_test_HR@10"] = results["plain"]["test"].value("HR@10", 0.0);
  return summary;
}

}  // namespace

Stage make_distill_stage() {
  Stage s;
  s.name = "distill";
  s.help = "DLLM2Rec: distil the aligned LLM into SASRec / GRU4Rec (off by default)";
  s.config_sections = {"distill", "sasrec", "align", "data"};
  s.inputs = {"ingest", "rqvae", "sasrec", "align", "evaluate"};
  s.extra_checkpoints = {"distill_plain"};
  s.declare = declare_distill;
  s.run = run_distill;
  s.enabled = [](const Config& c) { return c.get_bool("distill.enabled"); };
  return s;
}

}  // namespace grec::stages
