// `grec serve` (launch/cmd_serve.cc) as a subprocess (GREC_BINARY) over a small student-only
// bundle written in-process: it logs its address, answers exactly what the in-process bundle
// recommender answers, and exits 0 on SIGTERM; a bad bundle path is one error line, exit 1.
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "core/run_dir.h"
#include "export/bundle.h"
#include "model/sasrec.h"
#include "serve/recommender.h"
#include "stages/sasrec_artifact.h"
#include "tests/test_util/shell.h"
#include "tests/test_util/temp_dir.h"

namespace grec {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr int64_t kItems = 30;

std::string raw_id(int64_t i) { return std::to_string(1000 + 7 * i); }

// A bundle with only a student: a random SASRec over kItems items with numeric raw ids.
std::string write_student_bundle(const test::TempDir& tmp) {
  torch::manual_seed(3);
  model::SASRec sasrec(model::SASRecOptions(kItems).hidden(16).max_len(8).blocks(1).heads(1));
  sasrec->eval();
  const RunDir run(tmp.sub("run"));
  stages::write_sasrec_artifact(run, sasrec);
  bundle::BundleContents c;
  c.level_sizes = {6, 5};
  for (int64_t i = 0; i < kItems; ++i) {
    bundle::BundleItem it;
    it.raw_id = raw_id(i);
    it.title = "title " + std::to_string(i);
    it.codes = {i / 5, i % 5};
    it.tokens = "<a_" + std::to_string(i / 5) + "><b_" + std::to_string(i % 5) + ">";
    c.items.push_back(it);
  }
  c.student_dir = std::filesystem::path(stages::sasrec_model_path(run)).parent_path().string();
  const std::string out = tmp.sub("bundle");
  bundle::write_bundle(c, out, {});
  return out;
}

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(ServeCli, AnswersLikeTheRecommenderAndExitsZeroOnSigterm) {
  test::TempDir tmp("serve_cli");
  const std::string dir = write_student_bundle(tmp);
  const int port = free_port();
  const std::string log = tmp.sub("serve.log");

  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    const std::string p = std::to_string(port);
    ::execl(GREC_BINARY, GREC_BINARY, "serve", dir.c_str(), "--port", p.c_str(), "--threads", "4",
            "--intra-op-threads", "1", static_cast<char*>(nullptr));
    ::_exit(127);
  }

  httplib::Client cli("127.0.0.1", port);
  cli.set_connection_timeout(1);
  cli.set_read_timeout(30);
  bool ready = false;
  const auto t0 = Clock::now();
  while (!ready && Clock::now() - t0 < std::chrono::seconds(60)) {
    auto r = cli.Get("/healthz");
    ready = r && r->status == 200;
    if (!ready) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (!ready) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    FAIL() << "grec serve did not become ready:\n" << read_file(log);
  }
  auto health = cli.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(json::parse(health->body)["models"], json::array({"student"}));

  // The in-process answer for the same query.
  auto recommender = serve::make_bundle_recommender(bundle::load_bundle(dir));
  serve::Query q;
  q.history = {raw_id(3), raw_id(17), "not-an-item", raw_id(4)};
  q.k = 6;
  q.model = "student";
  const serve::Answer expected = recommender->recommend({q}).at(0);
  ASSERT_TRUE(expected.error.empty()) << expected.error;
  ASSERT_EQ(expected.items.size(), 6u);

  // Integer ids and the default model (student: the bundle has no LLM).
  const json body{{"history", {1000 + 7 * 3, raw_id(17), "not-an-item", 1000 + 7 * 4}}, {"k", 6}};
  auto r = cli.Post("/v1/recommend", body.dump(), "application/json");
  ASSERT_TRUE(r) << httplib::to_string(r.error());
  ASSERT_EQ(r->status, 200) << r->body;
  const json got = json::parse(r->body);
  EXPECT_EQ(got["model"], "student");
  ASSERT_EQ(got["items"].size(), expected.items.size()) << r->body;
  for (size_t i = 0; i < expected.items.size(); ++i) {
    EXPECT_EQ(got["items"][i]["id"], expected.items[i].id) << i;
    EXPECT_EQ(got["items"][i]["title"], expected.items[i].title) << i;
    EXPECT_NEAR(got["items"][i]["score"].get<double>(), expected.items[i].score, 1e-4) << i;
  }
  EXPECT_EQ(got["warnings"].size(), expected.warnings.size()) << r->body;

  r = cli.Post("/v1/recommend", R"({"history": ["1003"], "model": "llm"})", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("this server has: student"), std::string::npos) << r->body;

  ASSERT_EQ(::kill(pid, SIGTERM), 0);
  int status = 0;
  pid_t done = 0;
  const auto t1 = Clock::now();
  while ((done = ::waitpid(pid, &status, WNOHANG)) == 0 &&
         Clock::now() - t1 < std::chrono::seconds(20)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (done == 0) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    FAIL() << "grec serve did not exit after SIGTERM:\n" << read_file(log);
  }
  const std::string text = read_file(log);
  ASSERT_TRUE(WIFEXITED(status)) << text;
  EXPECT_EQ(WEXITSTATUS(status), 0) << text;
  EXPECT_NE(text.find("serving " + dir + " on http://127.0.0.1:" + std::to_string(port) +
                      " (models: student"),
            std::string::npos)
      << text;
}

TEST(ServeCli, AMissingBundleIsOneErrorLine) {
  const auto r = test::run_shell(std::string(GREC_BINARY) + " serve /nonexistent/bundle --port 0");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("error: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("/nonexistent/bundle"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace grec
