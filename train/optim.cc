// Optimizers, parameter groups, schedules and optimizer state (train/optim.h).
#include "train/optim.h"

#include <cmath>
#include <set>
#include <type_traits>

#include "core/error.h"
#include "train/fused_adamw.h"
#include "train/optim_state_key.h"

namespace grec::train {

namespace {

bool contains(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }

bool no_decay_module(const torch::nn::Module& m) {
  return dynamic_cast<const torch::nn::EmbeddingImpl*>(&m) ||
         dynamic_cast<const torch::nn::EmbeddingBagImpl*>(&m) ||
         dynamic_cast<const torch::nn::LayerNormImpl*>(&m) ||
         dynamic_cast<const torch::nn::GroupNormImpl*>(&m) ||
         dynamic_cast<const torch::nn::BatchNorm1dImpl*>(&m) ||
         dynamic_cast<const torch::nn::BatchNorm2dImpl*>(&m);
}

std::string kind_of(torch::optim::Optimizer& o) {
  if (dynamic_cast<torch::optim::AdamW*>(&o)) return "adamw";
  if (dynamic_cast<torch::optim::Adam*>(&o)) return "adam";
  if (dynamic_cast<torch::optim::Adagrad*>(&o)) return "adagrad";
  if (dynamic_cast<torch::optim::SGD*>(&o)) return "sgd";
  GREC_CHECK(false, "unsupported optimizer type");
  return "";
}

}  // namespace

ParamGroups split_param_groups(torch::nn::Module& module, bool decay_exclude) {
  std::set<std::string> exempt;
  if (decay_exclude) {
    for (const auto& m : module.named_modules("", /*include_self=*/false)) {
      if (!no_decay_module(*m.value())) continue;
      for (const auto& p : m.value()->named_parameters(/*recurse=*/false)) {
        exempt.insert(m.key() + "." + p.key());
      }
    }
  }
  ParamGroups g;
  std::set<const void*> seen;
  for (const auto& p : module.named_parameters(/*recurse=*/true)) {
    const torch::Tensor& t = p.value();
    if (!t.requires_grad() || !seen.insert(t.unsafeGetTensorImpl()).second) continue;
    const std::string& name = p.key();
    const bool skip = decay_exclude && (exempt.count(name) || t.dim() <= 1 ||
                                        contains(name, "bias") || contains(name, "norm") ||
                                        contains(name, "embed"));
    (skip ? g.no_decay_names : g.decay_names).push_back(name);
    (skip ? g.no_decay : g.decay).push_back(t);
  }
  return g;
}

std::unique_ptr<torch::optim::Optimizer> make_optimizer(torch::nn::Module& module,
                                                        const TrainOptions& o) {
  namespace optim = torch::optim;
  ParamGroups g = split_param_groups(module, o.decay_exclude);
  if (g.decay.empty() && g.no_decay.empty()) user_error("the model has no trainable parameters");
  // One options object per group; only weight decay differs.
  const auto options = [&](double wd) -> std::unique_ptr<optim::OptimizerOptions> {
    if (o.optimizer == "adamw") {
      return std::make_unique<optim::AdamWOptions>(optim::AdamWOptions(o.lr)
                                                       .betas({o.beta1, o.beta2})
                                                       .eps(o.eps)
                                                       .weight_decay(wd));
    }
    if (o.optimizer == "adam") {
      return std::make_unique<optim::AdamOptions>(
          optim::AdamOptions(o.lr).betas({o.beta1, o.beta2}).eps(o.eps).weight_decay(wd));
    }
    if (o.optimizer == "adagrad") {
      return std::make_unique<optim::AdagradOptions>(
          optim::AdagradOptions(o.lr).eps(o.eps).weight_decay(wd));
    }
    if (o.optimizer == "sgd") {
      return std::make_unique<optim::SGDOptions>(
          optim::SGDOptions(o.lr).momentum(o.momentum).weight_decay(wd));
    }
    user_error("unknown optimizer '{}' (adamw, adam, adagrad or sgd)", o.optimizer);
  };
  std::vector<optim::OptimizerParamGroup> groups;
  if (!g.decay.empty()) groups.emplace_back(g.decay, options(o.weight_decay));
  if (!g.no_decay.empty()) groups.emplace_back(g.no_decay, options(0.0));
  if (o.optimizer == "adamw") {
    const auto owned = options(o.weight_decay);
    const auto& defaults = static_cast<const optim::AdamWOptions&>(*owned);
    if (o.fused) return std::make_unique<FusedAdamW>(groups, defaults);
    return std::make_unique<optim::AdamW>(groups, defaults);
  }
  if (o.optimizer == "adam") {
    return std::make_unique<optim::Adam>(groups,
                                         static_cast<optim::AdamOptions&>(*options(o.weight_decay)));
  }
  if (o.optimizer == "adagrad") {
    return std::make_unique<optim::Adagrad>(
        groups, static_cast<optim::AdagradOptions&>(*options(o.weight_decay)));
  }
  return std::make_unique<optim::SGD>(groups,
                                      static_cast<optim::SGDOptions&>(*options(o.weight_decay)));
}

LrSchedule::LrSchedule(const TrainOptions& o, int64_t total_steps)
    : kind_(o.schedule), base_lr_(o.lr), min_ratio_(o.min_lr_ratio), total_(total_steps) {
  warmup_ = o.warmup_steps > 0 && o.warmup_steps < 1
                ? static_cast<int64_t>(std::llround(o.warmup_steps * static_cast<double>(total_steps)))
                : static_cast<int64_t>(std::llround(o.warmup_steps));
  if (kind_ != "constant" && kind_ != "linear" && kind_ != "cosine" && kind_ != "inverse_sqrt") {
    user_error("unknown schedule '{}' (constant, linear, cosine or inverse_sqrt)", kind_);
  }
}

double LrSchedule::factor(int64_t step) const {
  if (step < warmup_) return static_cast<double>(step) / static_cast<double>(warmup_);
  if (kind_ == "constant") return 1.0;
  if (kind_ == "inverse_sqrt") {
    const double w = static_cast<double>(std::max<int64_t>(warmup_, 1));
    return std::sqrt(w / std::max(static_cast<double>(step), w));
  }
  const double span = static_cast<double>(std::max<int64_t>(total_ - warmup_, 1));
  const double p = std::clamp(static_cast<double>(step - warmup_) / span, 0.0, 1.0);
  if (kind_ == "linear") return min_ratio_ + (1.0 - min_ratio_) * (1.0 - p);
  return min_ratio_ + (1.0 - min_ratio_) * 0.5 * (1.0 + std::cos(M_PI * p));
}

void LrSchedule::apply(torch::optim::Optimizer& optimizer, int64_t step) const {
  const double value = lr(step);
  for (auto& group : optimizer.param_groups()) group.options().set_lr(value);
}

nlohmann::json LrSchedule::state(int64_t step) const {
  return {{"schedule", kind_}, {"base_lr", base_lr_}, {"min_lr_ratio", min_ratio_},
          {"warmup_steps", warmup_}, {"total_steps", total_}, {"step", step},
          {"lr", lr(step)}};
}

NamedTensors optimizer_state(torch::optim::Optimizer& optimizer, nlohmann::json* scalars) {
  namespace optim = torch::optim;
  NamedTensors out;
  nlohmann::json steps = nlohmann::json::object();
  nlohmann::json sizes = nlohmann::json::array();
  auto& state = optimizer.state();
  using Map = std::decay_t<decltype(state)>;
  const auto& groups = optimizer.param_groups();
  for (size_t g = 0; g < groups.size(); ++g) {
    sizes.push_back(groups[g].params().size());
    for (size_t i = 0; i < groups[g].params().size(); ++i) {
      auto it = state.find(optim_state_key<Map>(groups[g].params()[i]));
      if (it == state.end()) continue;  // never stepped
      const std::string id = fmt::format("g{}.p{}", g, i);
      const auto add = [&](const char* field, const torch::Tensor& t) {
        if (t.defined()) out.emplace_back(id + "." + field, t);
      };
      optim::OptimizerParamState* s = it->second.get();
      if (auto* a = dynamic_cast<optim::AdamWParamState*>(s)) {
        steps[id] = a->step();
        add("exp_avg", a->exp_avg());
        add("exp_avg_sq", a->exp_avg_sq());
        add("max_exp_avg_sq", a->max_exp_avg_sq());
      } else if (auto* b = dynamic_cast<optim::AdamParamState*>(s)) {
        steps[id] = b->step();
        add("exp_avg", b->exp_avg());
        add("exp_avg_sq", b->exp_avg_sq());
        add("max_exp_avg_sq", b->max_exp_avg_sq());
      } else if (auto* c = dynamic_cast<optim::AdagradParamState*>(s)) {
        steps[id] = c->step();
        add("sum", c->sum());
      } else if (auto* d = dynamic_cast<optim::SGDParamState*>(s)) {
        steps[id] = 0;
        add("momentum_buffer", d->momentum_buffer());
      } else {
        GREC_CHECK(false, "unsupported optimizer state type");
      }
    }
  }
  *scalars = {{"optimizer", kind_of(optimizer)}, {"groups", sizes}, {"step", steps}};
  return out;
}

void load_optimizer_state(torch::optim::Optimizer& optimizer, const NamedTensors& tensors,
                          const nlohmann::json& scalars, const std::string& origin) {
  namespace optim = torch::optim;
  const std::string kind = kind_of(optimizer);
  if (scalars.value("optimizer", "") != kind) {
    user_error("optimizer state in '{}' is for '{}', but the optimizer is '{}'", origin,
               scalars.value("optimizer", "?"), kind);
  }
  std::map<std::string, torch::Tensor> by_name(tensors.begin(), tensors.end());
  const auto& groups = optimizer.param_groups();
  const nlohmann::json& sizes = scalars.at("groups");
  if (sizes.size() != groups.size()) {
    user_error("optimizer state in '{}' has {} parameter groups, the optimizer {}", origin,
               sizes.size(), groups.size());
  }
  auto& state = optimizer.state();
  using Map = std::decay_t<decltype(state)>;
  size_t used = 0;
  for (size_t g = 0; g < groups.size(); ++g) {
    if (sizes[g].get<size_t>() != groups[g].params().size()) {
      user_error("optimizer state in '{}': group {} has {} parameters, the optimizer {}", origin,
                 g, sizes[g].get<size_t>(), groups[g].params().size());
    }
    for (size_t i = 0; i < groups[g].params().size(); ++i) {
      const torch::Tensor& p = groups[g].params()[i];
      const std::string id = fmt::format("g{}.p{}", g, i);
      const auto key = optim_state_key<Map>(p);
      if (!scalars.at("step").contains(id)) {
        state.erase(key);
        continue;
      }
      const int64_t step = scalars["step"][id].get<int64_t>();
      // Copies into fresh tensors shaped like the parameter, so the restored state has the
      // parameter's dtype/device and bit-identical values.
      const auto get = [&](const char* field, bool required) -> torch::Tensor {
        auto it = by_name.find(id + "." + field);
        if (it == by_name.end()) {
          if (required) user_error("optimizer state in '{}' lacks '{}.{}'", origin, id, field);
          return {};
        }
        ++used;
        if (it->second.sizes() != p.sizes()) {
          user_error("optimizer state in '{}': '{}.{}' does not match its parameter's shape",
                     origin, id, field);
        }
        return it->second.to(p.device(), it->second.scalar_type()).clone();
      };
      if (kind == "adamw") {
        auto s = std::make_unique<optim::AdamWParamState>();
        s->step(step);
        s->exp_avg(get("exp_avg", true));
        s->exp_avg_sq(get("exp_avg_sq", true));
        s->max_exp_avg_sq(get("max_exp_avg_sq", false));
        state[key] = std::move(s);
      } else if (kind == "adam") {
        auto s = std::make_unique<optim::AdamParamState>();
        s->step(step);
        s->exp_avg(get("exp_avg", true));
        s->exp_avg_sq(get("exp_avg_sq", true));
        s->max_exp_avg_sq(get("max_exp_avg_sq", false));
        state[key] = std::move(s);
      } else if (kind == "adagrad") {
        auto s = std::make_unique<optim::AdagradParamState>();
        s->step(step);
        s->sum(get("sum", true));
        state[key] = std::move(s);
      } else {
        auto s = std::make_unique<optim::SGDParamState>();
        s->momentum_buffer(get("momentum_buffer", false));
        state[key] = std::move(s);
      }
    }
  }
  if (used != tensors.size()) {
    user_error("optimizer state in '{}' has {} tensors that match no parameter", origin,
               tensors.size() - used);
  }
}

}  // namespace grec::train
