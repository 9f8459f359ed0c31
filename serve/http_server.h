// `grec serve`'s HTTP/JSON server (cpp-httplib) in front of a Recommender:
//
//   POST /v1/recommend   {"history": [...], "k", "model", "exclude_history"} (serve/request.h)
//                        -> 200 {"items": [{"id", "title", "score"}], "model", "latency_ms",
//                                "warnings" (only when some history ids were unknown)}
//   GET  /healthz        -> 200 {"status": "ok", "models": [...]}
//   GET  /metrics        -> Prometheus text format 0.0.4 (serve/serve_metrics.h)
//
// Every error is {"error": "one sentence"}: 400 bad input (or a history with no known item),
// 404 unknown path, 405 wrong method on a known path, 413 body over max_body_bytes, 503 while
// draining, 500 internal. Queries go through a MicroBatcher, so concurrent requests share one
// Recommender::recommend call; at most `threads` requests are handled at once, which also bounds
// the batch size.
//
// Shutdown: stop() drains. New requests get 503 (GET /metrics still answers) until every request
// admitted before stop() has its response; then the listening socket closes, run() waits for the
// handler threads (an idle keep-alive connection holds one for up to 5 s) and returns.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "serve/recommender.h"

namespace grec::serve {

class MicroBatcher;
class ServeMetrics;

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                   // 0 = any free port (bind() says which)
  int64_t max_batch = 16;            // queries per recommend() call
  int64_t max_wait_ms = 5;           // how long the first query of a batch waits for company
  int64_t max_body_bytes = 1 << 20;  // larger bodies get 413
  int threads = 32;                  // HTTP handler threads (>= max_batch, or it caps the batch)
  double read_timeout_s = 5;         // a client that stalls longer mid-request is dropped
  double write_timeout_s = 5;
  double drain_timeout_s = 30;       // stop(): longest wait for admitted requests
};

class Server {
 public:
  // `recommender` must outlive the server; only the batching thread calls recommend().
  Server(Recommender& recommender, ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds host:port and returns the bound port. UserError when the address is unavailable.
  int bind();
  // Serves until stop(); bind() first.
  void run();
  // Drains (see above) and makes run() return. Thread-safe, idempotent; may be called before
  // run() (which then returns at once). Returns once the listening socket is closed.
  void stop();

  int port() const;
  const ServeMetrics& metrics() const;
  const MicroBatcher& batcher() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace grec::serve
