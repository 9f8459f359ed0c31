// Gradient sync: dedup, flat buckets, agreed checks (missing grads, NaN/Inf), reduction, clipping,
// the start-up broadcast and the consistency check.
#include "dist/grad_sync.h"

#include <algorithm>
#include <cmath>
#include <chrono>
#include <map>
#include <set>
#include <tuple>

#include "core/error.h"
#include "core/hash.h"
#include "core/log.h"

namespace grec::dist {
namespace {

using Clock = std::chrono::steady_clock;

std::string shape_str(c10::IntArrayRef sizes) {
  std::string s = "[";
  for (size_t i = 0; i < sizes.size(); ++i) s += (i ? ", " : "") + std::to_string(sizes[i]);
  return s + "]";
}

// Identity of a parameter's memory: tied parameters share it, distinct views do not.
using StorageKey = std::tuple<const void*, int64_t, std::vector<int64_t>, std::vector<int64_t>>;
StorageKey storage_key(const torch::Tensor& t) {
  return {t.storage().unsafeGetStorageImpl(), t.storage_offset(), t.sizes().vec(),
          t.strides().vec()};
}

// Ordered (key, value) description of one rank's state for the consistency check.
using Items = std::vector<std::pair<std::string, std::string>>;

std::string serialize(const Items& items) {
  std::string s;
  for (const auto& [k, v] : items) s += k + '\x1f' + v + '\n';
  return s;
}

Items parse(const std::string& s) {
  Items items;
  size_t pos = 0;
  while (pos < s.size()) {
    const size_t end = s.find('\n', pos);
    const std::string line = s.substr(pos, end - pos);
    const size_t sep = line.find('\x1f');
    items.emplace_back(line.substr(0, sep), sep == std::string::npos ? "" : line.substr(sep + 1));
    pos = end == std::string::npos ? s.size() : end + 1;
  }
  return items;
}

// What differs between rank 0's items and rank r's, one sentence per difference.
std::vector<std::string> differences(const Items& a, const Items& b, int r) {
  std::vector<std::string> out;
  std::map<std::string, std::string> ma(a.begin(), a.end()), mb(b.begin(), b.end());
  for (const auto& [k, v] : a) {
    auto it = mb.find(k);
    if (it == mb.end()) {
      out.push_back(fmt::format("{} exists on rank 0 but not on rank {}", k, r));
    } else if (it->second != v) {
      if (k == "config hash" || k == "dataset fingerprint") {
        out.push_back(fmt::format("{} differs on rank {} ('{}' on rank 0, '{}' on rank {})", k, r,
                                  v, it->second, r));
      } else {
        out.push_back(fmt::format("{} is {} on rank 0 and {} on rank {}", k, v, it->second, r));
      }
    }
  }
  for (const auto& [k, v] : b) {
    if (!ma.count(k)) out.push_back(fmt::format("{} exists on rank {} but not on rank 0", k, r));
  }
  if (out.empty() && a != b) out.push_back(fmt::format("parameter order differs on rank {}", r));
  return out;
}

}  // namespace

GradSync::GradSync(torch::nn::Module& module, Communicator& comm, GradSyncOptions options)
    : module_(module), comm_(comm), options_(std::move(options)) {
  if (options_.nonfinite != "skip" && options_.nonfinite != "abort") {
    user_error("nonfinite must be 'skip' or 'abort', got '{}'", options_.nonfinite);
  }
  std::map<StorageKey, size_t> seen;
  for (const auto& item : module_.named_parameters(/*recurse=*/true)) {
    const torch::Tensor& t = item.value();
    if (!t.defined() || !t.requires_grad()) continue;
    auto [it, inserted] = seen.emplace(storage_key(t), params_.size());
    if (inserted) params_.push_back(Param{item.key(), {}, t, false});
    params_[it->second].aliases.push_back(item.key());
  }
  for (const auto& name : options_.may_be_unused) {
    bool found = false;
    for (auto& p : params_) {
      if (std::find(p.aliases.begin(), p.aliases.end(), name) != p.aliases.end()) {
        p.may_be_unused = found = true;
      }
    }
    if (!found) user_error("may_be_unused names '{}', which is not a trainable parameter", name);
  }
  std::vector<BucketItem> items;
  for (size_t i = 0; i < params_.size(); ++i) {
    const torch::Tensor& t = params_[i].tensor;
    items.push_back({t.numel() * static_cast<int64_t>(t.element_size()),
                     fmt::format("{}/{}", c10::toString(t.scalar_type()), t.device().str())});
    if (params_[i].may_be_unused) unused_allowed_.push_back(static_cast<int64_t>(i));
  }
  for (const BucketPlan& plan :
       assign_buckets(items, options_.first_bucket_bytes, options_.bucket_bytes)) {
    Bucket b;
    int64_t numel = 0;
    for (int64_t i : plan.items) {
      b.params.push_back(i);
      b.offsets.push_back(numel);
      numel += params_[static_cast<size_t>(i)].tensor.numel();
    }
    const torch::Tensor& first = params_[static_cast<size_t>(plan.items.front())].tensor;
    b.flat = torch::zeros({numel}, first.options().requires_grad(false));
    buckets_.push_back(std::move(b));
  }
}

std::vector<std::vector<std::string>> GradSync::bucket_names() const {
  std::vector<std::vector<std::string>> out;
  for (const Bucket& b : buckets_) {
    out.emplace_back();
    for (int64_t i : b.params) out.back().push_back(params_[static_cast<size_t>(i)].name);
  }
  return out;
}

void GradSync::zero_grads() {
  for (auto& p : params_) {
    if (p.tensor.grad().defined()) p.tensor.mutable_grad().zero_();
  }
}

namespace {

// Σ‖t‖² of `tensors` as one host value: one reduction kernel per tensor, one device→host copy.
// Norms are taken in the tensors' precision and redone in double when that overflows, so the
// result is infinite or NaN exactly when some element is (float32 squares cannot overflow double).
double squared_norm(const std::vector<torch::Tensor>& tensors, bool in_double = false) {
  std::vector<torch::Tensor> norms;
  norms.reserve(tensors.size());
  for (const torch::Tensor& t : tensors) {
    if (!t.defined() || t.numel() == 0) continue;
    norms.push_back((in_double ? t.to(torch::kDouble).norm() : t.norm().to(torch::kDouble)).reshape({1}));
  }
  if (norms.empty()) return 0.0;
  const double sq = torch::cat(norms).square().sum().item<double>();
  return std::isfinite(sq) || in_double ? sq : squared_norm(tensors, true);
}

}  // namespace

// reduce() in the order a step takes: what this rank has, the one small collective that makes every
// rank agree on it, the verdicts everyone takes the same way, then the buckets.
bool GradSync::reduce(ReduceOp op) {
  torch::NoGradGuard no_grad;
  reduced_sq_norm_.reset();
  const LocalGrads local = inspect_local_grads();
  // One rank: the reduction is the identity (sum or mean of one), so the gradients stay where
  // they are; their norm, needed for the finiteness test, is also the norm clip() wants.
  const bool single = comm_.world() == 1 && (op == ReduceOp::kSum || op == ReduceOp::kAvg);
  bool nonfinite = false;
  if (single) {
    const double sq = grads_squared_norm();
    nonfinite = !std::isfinite(sq);
    if (!nonfinite) reduced_sq_norm_ = sq;
  } else {
    nonfinite = !std::isfinite(pack_buckets(local.used));
  }
  const Agreed agreed = agree(local, nonfinite);
  if (agreed.missing >= 0) {
    user_error("parameter '{}' got no gradient in step {} ({}); if the model may leave it unused, "
               "declare it in may_be_unused",
               params_[static_cast<size_t>(agreed.missing)].name, comm_.step(),
               local.missing == agreed.missing ? fmt::format("on rank {}", comm_.rank())
                                               : std::string("on another rank"));
  }
  if (agreed.nonfinite) {
    skip_nonfinite_step(nonfinite);
    return false;
  }
  if (single) return true;
  allreduce_buckets(op);
  unpack_buckets(local.used, agreed.used_anywhere);
  return true;
}

GradSync::LocalGrads GradSync::inspect_local_grads() const {
  LocalGrads local;
  local.used.assign(params_.size(), 0);
  for (size_t i = 0; i < params_.size(); ++i) {
    local.used[i] = params_[i].tensor.grad().defined();
    if (!local.used[i] && !params_[i].may_be_unused && local.missing < 0) {
      local.missing = static_cast<int64_t>(i);
    }
  }
  return local;
}

double GradSync::pack_buckets(const std::vector<char>& used) {
  // A missing gradient counts as zero.
  std::vector<torch::Tensor> flats;
  for (Bucket& b : buckets_) {
    for (size_t k = 0; k < b.params.size(); ++k) {
      const Param& p = params_[static_cast<size_t>(b.params[k])];
      torch::Tensor dst = b.flat.narrow(0, b.offsets[k], p.tensor.numel());
      if (used[static_cast<size_t>(b.params[k])]) {
        dst.copy_(p.tensor.grad().reshape({-1}));
      } else {
        dst.zero_();
      }
    }
    if (b.flat.is_floating_point()) flats.push_back(b.flat);
  }
  return squared_norm(flats);
}

GradSync::Agreed GradSync::agree(const LocalGrads& local, bool nonfinite) {
  // [non-finite anywhere, first missing parameter + 1, used flag of each may-be-unused one],
  // reduced with MAX.
  torch::Tensor flags = torch::zeros({2 + static_cast<int64_t>(unused_allowed_.size())},
                                     torch::TensorOptions().dtype(torch::kDouble));
  auto acc = flags.accessor<double, 1>();
  acc[0] = nonfinite ? 1 : 0;
  acc[1] = static_cast<double>(local.missing + 1);
  for (size_t k = 0; k < unused_allowed_.size(); ++k) {
    acc[static_cast<int64_t>(k) + 2] = local.used[static_cast<size_t>(unused_allowed_[k])];
  }
  const auto t0 = Clock::now();
  torch::Tensor dflags = flags.to(comm_.device());
  comm_.name_next("allreduce grad flags");
  comm_.allreduce(dflags, ReduceOp::kMax);
  flags = dflags.cpu();
  comm_seconds_ += std::chrono::duration<double>(Clock::now() - t0).count();
  const auto got = flags.accessor<double, 1>();
  Agreed agreed;
  agreed.nonfinite = got[0] > 0;
  agreed.missing = static_cast<int64_t>(got[1]) - 1;
  agreed.used_anywhere.assign(params_.size(), 1);
  for (size_t k = 0; k < unused_allowed_.size(); ++k) {
    agreed.used_anywhere[static_cast<size_t>(unused_allowed_[k])] =
        got[static_cast<int64_t>(k) + 2] > 0;
  }
  return agreed;
}

void GradSync::skip_nonfinite_step(bool here) {
  const std::string where =
      here ? fmt::format("on rank {}", comm_.rank()) : std::string("on another rank");
  if (options_.nonfinite == "abort") {
    throw Error(fmt::format("non-finite gradient (NaN/Inf) in step {} {}; stopping because "
                            "nonfinite is 'abort'", comm_.step(), where));
  }
  GREC_WARN("non-finite gradient (NaN/Inf) in step {} {}; skipping the step", comm_.step(), where);
  zero_grads();
  reduced_sq_norm_.reset();
}

void GradSync::allreduce_buckets(ReduceOp op) {
  // Strictly in bucket order on every rank (NCCL requires the same order everywhere).
  std::vector<torch::Tensor> flats;
  for (size_t i = 0; i < buckets_.size(); ++i) {
    const auto t1 = Clock::now();
    comm_.name_next(fmt::format("allreduce bucket {}", i));
    comm_.allreduce(buckets_[i].flat, op);
    comm_seconds_ += std::chrono::duration<double>(Clock::now() - t1).count();
    if (buckets_[i].flat.is_floating_point()) flats.push_back(buckets_[i].flat);
  }
  // The reduced buckets hold every gradient (zeros for the unused): their norm is the global one.
  reduced_sq_norm_ = squared_norm(flats);
}

void GradSync::unpack_buckets(const std::vector<char>& used,
                              const std::vector<char>& used_anywhere) {
  for (Bucket& b : buckets_) {
    for (size_t k = 0; k < b.params.size(); ++k) {
      const auto pi = static_cast<size_t>(b.params[k]);
      Param& p = params_[pi];
      torch::Tensor src = b.flat.narrow(0, b.offsets[k], p.tensor.numel()).view(p.tensor.sizes());
      if (used[pi]) {
        p.tensor.mutable_grad().copy_(src);
      } else if (used_anywhere[pi]) {
        // Unused here, used on another rank: it gets that gradient. Unused everywhere: none.
        p.tensor.mutable_grad() = src.clone();
      }
    }
  }
}

double GradSync::grads_squared_norm() const {
  std::vector<torch::Tensor> grads;
  for (const Param& p : params_) grads.push_back(p.tensor.grad());  // undefined ones are skipped
  return squared_norm(grads);
}

double GradSync::grad_norm() {
  if (!reduced_sq_norm_) {
    torch::NoGradGuard no_grad;
    reduced_sq_norm_ = grads_squared_norm();
  }
  return std::sqrt(*reduced_sq_norm_);
}

double clip_coefficient(double norm, double max_norm) {
  // Same coefficient as torch.nn.utils.clip_grad_norm_.
  return max_norm > 0 && norm > max_norm ? max_norm / (norm + 1e-6) : 1.0;
}

void GradSync::scale_grads(double factor) {
  torch::NoGradGuard no_grad;
  for (auto& p : params_) {
    if (p.tensor.grad().defined()) p.tensor.mutable_grad().mul_(factor);
  }
  reduced_sq_norm_.reset();
}

double GradSync::clip(double max_norm) {
  const double norm = grad_norm();
  const double coef = clip_coefficient(norm, max_norm);
  if (coef != 1.0) scale_grads(coef);
  return norm;
}

void GradSync::broadcast_state() {
  torch::NoGradGuard no_grad;
  auto send = [&](const std::string& what, torch::Tensor t) {
    if (!t.defined()) return;
    torch::Tensor src = t;
    if (!t.is_contiguous() || t.device() != comm_.device()) src = t.to(comm_.device()).contiguous();
    comm_.name_next(fmt::format("broadcast {}", what));
    comm_.broadcast(src, 0);
    if (!src.is_same(t)) t.copy_(src);
  };
  std::set<StorageKey> seen;
  for (const auto& item : module_.named_parameters(true)) {
    if (item.value().defined() && seen.insert(storage_key(item.value())).second) {
      send(fmt::format("parameter '{}'", item.key()), item.value());
    }
  }
  for (const auto& item : module_.named_buffers(true)) {
    if (item.value().defined() && seen.insert(storage_key(item.value())).second) {
      send(fmt::format("buffer '{}'", item.key()), item.value());
    }
  }
}

void GradSync::check_consistency(const std::string& config_hash,
                                 const std::string& dataset_fingerprint) {
  Items items{{"config hash", config_hash}, {"dataset fingerprint", dataset_fingerprint}};
  for (const auto& item : module_.named_parameters(true)) {
    const torch::Tensor& t = item.value();
    items.emplace_back(fmt::format("parameter '{}'", item.key()), shape_str(t.sizes()));
    items.emplace_back(fmt::format("dtype of parameter '{}'", item.key()),
                       c10::toString(t.scalar_type()));
  }
  for (const auto& item : module_.named_buffers(true)) {
    const torch::Tensor& t = item.value();
    if (!t.defined()) continue;
    items.emplace_back(fmt::format("buffer '{}'", item.key()), shape_str(t.sizes()));
    items.emplace_back(fmt::format("dtype of buffer '{}'", item.key()),
                       c10::toString(t.scalar_type()));
  }
  const std::string mine = serialize(items);
  // Cheap round first: only the hashes travel unless they differ.
  comm_.name_next("allgather consistency hashes");
  const auto hashes = comm_.allgather_bytes(hex64(fnv1a64(mine)));
  if (std::all_of(hashes.begin(), hashes.end(), [&](const auto& h) { return h == hashes[0]; })) {
    return;
  }
  comm_.name_next("allgather consistency items");
  const auto all = comm_.allgather_bytes(mine);
  const Items reference = parse(all[0]);
  std::vector<std::string> diffs;
  for (size_t r = 1; r < all.size(); ++r) {
    for (auto& d : differences(reference, parse(all[r]), static_cast<int>(r))) {
      diffs.push_back(std::move(d));
    }
  }
  const size_t total = diffs.size();
  if (diffs.size() > 5) diffs.resize(5);
  std::string text;
  for (const auto& d : diffs) text += (text.empty() ? "" : "; ") + d;
  if (total > diffs.size()) text += fmt::format("; and {} more", total - diffs.size());
  user_error("the ranks do not run the same job: {}", text);
}

}  // namespace grec::dist
