// Load generator for `grec serve` on loopback, as JSON lines on stdout (logs on stderr):
//   - one row per (model, clients): C client threads (keep-alive connections) send POST
//     /v1/recommend with seeded random histories from the bundle's items.jsonl until N requests
//     or the duration cap; throughput (answered requests / s), p50/p99 latency, failures;
//   - per model, the scaling ratio throughput(max clients) / throughput(1 client);
//   - the same-run reference: the max-clients load against a second server started with
//     --max-batch 1 (micro-batching off), and the ratio batched / unbatched;
//   - each server is stopped with SIGTERM and must exit 0 (reported).
// Request i carries the same history in every row, so rows differ only in concurrency and
// batching. Exit code 1 when a request failed or a server did not exit 0.
//
// Usage: bench_serve --bundle DIR [--grec build/grec] [--requests 400] [--duration-s 60]
//        [--clients 1,8,32] [--models llm,student] [--history-len 10] [--seed 0]
//        [--max-batch 16] [--max-wait-ms 5] [--threads 0 (= max(clients, max batch))]
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

struct Args {
  std::string bundle;
  std::string grec = "build/grec";
  int64_t requests = 400;
  double duration_s = 60;
  std::vector<int> clients = {1, 8, 32};
  std::vector<std::string> models = {"llm", "student"};
  int history_len = 10;
  uint64_t seed = 0;
  int64_t max_batch = 16;
  int64_t max_wait_ms = 5;
  int threads = 0;
};

[[noreturn]] void usage_error(const std::string& message) {
  std::fprintf(stderr, "bench_serve: %s\n", message.c_str());
  std::fprintf(stderr,
               "usage: bench_serve --bundle DIR [--grec build/grec] [--requests N] "
               "[--duration-s S] [--clients 1,8,32] [--models llm,student] [--history-len 10] "
               "[--seed 0] [--max-batch 16] [--max-wait-ms 5] [--threads T]\n");
  std::exit(2);
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string part;
  while (std::getline(ss, part, ',')) {
    if (!part.empty()) out.push_back(part);
  }
  return out;
}

Args parse_args(int argc, char** argv) {
  Args a;
  auto value = [&](int& i) -> std::string {
    if (i + 1 >= argc) usage_error(std::string(argv[i]) + " needs a value");
    return argv[++i];
  };
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string k = argv[i];
      if (k == "--bundle") a.bundle = value(i);
      else if (k == "--grec") a.grec = value(i);
      else if (k == "--requests") a.requests = std::stoll(value(i));
      else if (k == "--duration-s") a.duration_s = std::stod(value(i));
      else if (k == "--history-len") a.history_len = std::stoi(value(i));
      else if (k == "--seed") a.seed = std::stoull(value(i));
      else if (k == "--max-batch") a.max_batch = std::stoll(value(i));
      else if (k == "--max-wait-ms") a.max_wait_ms = std::stoll(value(i));
      else if (k == "--threads") a.threads = std::stoi(value(i));
      else if (k == "--models") a.models = split(value(i));
      else if (k == "--clients") {
        a.clients.clear();
        for (const auto& c : split(value(i))) a.clients.push_back(std::stoi(c));
      } else {
        usage_error("unknown argument '" + k + "'");
      }
    }
  } catch (const std::logic_error&) {
    usage_error("a numeric option has a value that is not a number");
  }
  if (a.bundle.empty()) usage_error("--bundle is required");
  if (a.requests < 1 || a.duration_s <= 0 || a.history_len < 1 || a.clients.empty() ||
      a.models.empty() || a.max_batch < 1) {
    usage_error("--requests, --duration-s, --history-len, --max-batch must be positive and "
                "--clients, --models non-empty");
  }
  for (int c : a.clients) {
    if (c < 1) usage_error("--clients: every count must be at least 1");
  }
  std::sort(a.clients.begin(), a.clients.end());
  a.clients.erase(std::unique(a.clients.begin(), a.clients.end()), a.clients.end());
  return a;
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(" \t", colon + 1));
    }
  }
  return "unknown";
}

std::vector<std::string> read_raw_ids(const std::string& bundle) {
  const std::string path = bundle + "/items.jsonl";
  std::ifstream in(path);
  if (!in) usage_error("cannot read " + path);
  std::vector<std::string> ids;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    ids.push_back(json::parse(line).at("raw_id").get<std::string>());
  }
  if (ids.empty()) usage_error(path + " has no items");
  return ids;
}

// A free loopback port: bind port 0, read it back, close (the server binds it right after).
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof(a);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    std::perror("bench_serve: free port");
    std::exit(1);
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

class ServerProcess {
 public:
  ServerProcess(const Args& a, int64_t max_batch, int threads) : max_batch_(max_batch) {
    port_ = free_port();
    std::vector<std::string> argv = {a.grec,          "serve",
                                     a.bundle,        "--port",
                                     std::to_string(port_), "--max-batch",
                                     std::to_string(max_batch), "--max-wait-ms",
                                     std::to_string(a.max_wait_ms), "--threads",
                                     std::to_string(threads)};
    std::string cmd;
    for (const auto& s : argv) cmd += (cmd.empty() ? "" : " ") + s;
    std::fprintf(stderr, "bench_serve: starting %s\n", cmd.c_str());
    pid_ = ::fork();
    if (pid_ < 0) {
      std::perror("bench_serve: fork");
      std::exit(1);
    }
    if (pid_ == 0) {
      ::dup2(2, 1);  // the server's stdout must not mix with our JSON lines
      std::vector<char*> cargv;
      for (auto& s : argv) cargv.push_back(s.data());
      cargv.push_back(nullptr);
      ::execv(cargv[0], cargv.data());
      std::perror("bench_serve: exec grec");
      ::_exit(127);
    }
  }
  ~ServerProcess() {
    if (pid_ > 0 && exit_code_ == kRunning) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }

  // Waits for GET /healthz (200) and returns its models; exits when the server dies first.
  std::vector<std::string> wait_ready(double timeout_s) {
    const auto t0 = Clock::now();
    httplib::Client cli("127.0.0.1", port_);
    cli.set_connection_timeout(1);
    while (seconds_since(t0) < timeout_s) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        std::fprintf(stderr, "bench_serve: the server exited (code %d) before it was ready\n",
                     exit_code_);
        std::exit(1);
      }
      auto r = cli.Get("/healthz");
      if (r && r->status == 200) {
        std::fprintf(stderr, "bench_serve: server ready after %.1f s\n", seconds_since(t0));
        return json::parse(r->body).at("models").get<std::vector<std::string>>();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    std::fprintf(stderr, "bench_serve: the server was not ready after %.0f s\n", timeout_s);
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    std::exit(1);
  }

  // SIGTERM, then the exit code (SIGKILL after `timeout_s`).
  json terminate(double timeout_s) {
    const auto t0 = Clock::now();
    ::kill(pid_, SIGTERM);
    int status = 0;
    bool exited = false;
    while (seconds_since(t0) < timeout_s) {
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        exited = true;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    json j{{"max_batch", max_batch_}, {"seconds", seconds_since(t0)}};
    if (!exited) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      exit_code_ = -1;
      j["exit_code"] = nullptr;
      j["error"] = "did not exit within " + std::to_string(timeout_s) + " s of SIGTERM";
    } else if (WIFEXITED(status)) {
      exit_code_ = WEXITSTATUS(status);
      j["exit_code"] = exit_code_;
    } else {
      exit_code_ = -1;
      j["exit_code"] = nullptr;
      j["error"] = std::string("killed by signal ") + std::to_string(WTERMSIG(status));
    }
    j["ok"] = exited && exit_code_ == 0;
    return j;
  }

  int port() const { return port_; }

 private:
  static constexpr int kRunning = -1000;
  int64_t max_batch_;
  int port_ = 0;
  pid_t pid_ = -1;
  int exit_code_ = kRunning;
};

struct LoadResult {
  int64_t requests = 0;  // answered or failed
  int64_t failed = 0;
  double seconds = 0;
  std::vector<double> latencies_ms;  // successful requests
  std::vector<std::string> failures;  // the first few, for the report
};

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size())));
  return v[std::min(v.size() - 1, rank == 0 ? 0 : rank - 1)];
}

LoadResult run_load(int port, const std::vector<std::string>& bodies, int clients,
                    double duration_s) {
  LoadResult result;
  std::atomic<int64_t> next{0};
  std::mutex mutex;
  const auto t0 = Clock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&] {
      httplib::Client cli("127.0.0.1", port);
      cli.set_keep_alive(true);
      cli.set_tcp_nodelay(true);
      cli.set_connection_timeout(10);
      cli.set_read_timeout(300);
      std::vector<double> lat;
      int64_t done = 0, failed = 0;
      std::vector<std::string> failures;
      for (;;) {
        const int64_t i = next++;
        if (i >= static_cast<int64_t>(bodies.size()) || seconds_since(t0) >= duration_s) break;
        const auto r0 = Clock::now();
        auto r = cli.Post("/v1/recommend", bodies[static_cast<size_t>(i)], "application/json");
        const double ms = seconds_since(r0) * 1e3;
        ++done;
        if (r && r->status == 200) {
          lat.push_back(ms);
        } else {
          ++failed;
          if (failures.size() < 3) {
            failures.push_back(r ? "HTTP " + std::to_string(r->status) + ": " + r->body.substr(0, 200)
                                 : "transport error: " + httplib::to_string(r.error()));
          }
        }
      }
      std::lock_guard<std::mutex> lock(mutex);
      result.requests += done;
      result.failed += failed;
      result.latencies_ms.insert(result.latencies_ms.end(), lat.begin(), lat.end());
      for (auto& f : failures) {
        if (result.failures.size() < 5) result.failures.push_back(f);
      }
    });
  }
  for (auto& t : threads) t.join();
  result.seconds = seconds_since(t0);
  return result;
}

json row(const std::string& model, int clients, int64_t max_batch, int threads,
         const LoadResult& r, const std::string& cpu) {
  const double ok = static_cast<double>(r.requests - r.failed);
  json j{{"bench", "serve"},
         {"model", model},
         {"clients", clients},
         {"max_batch", max_batch},
         {"http_threads", threads},
         {"requests", r.requests},
         {"failed", r.failed},
         {"seconds", r.seconds},
         {"throughput_rps", r.seconds > 0 ? ok / r.seconds : 0.0},
         {"p50_ms", percentile(r.latencies_ms, 50)},
         {"p99_ms", percentile(r.latencies_ms, 99)},
         {"cpu", cpu}};
  if (!r.failures.empty()) j["failures"] = r.failures;
  return j;
}

// Request bodies 0..n-1: seeded random histories, the same for every row.
std::vector<std::string> make_bodies(const std::vector<std::string>& ids, const std::string& model,
                                     const Args& a) {
  std::vector<std::string> bodies;
  std::mt19937_64 rng(a.seed * 0x9E3779B97F4A7C15ull + 1);
  std::uniform_int_distribution<size_t> pick(0, ids.size() - 1);
  for (int64_t i = 0; i < a.requests; ++i) {
    json h = json::array();
    for (int j = 0; j < a.history_len; ++j) h.push_back(ids[pick(rng)]);
    bodies.push_back(json{{"history", h}, {"model", model}}.dump());
  }
  return bodies;
}

// The first few bodies: first calls pay for allocations and lazy initialisation.
std::vector<std::string> warm_up(const std::vector<std::string>& bodies) {
  return {bodies.begin(), bodies.begin() + static_cast<std::ptrdiff_t>(std::min<size_t>(4, bodies.size()))};
}

void emit(const json& j) {
  std::printf("%s\n", j.dump().c_str());
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  ::signal(SIGPIPE, SIG_IGN);
  const Args a = parse_args(argc, argv);
  if (::access(a.grec.c_str(), X_OK) != 0) usage_error("no executable grec at '" + a.grec + "'");
  const std::string cpu = cpu_model();
  const auto ids = read_raw_ids(a.bundle);
  const int max_clients = a.clients.back();
  const int threads =
      a.threads > 0 ? a.threads : static_cast<int>(std::max<int64_t>(max_clients, a.max_batch));
  std::fprintf(stderr, "bench_serve: %zu items, %lld requests per row, clients", ids.size(),
               static_cast<long long>(a.requests));
  for (int c : a.clients) std::fprintf(stderr, " %d", c);
  std::fprintf(stderr, "\n");

  bool all_ok = true;
  json shutdowns = json::array();
  std::map<std::string, std::map<int, json>> batched;  // model -> clients -> row
  std::vector<std::string> models;

  {
    ServerProcess server(a, a.max_batch, threads);
    const auto available = server.wait_ready(600);
    for (const auto& m : a.models) {
      if (std::find(available.begin(), available.end(), m) != available.end()) {
        models.push_back(m);
      } else {
        std::fprintf(stderr, "bench_serve: the bundle has no '%s' model; skipped\n", m.c_str());
      }
    }
    for (const auto& model : models) {
      const auto bodies = make_bodies(ids, model, a);
      // Warm-up, not reported.
      run_load(server.port(), warm_up(bodies), 1, a.duration_s);
      for (int clients : a.clients) {
        const LoadResult r = run_load(server.port(), bodies, clients, a.duration_s);
        json j = row(model, clients, a.max_batch, threads, r, cpu);
        all_ok = all_ok && r.failed == 0;
        std::fprintf(stderr, "bench_serve: %s x%d: %.1f req/s, p50 %.1f ms, p99 %.1f ms, %lld failed\n",
                     model.c_str(), clients, j["throughput_rps"].get<double>(),
                     j["p50_ms"].get<double>(), j["p99_ms"].get<double>(),
                     static_cast<long long>(r.failed));
        emit(j);
        batched[model][clients] = j;
      }
    }
    json s = server.terminate(60);
    all_ok = all_ok && s["ok"].get<bool>();
    shutdowns.push_back(s);
  }

  // Reference: the same max-clients load, micro-batching off.
  std::map<std::string, json> unbatched;
  if (!models.empty()) {
    ServerProcess server(a, 1, threads);
    server.wait_ready(600);
    for (const auto& model : models) {
      const auto bodies = make_bodies(ids, model, a);
      run_load(server.port(), warm_up(bodies), 1, a.duration_s);
      const LoadResult r = run_load(server.port(), bodies, max_clients, a.duration_s);
      json j = row(model, max_clients, 1, threads, r, cpu);
      j["reference"] = "micro-batching off (--max-batch 1)";
      all_ok = all_ok && r.failed == 0;
      emit(j);
      unbatched[model] = j;
    }
    json s = server.terminate(60);
    all_ok = all_ok && s["ok"].get<bool>();
    shutdowns.push_back(s);
  }

  for (const auto& model : models) {
    const json& one = batched[model][a.clients.front()];
    const json& many = batched[model][max_clients];
    const json& ref = unbatched[model];
    auto figures = [](const json& r) {
      return json{{"max_batch", r["max_batch"]},
                  {"throughput_rps", r["throughput_rps"]},
                  {"p50_ms", r["p50_ms"]},
                  {"p99_ms", r["p99_ms"]},
                  {"failed", r["failed"]}};
    };
    const double t_one = one["throughput_rps"].get<double>();
    const double t_many = many["throughput_rps"].get<double>();
    const double t_ref = ref["throughput_rps"].get<double>();
    emit(json{{"bench", "serve"},
              {"summary", true},
              {"model", model},
              {"clients", max_clients},
              {"grec", figures(many)},
              {"reference", figures(ref)},
              {"ratio", t_ref > 0 ? t_many / t_ref : 0.0},
              {"ratio_meaning", "throughput with micro-batching / without, at " +
                                    std::to_string(max_clients) + " clients"},
              {"scaling", t_one > 0 ? t_many / t_one : 0.0},
              {"scaling_meaning", "throughput at " + std::to_string(max_clients) + " clients / at " +
                                      std::to_string(a.clients.front()) + " client(s)"},
              {"cpu", cpu}});
  }
  emit(json{{"bench", "serve"}, {"shutdown", shutdowns}, {"ok", all_ok}});
  return all_ok ? 0 : 1;
}
