// Prometheus counters, gauges and histograms of `grec serve` (serve/serve_metrics.h).
#include "serve/serve_metrics.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace grec::serve {

namespace {

const std::vector<double>& latency_bounds() {
  static const std::vector<double> b{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                     0.25,  0.5,    1.0,   2.5,  5.0,   10.0};
  return b;
}

const std::vector<double>& batch_bounds() {
  static const std::vector<double> b{1, 2, 4, 8, 16, 32, 64};
  return b;
}

// Prometheus floats: shortest round-trip text; "+Inf" for infinity.
std::string number(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v)) return "NaN";
  return fmt::format("{}", v);
}

// Label values escape backslash, double quote and newline.
std::string escape_label(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

}  // namespace

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)), buckets_(bounds_.size() + 1, 0) {}

void Histogram::observe(double value) {
  const auto it = std::lower_bound(bounds_.begin(), bounds_.end(), value);  // first bound >= v
  ++buckets_[static_cast<size_t>(it - bounds_.begin())];
  sum_ += value;
  ++count_;
}

uint64_t Histogram::count() const { return count_; }

void Histogram::render(const std::string& name, const std::string& labels,
                       std::string* out) const {
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    cumulative += buckets_[i];
    const std::string le = i < bounds_.size() ? number(bounds_[i]) : "+Inf";
    *out += fmt::format("{}_bucket{{{}le=\"{}\"}} {}\n", name, labels, le, cumulative);
  }
  const std::string plain = labels.empty() ? "" : "{" + labels.substr(0, labels.size() - 1) + "}";
  *out += fmt::format("{}_sum{} {}\n", name, plain, number(sum_));
  *out += fmt::format("{}_count{} {}\n", name, plain, count_);
}

ServeMetrics::ServeMetrics(std::vector<std::string> routes)
    : routes_(std::move(routes)), batch_size_(batch_bounds()) {}

std::string ServeMetrics::route_label(const std::string& path) const {
  return std::find(routes_.begin(), routes_.end(), path) != routes_.end() ? path : "other";
}

void ServeMetrics::observe_request(const std::string& path, int status, double seconds) {
  const std::string label = route_label(path);
  std::lock_guard<std::mutex> lock(mutex_);
  ++requests_[{label, status}];
  if (seconds >= 0) {
    auto it = latency_.find(label);
    if (it == latency_.end()) it = latency_.emplace(label, Histogram(latency_bounds())).first;
    it->second.observe(seconds);
  }
}

void ServeMetrics::observe_batch(size_t size) {
  std::lock_guard<std::mutex> lock(mutex_);
  batch_size_.observe(static_cast<double>(size));
}

void ServeMetrics::set_queue_depth_source(std::function<size_t()> source) {
  std::lock_guard<std::mutex> lock(mutex_);
  queue_depth_ = std::move(source);
}

uint64_t ServeMetrics::requests(const std::string& path, int status) const {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto it = requests_.find({route_label(path), status});
  return it == requests_.end() ? 0 : it->second;
}

uint64_t ServeMetrics::batches() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return batch_size_.count();
}

std::string ServeMetrics::render() const {
  std::function<size_t()> depth_source;
  std::string out;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    depth_source = queue_depth_;
    out += "# HELP grec_requests_total HTTP responses by route and status.\n";
    out += "# TYPE grec_requests_total counter\n";
    for (const auto& [key, n] : requests_) {
      out += fmt::format("grec_requests_total{{path=\"{}\",status=\"{}\"}} {}\n",
                         escape_label(key.first), key.second, n);
    }
    out += "# HELP grec_request_latency_seconds Time from receiving a request to writing its "
           "response.\n";
    out += "# TYPE grec_request_latency_seconds histogram\n";
    for (const auto& [path, h] : latency_) {
      h.render("grec_request_latency_seconds", "path=\"" + escape_label(path) + "\",", &out);
    }
    out += "# HELP grec_batch_size Queries per call of the recommender (micro-batching).\n";
    out += "# TYPE grec_batch_size histogram\n";
    batch_size_.render("grec_batch_size", "", &out);
  }
  // Read outside the lock: the source takes the batcher's own lock.
  const size_t depth = depth_source ? depth_source() : 0;
  out += "# HELP grec_queue_depth Queries waiting for the batching thread.\n";
  out += "# TYPE grec_queue_depth gauge\n";
  out += fmt::format("grec_queue_depth {}\n", depth);
  out += "# HELP grec_inflight_requests HTTP requests being handled.\n";
  out += "# TYPE grec_inflight_requests gauge\n";
  out += fmt::format("grec_inflight_requests {}\n", inflight_.load());
  return out;
}

}  // namespace grec::serve
