// `grec serve`'s HTTP server on cpp-httplib (serve/http_server.h): routes, JSON error bodies,
// request accounting for the metrics, and the drain on stop().
//
// httplib's hooks, in the order it calls them for one request: the pre-routing handler (headers
// read; we admit or refuse with 503), the route handler, the error handler (any status >= 400;
// fills a JSON body where none is set, turns a 404 on a known path into a 405), the post-routing
// handler (just before the response is written; we count it) and the logger (after writing).
#include "serve/http_server.h"

#include <httplib.h>
#include <signal.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/log.h"
#include "serve/micro_batcher.h"
#include "serve/request.h"
#include "serve/serve_metrics.h"

namespace grec::serve {

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

constexpr const char* kRecommendPath = "/v1/recommend";
constexpr const char* kHealthPath = "/healthz";
constexpr const char* kMetricsPath = "/metrics";

// The methods each route answers (HEAD is served by httplib from the GET handler).
const std::map<std::string, std::string>& route_methods() {
  static const std::map<std::string, std::string> m{
      {kRecommendPath, "POST"}, {kHealthPath, "GET, HEAD"}, {kMetricsPath, "GET, HEAD"}};
  return m;
}

// Titles and echoed user input may hold invalid UTF-8; replace it rather than fail the response.
std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

void set_json(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(dump(body), "application/json");
}

void set_error(httplib::Response& res, int status, const std::string& message) {
  set_json(res, status, json{{"error", message}});
}

// The body of an error httplib produced itself (no handler set one).
std::string default_error_message(const httplib::Request& req, int status, int64_t max_body) {
  switch (status) {
    case 400:
      return "the HTTP request is malformed or its body could not be read in time";
    case 404:
      return "no such path '" + req.path +
             "' (the server has POST /v1/recommend, GET /healthz and GET /metrics)";
    case 413:
      return "the request body is larger than the server's limit of " + std::to_string(max_body) +
             " bytes";
    case 414:
      return "the request URI is too long";
    case 500:
      return "internal server error";
    default:
      return "HTTP error " + std::to_string(status);
  }
}

// httplib keeps the listening socket protected; the backlog compiled into Debian's
// libcpp-httplib (5) drops connections when a few dozen clients connect at once.
class HttpServer : public httplib::Server {
 public:
  int listening_socket() const { return svr_sock_; }
};

// Splits seconds into httplib's (sec, usec).
std::pair<time_t, time_t> sec_usec(double seconds) {
  seconds = std::max(0.0, seconds);
  const auto sec = static_cast<time_t>(seconds);
  const auto usec = static_cast<time_t>(std::llround((seconds - static_cast<double>(sec)) * 1e6));
  return {sec, std::min<time_t>(usec, 999999)};
}

}  // namespace

class Server::Impl {
 public:
  Impl(Recommender& recommender, ServerOptions options)
      : options_(std::move(options)),
        catalog_(ModelCatalog::of(recommender)),
        metrics_({kRecommendPath, kHealthPath, kMetricsPath}),
        batcher_(recommender, MicroBatcherOptions{options_.max_batch, options_.max_wait_ms},
                 [this](size_t n) { metrics_.observe_batch(n); }) {
    // A client that goes away makes our next write fail with EPIPE; httplib 0.11 sends without
    // MSG_NOSIGNAL, so SIGPIPE must be ignored or it would kill the server (httplib's Server
    // constructor does this too; we do not rely on it).
    ::signal(SIGPIPE, SIG_IGN);
    metrics_.set_queue_depth_source([this] { return batcher_.queue_depth(); });
    if (options_.threads < 1) user_error("serve: --threads must be at least 1, got {}", options_.threads);
    if (options_.max_body_bytes < 1) {
      user_error("serve: --max-body-bytes must be at least 1, got {}", options_.max_body_bytes);
    }
    if (options_.threads < options_.max_batch) {
      GREC_INFO("serve: {} HTTP threads < max batch {}: at most {} queries are in flight at once, "
                "so batches stay at or below that",
                options_.threads, options_.max_batch, options_.threads);
    }
    configure();
  }

  int bind() {
    int port = -1;
    if (options_.port == 0) {
      port = http_.bind_to_any_port(options_.host);
    } else if (http_.bind_to_port(options_.host, options_.port)) {
      port = options_.port;
    }
    if (port <= 0) {
      user_error("serve: cannot listen on {}:{} (address in use, or not an address of this host)",
                 options_.host, options_.port);
    }
    // Re-listening on a listening socket only changes its backlog (Linux, BSD).
    ::listen(http_.listening_socket(), SOMAXCONN);
    port_ = port;
    return port;
  }

  void run() {
    GREC_CHECK(port_ > 0, "Server::run() before bind()");
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stop_requested_) {
        batcher_.stop();
        return;
      }
      running_ = true;
    }
    http_.listen_after_bind();  // returns after stop(), once every handler thread has finished
    batcher_.stop();
    std::lock_guard<std::mutex> lock(mutex_);
    running_ = false;
    cv_.notify_all();
  }

  // For the destructor: run() on another thread must be out before the members go.
  void wait_until_run_returns() {
    std::unique_lock<std::mutex> lock(mutex_);
    cv_.wait(lock, [&] { return !running_; });
  }

  void stop() {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      draining_ = true;
      const auto timeout = std::chrono::duration<double>(std::max(0.0, options_.drain_timeout_s));
      if (!cv_.wait_for(lock, timeout, [&] { return admitted_ == 0; })) {
        GREC_WARN("serve: {} request{} still unanswered after {} s of draining; closing anyway",
                  admitted_, admitted_ == 1 ? "" : "s", options_.drain_timeout_s);
      }
    }
    // run() may be between its start and httplib's listen loop: wait until either is settled.
    for (;;) {
      {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!running_) {
          stop_requested_ = true;
          return;
        }
      }
      if (http_.is_running()) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!http_stopped_) http_.stop();  // closes the listening socket; run() then returns
        http_stopped_ = true;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }

  int port() const { return port_; }
  const ServeMetrics& metrics() const { return metrics_; }
  const MicroBatcher& batcher() const { return batcher_; }

 private:
  // What a handler thread knows about the request it is on (httplib runs a connection's
  // requests one after another on one thread).
  struct RequestState {
    Clock::time_point start;
    bool open = false;      // pre-routing ran, the response is not counted yet
    bool admitted = false;  // arrived before draining began
  };

  void configure() {
    const size_t threads = static_cast<size_t>(options_.threads);
    http_.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    const auto [rs, rus] = sec_usec(options_.read_timeout_s);
    http_.set_read_timeout(rs, rus);
    const auto [ws, wus] = sec_usec(options_.write_timeout_s);
    http_.set_write_timeout(ws, wus);
    // An idle keep-alive connection holds a handler thread: let it go as soon as a stalled read
    // would (and so bound how long run() waits for such connections after stop()).
    http_.set_keep_alive_timeout(
        std::max<time_t>(1, static_cast<time_t>(std::ceil(options_.read_timeout_s))));
    http_.set_payload_max_length(static_cast<size_t>(options_.max_body_bytes));
    // Small JSON responses are written as headers + body: without TCP_NODELAY, Nagle and delayed
    // ACKs add ~40 ms to every keep-alive request.
    http_.set_tcp_nodelay(true);
    // SO_REUSEADDR only: httplib's default SO_REUSEPORT would let a second server bind the same
    // port and silently take half of the traffic.
    http_.set_socket_options([](socket_t sock) {
      int yes = 1;
      ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    });

    http_.set_pre_routing_handler(
        [this](const httplib::Request& req, httplib::Response& res) { return admit(req, res); });
    http_.set_post_routing_handler(
        [this](const httplib::Request& req, httplib::Response& res) { count(req, res); });
    http_.set_error_handler(httplib::Server::HandlerWithResponse(
        [this](const httplib::Request& req, httplib::Response& res) {
          return error_body(req, res);
        }));
    http_.set_exception_handler(
        [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
          std::string what = "unknown exception";
          try {
            if (ep) std::rethrow_exception(ep);
          } catch (const std::exception& e) {
            what = e.what();
          } catch (...) {
          }
          GREC_ERROR("serve: request handler failed: {}", what);
          set_error(res, 500, "internal server error: " + what);
        });

    http_.Post(kRecommendPath, [this](const httplib::Request& req, httplib::Response& res) {
      recommend(req, res);
    });
    http_.Get(kHealthPath, [this](const httplib::Request&, httplib::Response& res) {
      json models = json::array();
      for (const auto& m : catalog_.models) models.push_back(m.name);
      set_json(res, 200, json{{"status", "ok"}, {"models", models}});
    });
    http_.Get(kMetricsPath, [this](const httplib::Request&, httplib::Response& res) {
      res.status = 200;
      res.set_content(metrics_.render(), ServeMetrics::content_type());
    });
  }

  httplib::Server::HandlerResponse admit(const httplib::Request& req, httplib::Response& res) {
    bool refuse = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      RequestState& st = requests_[std::this_thread::get_id()];
      if (st.open) close_request(st);  // the previous request left without a response
      refuse = draining_ && req.path != kMetricsPath;
      st.start = Clock::now();
      st.open = true;
      st.admitted = !refuse;
      if (st.admitted) ++admitted_;
    }
    metrics_.add_inflight(1);
    if (refuse) {
      set_error(res, 503, "the server is shutting down");
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  }

  void count(const httplib::Request& req, const httplib::Response& res) {
    double seconds = -1;  // unknown when httplib rejected the request before pre-routing
    {
      std::lock_guard<std::mutex> lock(mutex_);
      const auto it = requests_.find(std::this_thread::get_id());
      if (it != requests_.end() && it->second.open) {
        seconds = std::chrono::duration<double>(Clock::now() - it->second.start).count();
        close_request(it->second);
      }
    }
    metrics_.observe_request(req.path, res.status, seconds);
  }

  // mutex_ held.
  void close_request(RequestState& st) {
    metrics_.add_inflight(-1);
    if (st.admitted && --admitted_ == 0) cv_.notify_all();
    st = RequestState{};
  }

  httplib::Server::HandlerResponse error_body(const httplib::Request& req,
                                              httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;  // ours, JSON
    const auto route = route_methods().find(req.path);
    if (res.status == 404 && route != route_methods().end()) {
      res.set_header("Allow", route->second);
      set_error(res, 405,
                req.method + " is not allowed on " + req.path + " (use " + route->second + ")");
    } else if (res.status == 413 &&
               req.get_header_value("Content-Type").rfind("application/x-www-form-urlencoded", 0) ==
                   0) {
      // httplib caps form-encoded bodies (curl -d's default type) at 8192 bytes on its own.
      set_error(res, 413, "form-encoded request bodies are limited to 8192 bytes; send the JSON "
                          "with Content-Type: application/json");
    } else {
      set_error(res, res.status, default_error_message(req, res.status, options_.max_body_bytes));
    }
    return httplib::Server::HandlerResponse::Handled;
  }

  void recommend(const httplib::Request& req, httplib::Response& res) {
    const auto t0 = Clock::now();
    ParsedRequest parsed = parse_recommend_request(req.body, catalog_);
    if (!parsed.ok) return set_error(res, parsed.status, parsed.error);
    const std::string model = parsed.query.model;

    std::future<Answer> future;
    try {
      future = batcher_.submit(std::move(parsed.query));
    } catch (const ShuttingDown& e) {
      return set_error(res, 503, e.what());
    }
    Answer answer;
    try {
      answer = future.get();
    } catch (const std::exception& e) {
      return set_error(res, 500, e.what());
    }
    if (!answer.error.empty()) return set_error(res, 400, answer.error);

    json items = json::array();
    for (const auto& it : answer.items) {
      items.push_back(json{{"id", it.id}, {"title", it.title}, {"score", it.score}});
    }
    json body{{"items", std::move(items)},
              {"model", model},
              {"latency_ms",
               std::chrono::duration<double, std::milli>(Clock::now() - t0).count()}};
    if (!answer.warnings.empty()) body["warnings"] = answer.warnings;
    set_json(res, 200, body);
  }

  ServerOptions options_;
  ModelCatalog catalog_;
  ServeMetrics metrics_;
  MicroBatcher batcher_;  // after metrics_: its observer writes there
  HttpServer http_;
  int port_ = -1;

  std::mutex mutex_;
  std::condition_variable cv_;
  bool draining_ = false;
  int64_t admitted_ = 0;  // admitted requests without a response yet
  bool running_ = false;
  bool stop_requested_ = false;
  bool http_stopped_ = false;
  std::unordered_map<std::thread::id, RequestState> requests_;
};

Server::Server(Recommender& recommender, ServerOptions options)
    : impl_(std::make_unique<Impl>(recommender, std::move(options))) {}

Server::~Server() {
  impl_->stop();
  impl_->wait_until_run_returns();
}

int Server::bind() { return impl_->bind(); }
void Server::run() { impl_->run(); }
void Server::stop() { impl_->stop(); }
int Server::port() const { return impl_->port(); }
const ServeMetrics& Server::metrics() const { return impl_->metrics(); }
const MicroBatcher& Server::batcher() const { return impl_->batcher(); }

}  // namespace grec::serve
