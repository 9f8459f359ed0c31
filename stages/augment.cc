// Stage `augment` (LLM-Rec, ALGORITHMS.md §7): new item text fields aug_<prompt>, written to
// <run>/artifacts/augment/item_text.h5 for embed.fields (stages/augment_artifact.h). Off unless
// augment.prompts is non-empty.
//
// Built so far: `eng` in its engagement-only form — for each item, the texts of its top-T
// neighbours by Personalized PageRank on the training interactions (data_pipeline/ppr.h), joined
// by "; " in neighbour order, with no generation. The other prompts (para, tag, infer, rec,
// rec_eng) and generating `eng` need an instruction-tuned HF checkpoint: asking for them is a
// one-line error until generation lands. Seeds are sharded over ranks (item i on rank i mod
// world); the result does not depend on the number of ranks.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <set>

#include "core/config.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/h5.h"
#include "core/log.h"
#include "core/progress.h"
#include "data_pipeline/dataset.h"
#include "data_pipeline/item_text.h"
#include "data_pipeline/ppr.h"
#include "dist/communicator.h"
#include "stages/augment_artifact.h"
#include "stages/stage_list.h"

namespace grec::stages {
namespace {

using Clock = std::chrono::steady_clock;

const std::set<std::string>& known_prompts() {
  static const std::set<std::string> names = {"para", "tag", "infer", "rec", "eng", "rec_eng"};
  return names;
}

void declare_augment(ConfigSchema& s) {
  s.add_string_list("augment.prompts", {},
                    "LLM-Rec prompts whose text becomes item field aug_<prompt> (para, tag, "
                    "infer, rec, eng, rec_eng); empty = stage off. Without augment.model.path "
                    "only eng runs, in its engagement-only form (PPR neighbours' text)");
  s.add_string("augment.model.path", "",
               "instruction-tuned HF checkpoint that generates the augmented text (not built "
               "yet: leave empty)");
  s.add_string_list("augment.fields", data::default_item_text_fields(),
                    "eng: the neighbours' fields joined into their text (missing ones skipped)");
  s.add_float("augment.ppr.alpha", 0.85,
              "PPR: probability of following an edge (1 - alpha restarts at the item)");
  s.add_int("augment.ppr.top", 3, "PPR: neighbours per item (T)");
  s.add_choice("augment.ppr.method", "push", {"push", "power"},
               "PPR: push (forward push, bounded work per item) or power (iteration to "
               "augment.ppr.tol)");
  s.add_float("augment.ppr.degree_power", 0.75,
              "PPR: neighbours ranked by score / degree^power (0 = raw PPR, which favours the "
              "most popular items)");
  s.add_float("augment.ppr.epsilon", 1e-7, "PPR push: residual per unit of degree left unpushed");
  s.add_int("augment.ppr.max_iters", 200, "PPR power: iteration limit");
  s.add_float("augment.ppr.tol", 1e-10, "PPR power: L1 change at which iteration stops");
}

void check_prompts(const Config& config) {
  const auto prompts = config.get_string_list("augment.prompts");
  std::set<std::string> seen;
  for (const std::string& p : prompts) {
    if (!known_prompts().count(p)) {
      user_error("config key 'augment.prompts': unknown prompt '{}' (para, tag, infer, rec, eng, "
                 "rec_eng) ({})", p, config.origin("augment.prompts"));
    }
    if (!seen.insert(p).second) {
      user_error("config key 'augment.prompts' names '{}' twice ({})", p,
                 config.origin("augment.prompts"));
    }
  }
  if (!config.get_string("augment.model.path").empty()) {
    user_error("config key 'augment.model.path': generating augmented text with an HF checkpoint "
               "is not built yet; leave it empty and use augment.prompts: [eng] (engagement-only) "
               "({})", config.origin("augment.model.path"));
  }
  for (const std::string& p : prompts) {
    if (p != "eng") {
      user_error("config key 'augment.prompts': '{}' needs generation with an HF checkpoint "
                 "(augment.model.path), which is not built yet; only 'eng' runs, in its "
                 "engagement-only form ({})", p, config.origin("augment.prompts"));
    }
  }
}

data::PprOptions ppr_options(const Config& c) {
  data::PprOptions o;
  o.alpha = c.get_float("augment.ppr.alpha");
  o.top = c.get_int("augment.ppr.top");
  o.method = data::ppr_method_from_name(c.get_string("augment.ppr.method"), "augment.ppr.method");
  o.epsilon = c.get_float("augment.ppr.epsilon");
  o.max_iters = c.get_int("augment.ppr.max_iters");
  o.tol = c.get_float("augment.ppr.tol");
  o.degree_power = c.get_float("augment.ppr.degree_power");
  const auto bad = [&](const char* key, const char* want) {
    user_error("config key '{}' must be {} ({})", key, want, c.origin(key));
  };
  if (!(o.alpha >= 0 && o.alpha < 1)) bad("augment.ppr.alpha", "in [0, 1)");
  if (o.top < 1) bad("augment.ppr.top", ">= 1");
  if (!(o.degree_power >= 0 && o.degree_power <= 2)) bad("augment.ppr.degree_power", "in [0, 2]");
  if (!(o.epsilon > 0 && o.epsilon < 1)) bad("augment.ppr.epsilon", "in (0, 1)");
  if (o.max_iters < 1) bad("augment.ppr.max_iters", ">= 1");
  if (!(o.tol > 0)) bad("augment.ppr.tol", "> 0");
  return o;
}

std::string to_bytes(const nlohmann::json& j) {
  const std::vector<uint8_t> v = nlohmann::json::to_msgpack(j);
  return std::string(v.begin(), v.end());
}

// Every item's neighbours, computed for items rank, rank + world, ... and gathered on all ranks.
data::ItemNeighbours all_neighbours(StageContext& ctx, const data::EngagementGraph& g,
                                    const data::PprOptions& o) {
  const int64_t n = g.num_items, world = ctx.comm.world(), rank = ctx.comm.rank();
  const int64_t block = 256;  // seeds per progress step
  nlohmann::json mine = nlohmann::json::array();
  Progress progress("augment ppr", n, ProgressOptions{ctx.is_root(), 10.0, "item"});
  for (int64_t lo = rank * block; lo < n; lo += world * block) {
    std::vector<int64_t> seeds;
    for (int64_t i = lo; i < std::min(n, lo + block); ++i) seeds.push_back(i);
    const data::ItemNeighbours nb = data::ppr_neighbours(g, seeds, o);
    mine.push_back({{"lo", lo}, {"items", nb.items}, {"scores", nb.scores},
                    {"iterations", nb.iterations}, {"residuals", nb.residuals}});
    // Every rank computes about as many items; rank 0's pace stands for all.
    progress.advance(std::min(static_cast<int64_t>(seeds.size()) * world, n - progress.done()));
  }
  progress.finish();
  data::ItemNeighbours all;
  all.top = o.top;
  all.items.assign(static_cast<size_t>(n * o.top), -1);
  all.scores.assign(all.items.size(), 0.0);
  all.iterations.assign(static_cast<size_t>(n), 0);
  all.residuals.assign(static_cast<size_t>(n), 0.0);
  int64_t filled = 0;
  for (const std::string& bytes : ctx.comm.allgather_bytes(to_bytes(mine))) {
    for (const auto& chunk : nlohmann::json::from_msgpack(bytes)) {
      const int64_t lo = chunk["lo"].get<int64_t>();
      const auto items = chunk["items"].get<std::vector<int64_t>>();
      const auto scores = chunk["scores"].get<std::vector<double>>();
      const auto iterations = chunk["iterations"].get<std::vector<int64_t>>();
      const auto residuals = chunk["residuals"].get<std::vector<double>>();
      std::copy(items.begin(), items.end(), all.items.begin() + lo * o.top);
      std::copy(scores.begin(), scores.end(), all.scores.begin() + lo * o.top);
      std::copy(iterations.begin(), iterations.end(), all.iterations.begin() + lo);
      std::copy(residuals.begin(), residuals.end(), all.residuals.begin() + lo);
      filled += static_cast<int64_t>(iterations.size());
    }
  }
  GREC_CHECK(filled == n, "augment: PPR neighbours of {} of {} items gathered", filled, n);
  return all;
}

// eng, engagement-only: the neighbours' texts in neighbour order, joined by "; ".
std::vector<std::string> engagement_texts(const data::ItemNeighbours& nb,
                                          const std::vector<std::string>& texts) {
  const int64_t n = static_cast<int64_t>(texts.size());
  std::vector<std::string> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < nb.top; ++j) {
      const int64_t k = nb.items[i * nb.top + j];
      if (k < 0 || texts[k].empty()) continue;
      if (!out[i].empty()) out[i] += "; ";
      out[i] += texts[k];
    }
  }
  return out;
}

nlohmann::json run_augment(StageContext& ctx) {
  const Config& config = ctx.config;
  check_prompts(config);
  const auto t0 = Clock::now();
  const std::string path = dataset_path(config);
  const data::Dataset dataset = data::read_dataset(path);
  const int64_t n = dataset.num_items();
  const data::PprOptions o = ppr_options(config);
  const auto fields = config.get_string_list("augment.fields");
  const std::vector<std::string> texts = data::build_item_texts(dataset, fields);
  const data::EngagementGraph graph = data::training_graph(dataset);
  const data::ItemNeighbours nb = all_neighbours(ctx, graph, o);
  const double ppr_wall_s = std::chrono::duration<double>(Clock::now() - t0).count();
  if (!ctx.is_root()) return nlohmann::json::object();

  const std::vector<std::string> eng = engagement_texts(nb, texts);
  int64_t short_lists = 0, no_neighbour = 0, max_iters = 0;
  double iters_sum = 0, max_residual = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (nb.items[i * o.top + o.top - 1] < 0) ++short_lists;
    if (nb.items[i * o.top] < 0) ++no_neighbour;
    iters_sum += static_cast<double>(nb.iterations[i]);
    max_iters = std::max(max_iters, nb.iterations[i]);
    max_residual = std::max(max_residual, nb.residuals[i]);
  }
  const std::string out = augment_text_path(ctx.run);
  make_dirs(ctx.run.artifacts("augment"));
  const std::string tmp = temp_path_for(out);
  const std::string method = config.get_string("augment.ppr.method");
  {
    h5::File f = h5::File::create(tmp);
    f.write_strings("/items/aug_eng", eng);
    const auto rows = static_cast<uint64_t>(n), cols = static_cast<uint64_t>(o.top);
    f.write_i64("/ppr/neighbours", nb.items, {rows, cols});
    f.write_f64("/ppr/scores", nb.scores, {rows, cols});
    f.write_i64("/ppr/iterations", nb.iterations);
    f.write_f64("/ppr/residuals", nb.residuals);
    f.set_attr("/", "format", std::string("grec-augment"));
    f.set_attr("/", "prompts", std::string("eng"));
    f.set_attr("/", "mode", std::string("engagement-only"));
    f.set_attr("/", "items", n);
    f.set_attr("/", "dataset", path);
    f.set_attr("/ppr", "alpha", o.alpha);
    f.set_attr("/ppr", "top", o.top);
    f.set_attr("/ppr", "method", method);
    f.set_attr("/ppr", "degree_power", o.degree_power);
    f.close();
  }
  if (std::rename(tmp.c_str(), out.c_str()) != 0) user_error("cannot rename {} to {}", tmp, out);
  const double wall_s = std::chrono::duration<double>(Clock::now() - t0).count();
  GREC_INFO("augment: eng (engagement-only) for {} items, {} PPR neighbours each ({}, alpha {}), "
            "{} with fewer, {} with none -> {} in {:.2f} s",
            n, o.top, method, o.alpha, short_lists, no_neighbour, out, wall_s);
  return {{"items", n},
          {"prompts", {"eng"}},
          {"mode", "engagement-only"},
          {"ppr", {{"method", method}, {"alpha", o.alpha}, {"top", o.top},
                   {"degree_power", o.degree_power},
                   {"iterations_mean", n > 0 ? iters_sum / static_cast<double>(n) : 0.0},
                   {"iterations_max", max_iters}, {"residual_max", max_residual},
                   {"wall_s", ppr_wall_s}}},
          {"items_with_fewer_neighbours", short_lists},
          {"items_without_neighbours", no_neighbour},
          {"wall_s", wall_s}};
}

}  // namespace

bool augment_enabled(const Config& c) { return !c.get_string_list("augment.prompts").empty(); }

Stage make_augment_stage() {
  Stage s;
  s.name = "augment";
  s.help = "LLM-Rec item text augmentation (eng: PPR neighbours' text) -> "
           "artifacts/augment/item_text.h5; off unless augment.prompts is set";
  s.config_sections = {"augment", "data"};
  s.inputs = {"ingest"};
  s.declare = declare_augment;
  s.run = run_augment;
  s.enabled = augment_enabled;
  return s;
}

}  // namespace grec::stages
