// The HTTP server (serve/http_server.cc) in-process on a free port with the fake recommender and
// httplib::Client: answers, every kind of bad input with its status and JSON message, unknown
// ids as warnings, micro-batching under 32 concurrent clients, max_batch, draining on stop(),
// slow and vanishing clients, and the Prometheus counters.
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "serve/http_server.h"
#include "serve/micro_batcher.h"
#include "serve/serve_metrics.h"
#include "tests/serve/fake_recommender.h"

namespace grec::serve {
namespace {

using nlohmann::json;
using test::FakeRecommender;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// A Server on 127.0.0.1:<free port>, run() on its own thread.
class TestServer {
 public:
  explicit TestServer(ServerOptions o = {}, std::vector<std::string> models = {"llm", "student"})
      : fake(std::move(models)) {
    o.port = 0;
    server = std::make_unique<Server>(fake, o);
    port = server->bind();
    thread = std::thread([this] { server->run(); });
  }
  ~TestServer() { shutdown(); }
  void shutdown() {
    if (!thread.joinable()) return;
    server->stop();
    thread.join();
  }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port);
    c.set_connection_timeout(5);
    c.set_read_timeout(10);
    return c;
  }

  FakeRecommender fake;
  std::unique_ptr<Server> server;
  int port = -1;
  std::thread thread;
};

httplib::Result post(const TestServer& s, const std::string& body) {
  return s.client().Post("/v1/recommend", body, "application/json");
}

// The "error" of a JSON error body ("" when there is none).
std::string error_of(const httplib::Result& r) {
  if (!r) return "<no response>";
  const auto j = json::parse(r->body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("error") || !j["error"].is_string()) return "";
  return j["error"].get<std::string>();
}

void expect_healthy(const TestServer& s) {
  auto r = s.client().Get("/healthz");
  ASSERT_TRUE(r) << httplib::to_string(r.error());
  EXPECT_EQ(r->status, 200);
  const auto j = json::parse(r->body);
  EXPECT_EQ(j["status"], "ok");
  EXPECT_EQ(j["models"], json::array({"llm", "student"}));
}

// The items of a 200 answer, as JSON (latency_ms differs between calls).
json items_of(const httplib::Result& r) {
  if (!r || r->status != 200) return json("status " + (r ? std::to_string(r->status) : "none"));
  return json::parse(r->body)["items"];
}

json expected_items(const FakeRecommender& fake, const Query& q) {
  json items = json::array();
  for (const auto& it : fake.answer(q).items) {
    items.push_back({{"id", it.id}, {"title", it.title}, {"score", it.score}});
  }
  return items;
}

// A raw TCP connection, for clients that misbehave.
class RawSocket {
 public:
  explicit RawSocket(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  }
  ~RawSocket() { close(); }
  bool connected() const { return connected_; }
  void send(const std::string& s) { ::send(fd_, s.data(), s.size(), MSG_NOSIGNAL); }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  // Reads until the server closes the connection or `timeout_s` passes; returns what came.
  std::string read_until_closed(double timeout_s, bool* closed) {
    timeval tv{0, 100000};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    std::string got;
    const auto t0 = Clock::now();
    *closed = false;
    while (seconds_since(t0) < timeout_s) {
      char buf[4096];
      const ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
      if (n > 0) {
        got.append(buf, static_cast<size_t>(n));
      } else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        *closed = true;
        break;
      }
    }
    return got;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
};

TEST(HttpServer, RecommendAnswersWithTheModelsItems) {
  TestServer s;
  auto r = post(s, R"({"history": ["3", "14", "15"], "k": 7, "model": "student"})");
  ASSERT_TRUE(r) << httplib::to_string(r.error());
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
  const auto j = json::parse(r->body);
  Query q;
  q.history = {"3", "14", "15"};
  q.k = 7;
  q.model = "student";
  q.exclude_history = false;  // the default, as grec recommend's
  EXPECT_EQ(j["items"], expected_items(s.fake, q));
  EXPECT_EQ(j["items"].size(), 7u);
  EXPECT_EQ(j["model"], "student");
  EXPECT_TRUE(j["latency_ms"].is_number());
  EXPECT_GE(j["latency_ms"].get<double>(), 0.0);
  EXPECT_FALSE(j.contains("warnings"));

  // Defaults: llm, k 10; integer ids name the same items as their text.
  auto a = post(s, R"({"history": [3, 14]})");
  auto b = post(s, R"({"history": ["3", "14"], "k": 10, "model": "llm"})");
  ASSERT_TRUE(a && b);
  EXPECT_EQ(json::parse(a->body)["model"], "llm");
  EXPECT_EQ(items_of(a).size(), 10u);
  EXPECT_EQ(items_of(a), items_of(b));
}

TEST(HttpServer, UnknownIdsAreSkippedWithWarnings) {
  TestServer s;
  auto r = post(s, R"({"history": ["5", "no-such-item", "6", "999"], "k": 3})");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const auto j = json::parse(r->body);
  ASSERT_TRUE(j.contains("warnings"));
  ASSERT_EQ(j["warnings"].size(), 2u);
  EXPECT_NE(j["warnings"][0].get<std::string>().find("no-such-item"), std::string::npos);
  EXPECT_NE(j["warnings"][1].get<std::string>().find("999"), std::string::npos);
  Query q;
  q.history = {"5", "6"};
  q.k = 3;
  EXPECT_EQ(j["items"], expected_items(s.fake, q));

  // No known item at all: the recommender's error, 400.
  r = post(s, R"({"history": ["nope", "neither"]})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(error_of(r).find("none of the history"), std::string::npos) << r->body;
}

TEST(HttpServer, BadInputGetsItsStatusAndAMessage) {
  ServerOptions o;
  o.max_body_bytes = 4096;
  TestServer s(o);
  struct Case {
    std::string body;
    int status;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"{\"history\": [", 400, "not valid JSON (byte 14)"},
      {"", 400, "body is empty"},
      {"[\"1\"]", 400, "must be a JSON object"},
      {"{}", 400, "'history' is missing"},
      {R"({"history": "12"})", 400, "'history' must be an array"},
      {R"({"history": []})", 400, "'history' is empty"},
      {R"({"history": ["1", true]})", 400, "'history[1]'"},
      {R"({"history": ["1"], "k": 0})", 400, "'k' must be between 1 and 20"},
      {R"({"history": ["1"], "k": 21})", 400, "'k' must be between 1 and 20"},
      {R"({"history": ["1"], "k": "5"})", 400, "'k' must be an integer"},
      {R"({"history": ["1"], "model": "gpt"})", 400, "unknown model 'gpt'"},
      {R"({"history": ["1"], "exclude_history": "no"})", 400, "'exclude_history' must be"},
      {R"({"history": ["1"], "histroy": ["2"]})", 400, "unknown field 'histroy'"},
      {R"({"history": ["1"], "pad": ")" + std::string(5000, 'x') + "\"}", 413,
       "larger than the server's limit of 4096 bytes"},
  };
  for (const auto& c : cases) {
    auto r = post(s, c.body);
    ASSERT_TRUE(r) << c.body.substr(0, 80) << ": " << httplib::to_string(r.error());
    EXPECT_EQ(r->status, c.status) << c.body.substr(0, 80) << " -> " << r->body;
    EXPECT_EQ(r->get_header_value("Content-Type"), "application/json") << c.body.substr(0, 80);
    EXPECT_NE(error_of(r).find(c.message), std::string::npos)
        << c.body.substr(0, 80) << " -> " << r->body;
  }

  // curl -d sends form-encoded bodies, which httplib caps at 8192 bytes: the message says so.
  auto cli = s.client();
  ServerOptions big;
  big.max_body_bytes = 1 << 20;
  TestServer s2(big);
  auto form = s2.client().Post("/v1/recommend", R"({"history": ["1"], "pad": ")" +
                                                     std::string(9000, 'x') + "\"}",
                               "application/x-www-form-urlencoded");
  ASSERT_TRUE(form);
  EXPECT_EQ(form->status, 413);
  EXPECT_NE(error_of(form).find("Content-Type: application/json"), std::string::npos)
      << form->body;
  form = s2.client().Post("/v1/recommend", R"({"history": ["1"]})",
                          "application/x-www-form-urlencoded");
  ASSERT_TRUE(form);
  EXPECT_EQ(form->status, 200) << form->body;  // small ones are fine

  // Wrong method on a known path, unknown path.
  auto r = cli.Get("/v1/recommend");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(r->get_header_value("Allow"), "POST");
  EXPECT_NE(error_of(r).find("GET is not allowed on /v1/recommend"), std::string::npos) << r->body;
  r = cli.Post("/healthz", "{}", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405);
  EXPECT_NE(error_of(r).find("POST is not allowed on /healthz"), std::string::npos) << r->body;
  r = cli.Delete("/metrics");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405);
  r = cli.Get("/v2/recommend");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_NE(error_of(r).find("no such path '/v2/recommend'"), std::string::npos) << r->body;

  expect_healthy(s);
}

TEST(HttpServer, ARecommenderExceptionIs500AndServingGoesOn) {
  TestServer s;
  auto r = post(s, R"({"history": ["1", "boom"]})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 500);
  EXPECT_NE(error_of(r).find("fake model exploded"), std::string::npos) << r->body;
  r = post(s, R"({"history": ["1"]})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  expect_healthy(s);
}

std::string body_for(int i) {
  return json{{"history", {std::to_string(i % 100), std::to_string((i * 13 + 5) % 100)}},
              {"k", 1 + i % 20},
              {"model", i % 3 ? "llm" : "student"}}
      .dump();
}

TEST(HttpServer, ConcurrentClientsGetTheSequentialAnswersInSharedBatches) {
  ServerOptions o;
  o.threads = 32;
  o.max_batch = 8;
  o.max_wait_ms = 10;
  TestServer s(o);
  s.fake.sleep_ms = 5;
  constexpr int kClients = 32, kPerClient = 2;
  std::vector<json> sequential(kClients * kPerClient);
  for (int i = 0; i < kClients * kPerClient; ++i) sequential[i] = items_of(post(s, body_for(i)));
  EXPECT_EQ(s.fake.largest_batch(), 1u);  // one client at a time: nothing to batch

  std::vector<json> concurrent(kClients * kPerClient);
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      auto cli = s.client();
      cli.set_keep_alive(true);
      for (int j = 0; j < kPerClient; ++j) {
        const int i = c * kPerClient + j;
        concurrent[i] = items_of(cli.Post("/v1/recommend", body_for(i), "application/json"));
      }
    });
  }
  for (auto& t : clients) t.join();
  for (int i = 0; i < kClients * kPerClient; ++i) {
    EXPECT_EQ(concurrent[i], sequential[i]) << "request " << i;
    EXPECT_TRUE(sequential[i].is_array()) << sequential[i];
  }
  EXPECT_GT(s.fake.largest_batch(), 1u);
  EXPECT_LE(s.fake.largest_batch(), 8u);
}

TEST(HttpServer, MaxBatchIsRespected) {
  ServerOptions o;
  o.threads = 16;
  o.max_batch = 4;
  o.max_wait_ms = 50;
  TestServer s(o);
  s.fake.sleep_ms = 30;
  std::vector<std::thread> clients;
  std::atomic<int> ok{0};
  for (int c = 0; c < 16; ++c) {
    clients.emplace_back([&, c] {
      for (int j = 0; j < 2; ++j) {
        auto r = post(s, body_for(c * 2 + j));
        if (r && r->status == 200) ++ok;
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(ok.load(), 32);
  size_t total = 0;
  for (auto n : s.fake.batch_sizes()) {
    EXPECT_LE(n, 4u);
    total += n;
  }
  EXPECT_EQ(total, 32u);
  EXPECT_EQ(s.fake.largest_batch(), 4u);  // 16 waiting clients fill batches of 4
}

TEST(HttpServer, StopDrainsInFlightRequestsThenRefuses) {
  ServerOptions o;
  o.threads = 16;
  o.max_batch = 16;
  o.max_wait_ms = 5;
  TestServer s(o);
  s.fake.sleep_ms = 300;
  constexpr int kInFlight = 6;
  std::vector<int> status(kInFlight, -1);
  std::vector<std::thread> clients;
  for (int c = 0; c < kInFlight; ++c) {
    clients.emplace_back([&, c] {
      auto r = post(s, body_for(c));
      status[c] = r ? r->status : -1;
    });
  }
  // Wait until the requests are inside the server.
  const auto t0 = Clock::now();
  while (s.server->metrics().inflight() < kInFlight && seconds_since(t0) < 5) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ASSERT_EQ(s.server->metrics().inflight(), kInFlight);

  std::thread stopper([&] { s.server->stop(); });
  // While draining, new requests are refused with 503 (and /metrics still answers).
  int refused = 0, metrics_ok = 0;
  const auto t1 = Clock::now();
  while (seconds_since(t1) < 5) {
    auto r = s.client().Get("/healthz");
    if (!r) break;  // the listening socket is closed: drained
    if (r->status == 503) {
      ++refused;
      EXPECT_EQ(error_of(r), "the server is shutting down");
      auto m = s.client().Get("/metrics");
      if (m && m->status == 200) ++metrics_ok;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  stopper.join();
  for (auto& t : clients) t.join();
  for (int c = 0; c < kInFlight; ++c) EXPECT_EQ(status[c], 200) << "client " << c;
  EXPECT_GT(refused, 0);
  EXPECT_GT(metrics_ok, 0);

  // After the drain: no server on the port, or a 503.
  auto r = post(s, body_for(1));
  EXPECT_TRUE(!r || r->status == 503) << (r ? r->body : "");
  s.shutdown();  // run() returns
  r = post(s, body_for(1));
  EXPECT_FALSE(r);
}

TEST(HttpServer, StopBeforeRunMakesRunReturn) {
  FakeRecommender fake;
  ServerOptions o;
  o.port = 0;
  Server server(fake, o);
  server.bind();
  server.stop();
  const auto t0 = Clock::now();
  server.run();
  EXPECT_LT(seconds_since(t0), 2.0);
}

TEST(HttpServer, SlowAndVanishingClientsLeaveTheServerAnswering) {
  ServerOptions o;
  o.read_timeout_s = 1;
  o.threads = 4;
  TestServer s(o);

  // Half a request, then gone.
  {
    RawSocket half(s.port);
    ASSERT_TRUE(half.connected());
    half.send("POST /v1/recommend HTTP/1.1\r\nHost: x\r\nContent-Length: 200\r\n\r\n{\"hist");
  }
  expect_healthy(s);

  // A full request whose client leaves before the (slow) answer: the write fails, no SIGPIPE.
  s.fake.sleep_ms = 200;
  {
    RawSocket gone(s.port);
    ASSERT_TRUE(gone.connected());
    const std::string body = R"({"history": ["1"]})";
    gone.send("POST /v1/recommend HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  s.fake.sleep_ms = 0;
  expect_healthy(s);

  // Headers, then a stall mid-body: dropped after the read timeout while others are served.
  RawSocket stall_body(s.port);
  RawSocket stall_headers(s.port);
  ASSERT_TRUE(stall_body.connected() && stall_headers.connected());
  const auto t0 = Clock::now();
  stall_body.send("POST /v1/recommend HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n{\"h");
  stall_headers.send("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ");
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const auto t_health = Clock::now();
  expect_healthy(s);
  EXPECT_LT(seconds_since(t_health), 0.5);  // not queued behind the stalled clients
  bool closed_body = false, closed_headers = false;
  const std::string got = stall_body.read_until_closed(4.0, &closed_body);
  stall_headers.read_until_closed(4.0, &closed_headers);
  const double waited = seconds_since(t0);
  EXPECT_TRUE(closed_body);
  EXPECT_TRUE(closed_headers);
  EXPECT_GE(waited, 0.8);  // the server did wait for the body...
  EXPECT_LT(waited, 4.0);  // ...but gave up after its read timeout
  if (!got.empty()) {
    EXPECT_EQ(got.rfind("HTTP/1.1 400", 0), 0u) << got;
  }
  expect_healthy(s);
}

TEST(HttpServer, ASecondServerCannotTakeTheSamePort) {
  TestServer s;
  FakeRecommender fake;
  ServerOptions o;
  o.port = s.port;
  Server other(fake, o);
  EXPECT_THROW(other.bind(), UserError);
  expect_healthy(s);
}

// The value of the sample `name` ("metric{labels}") in a Prometheus text page, or -1.
double sample(const std::string& page, const std::string& name) {
  size_t pos = 0;
  while ((pos = page.find(name + " ", pos)) != std::string::npos) {
    if (pos == 0 || page[pos - 1] == '\n') {
      const size_t end = page.find('\n', pos);
      return std::stod(page.substr(pos + name.size() + 1, end - pos - name.size() - 1));
    }
    pos += name.size();
  }
  return -1;
}

TEST(HttpServer, MetricsCountEveryResponse) {
  ServerOptions o;
  o.max_body_bytes = 1000;
  TestServer s(o);
  for (int i = 0; i < 3; ++i) ASSERT_EQ(post(s, body_for(i))->status, 200);
  ASSERT_EQ(post(s, "{")->status, 400);
  ASSERT_EQ(post(s, R"({"history": ["1"], "k": 0})")->status, 400);
  ASSERT_EQ(post(s, std::string(2000, ' '))->status, 413);
  ASSERT_EQ(s.client().Get("/nope")->status, 404);
  ASSERT_EQ(s.client().Get("/also/not")->status, 404);
  ASSERT_EQ(s.client().Get("/v1/recommend")->status, 405);
  ASSERT_EQ(s.client().Get("/healthz")->status, 200);

  auto r = s.client().Get("/metrics");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type").rfind("text/plain; version=0.0.4", 0), 0u);
  const std::string& m = r->body;
  EXPECT_EQ(sample(m, R"(grec_requests_total{path="/v1/recommend",status="200"})"), 3) << m;
  EXPECT_EQ(sample(m, R"(grec_requests_total{path="/v1/recommend",status="400"})"), 2) << m;
  EXPECT_EQ(sample(m, R"(grec_requests_total{path="/v1/recommend",status="413"})"), 1) << m;
  EXPECT_EQ(sample(m, R"(grec_requests_total{path="/v1/recommend",status="405"})"), 1) << m;
  EXPECT_EQ(sample(m, R"(grec_requests_total{path="other",status="404"})"), 2) << m;
  EXPECT_EQ(sample(m, R"(grec_requests_total{path="/healthz",status="200"})"), 1) << m;
  EXPECT_EQ(sample(m, R"(grec_requests_total{path="/metrics",status="200"})"), -1) << m;
  EXPECT_EQ(sample(m, R"(grec_request_latency_seconds_count{path="/v1/recommend"})"), 7) << m;
  EXPECT_EQ(sample(m, R"(grec_request_latency_seconds_bucket{path="/v1/recommend",le="+Inf"})"),
            7)
      << m;
  EXPECT_EQ(sample(m, "grec_batch_size_count"), 3) << m;  // sequential: one query per batch
  EXPECT_EQ(sample(m, "grec_batch_size_sum"), 3) << m;
  EXPECT_EQ(sample(m, R"(grec_batch_size_bucket{le="1"})"), 3) << m;
  EXPECT_EQ(sample(m, "grec_queue_depth"), 0) << m;
  EXPECT_EQ(sample(m, "grec_inflight_requests"), 1) << m;  // this request
  EXPECT_NE(m.find("# TYPE grec_requests_total counter"), std::string::npos);
  EXPECT_NE(m.find("# TYPE grec_request_latency_seconds histogram"), std::string::npos);
  EXPECT_NE(m.find("# TYPE grec_queue_depth gauge"), std::string::npos);

  r = s.client().Get("/metrics");
  ASSERT_TRUE(r);
  EXPECT_EQ(sample(r->body, R"(grec_requests_total{path="/metrics",status="200"})"), 1);
}

TEST(ServeMetrics, HistogramBucketsAreCumulative) {
  ServeMetrics m({"/a"});
  m.observe_request("/a", 200, 0.0005);
  m.observe_request("/a", 200, 0.003);
  m.observe_request("/a", 200, 20);
  m.observe_request("/a", 500, -1);  // counted, latency unknown
  for (size_t n : {1, 2, 3, 16, 100}) m.observe_batch(n);
  const std::string page = m.render();
  EXPECT_EQ(sample(page, R"(grec_request_latency_seconds_bucket{path="/a",le="0.001"})"), 1);
  EXPECT_EQ(sample(page, R"(grec_request_latency_seconds_bucket{path="/a",le="0.005"})"), 2);
  EXPECT_EQ(sample(page, R"(grec_request_latency_seconds_bucket{path="/a",le="10"})"), 2);
  EXPECT_EQ(sample(page, R"(grec_request_latency_seconds_bucket{path="/a",le="+Inf"})"), 3);
  EXPECT_EQ(sample(page, R"(grec_request_latency_seconds_count{path="/a"})"), 3);
  EXPECT_EQ(sample(page, R"(grec_requests_total{path="/a",status="500"})"), 1);
  EXPECT_EQ(sample(page, R"(grec_batch_size_bucket{le="2"})"), 2);
  EXPECT_EQ(sample(page, R"(grec_batch_size_bucket{le="4"})"), 3);
  EXPECT_EQ(sample(page, R"(grec_batch_size_bucket{le="16"})"), 4);
  EXPECT_EQ(sample(page, R"(grec_batch_size_bucket{le="64"})"), 4);
  EXPECT_EQ(sample(page, R"(grec_batch_size_bucket{le="+Inf"})"), 5);
  EXPECT_EQ(sample(page, "grec_batch_size_sum"), 122);
  EXPECT_EQ(m.requests("/a", 200), 3u);
  EXPECT_EQ(m.requests("/zzz", 200), 0u);
}

}  // namespace
}  // namespace grec::serve
