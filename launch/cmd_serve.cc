// `grec serve BUNDLE`: loads a serving bundle (export/bundle.h), builds its recommender
// (serve/recommender.h) and serves it over HTTP/JSON (serve/http_server.h) until SIGTERM or
// SIGINT, which drain the server (requests already received are answered) and exit with code 0.
#include "launch/cmd_serve.h"

#include <CLI/CLI.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "core/error.h"
#include "core/log.h"
#include "dist/signals.h"
#include "export/bundle.h"
#include "launch/guarded.h"
#include "serve/http_server.h"
#include "serve/micro_batcher.h"
#include "serve/recommender.h"

namespace grec::launch {

namespace {

struct ServeArgs {
  std::string bundle;
  serve::ServerOptions server;
  int64_t beams = 0;
  int intra_op_threads = 0;
  bool no_verify = false;
};

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

void run_serve(const ServeArgs& a) {
  // Handlers first: a SIGTERM while the bundle loads must not kill the process half-way either.
  dist::StopSignal stop_signal;

  // One thread (the batcher's) runs the models, so intra-op parallelism gets every core.
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  torch::set_num_threads(a.intra_op_threads > 0 ? a.intra_op_threads : cores);

  bundle::LoadOptions lo;
  lo.verify = !a.no_verify;
  auto bundle = bundle::load_bundle(a.bundle, lo);
  serve::RecommenderOptions ro;
  ro.num_beams = a.beams;
  ro.batch_size = std::max<int64_t>(1, a.server.max_batch);  // one micro-batch, one decode
  auto recommender = serve::make_bundle_recommender(bundle, ro);
  if (stop_signal.local()) {
    GREC_INFO("serve: stopped by signal {} before serving", stop_signal.signal_number());
    return;
  }

  serve::Server server(*recommender, a.server);
  const int port = server.bind();
  GREC_INFO("serving {} on http://{}:{} (models: {}; max batch {}, max wait {} ms, {} HTTP "
            "threads, {} intra-op threads)",
            a.bundle, a.server.host, port, join(recommender->models()), a.server.max_batch,
            a.server.max_wait_ms, a.server.threads, torch::get_num_threads());

  std::atomic<bool> finished{false};
  std::thread watcher([&] {
    while (!finished.load()) {
      if (stop_signal.local()) {
        GREC_INFO("serve: signal {}: draining", stop_signal.signal_number());
        server.stop();
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  try {
    server.run();
  } catch (...) {
    finished = true;
    watcher.join();
    throw;
  }
  finished = true;
  watcher.join();
  GREC_INFO("serve: stopped after {} model calls (largest batch {})", server.batcher().batches(),
            server.batcher().largest_batch());
}

}  // namespace

void add_serve_commands(CLI::App& app, int* exit_code) {
  auto sa = std::make_shared<ServeArgs>();
  auto* cmd = app.add_subcommand("serve", "HTTP/JSON recommendations from a bundle (POST "
                                          "/v1/recommend, GET /healthz, GET /metrics)");
  cmd->add_option("BUNDLE", sa->bundle, "bundle folder (grec export)")->required();
  cmd->add_option("--host", sa->server.host, "address to listen on (0.0.0.0: every interface)");
  cmd->add_option("--port", sa->server.port, "TCP port (0: any free port, printed at start)")
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--max-batch", sa->server.max_batch,
                  "queries answered by one model call (1: no micro-batching)")
      ->check(CLI::Range(int64_t{1}, int64_t{4096}));
  cmd->add_option("--max-wait-ms", sa->server.max_wait_ms,
                  "how long a query waits for others to share its batch")
      ->check(CLI::Range(int64_t{0}, int64_t{10000}));
  cmd->add_option("--threads", sa->server.threads,
                  "HTTP handler threads: requests handled at once (this also bounds the batch)")
      ->check(CLI::Range(1, 4096));
  cmd->add_option("--max-body-bytes", sa->server.max_body_bytes,
                  "largest request body; larger ones get 413")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 34));
  cmd->add_option("--read-timeout-s", sa->server.read_timeout_s,
                  "a client silent this long mid-request (or idle on keep-alive) is dropped")
      ->check(CLI::Range(0.001, 3600.0));
  cmd->add_option("--beams", sa->beams, "LLM beams (default: the bundle's, as stage evaluate used)")
      ->check(CLI::Range(int64_t{1}, int64_t{4096}));
  cmd->add_option("--intra-op-threads", sa->intra_op_threads,
                  "LibTorch threads of the model (default: every core)")
      ->check(CLI::Range(1, 4096));
  cmd->add_flag("--no-verify", sa->no_verify, "skip the sha256 check of the bundle's files");
  cmd->callback([sa, exit_code]() { guarded(exit_code, [&] { run_serve(*sa); }); });
}

}  // namespace grec::launch
