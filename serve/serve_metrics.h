// The server's Prometheus metrics, rendered in the text exposition format 0.0.4:
//
//   grec_requests_total{path,status}       counter: every HTTP response, by route and status
//   grec_request_latency_seconds{path}     histogram: request received -> response written
//   grec_batch_size                        histogram: queries per Recommender::recommend call
//   grec_queue_depth                       gauge: queries waiting for the batching thread
//   grec_inflight_requests                 gauge: requests being handled right now
//
// Paths other than the server's routes are counted under path="other", so scanners probing
// random URLs cannot grow the label set without bound. Thread-safe.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace grec::serve {

class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void observe(double value);
  // Lines "<name>_bucket{<labels>le="..."} n", "_sum", "_count"; labels like `path="/x",` or "".
  void render(const std::string& name, const std::string& labels, std::string* out) const;
  uint64_t count() const;

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> buckets_;  // non-cumulative; one more than bounds_ (the +Inf bucket)
  double sum_ = 0;
  uint64_t count_ = 0;
};

class ServeMetrics {
 public:
  // `routes` are the paths counted under their own name.
  explicit ServeMetrics(std::vector<std::string> routes);

  // One response written (status: its HTTP status; seconds < 0: latency unknown, not observed).
  void observe_request(const std::string& path, int status, double seconds);
  void observe_batch(size_t size);
  void add_inflight(int64_t delta) { inflight_ += delta; }
  int64_t inflight() const { return inflight_.load(); }
  // Where grec_queue_depth is read at render time.
  void set_queue_depth_source(std::function<size_t()> source);

  // Counter value (0 when never seen), for tests and logs.
  uint64_t requests(const std::string& path, int status) const;
  uint64_t batches() const;

  std::string render() const;
  static const char* content_type() { return "text/plain; version=0.0.4; charset=utf-8"; }

 private:
  std::string route_label(const std::string& path) const;

  std::vector<std::string> routes_;
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;
  std::map<std::string, Histogram> latency_;  // by route label
  Histogram batch_size_;
  std::function<size_t()> queue_depth_;
  std::atomic<int64_t> inflight_{0};
};

}  // namespace grec::serve
