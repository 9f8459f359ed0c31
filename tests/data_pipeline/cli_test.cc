// The built `grec data` binary: error exit code and message on bad input, synth + stats --json.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <filesystem>

#include <sys/wait.h>
#include <nlohmann/json.hpp>

#include "tests/data_pipeline/data_test_util.h"

namespace grec {
namespace {

struct Result {
  int code;
  std::string out;
};

// Runs `args` through the shell; stderr is merged into the output when `merge_stderr`.
Result run(const std::string& args, bool merge_stderr) {
  const std::string cmd =
      std::string(GREC_BINARY) + " " + args + (merge_stderr ? " 2>&1" : " 2>/dev/null");
  std::FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  const int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

TEST(Cli, BadLineFailsWithFileLineAndNoOutput) {
  test::TempDir dir;
  const std::string in = test::write_text(dir.sub("e.csv"), "user,item,timestamp\nu,i,1\nu,j\n");
  const std::string out = dir.sub("d.h5");
  Result r = run("data ingest --format csv --input " + in + " --out " + out, true);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find(in + ":3: expected at least 3 fields, got 2"), std::string::npos) << r.out;
  EXPECT_FALSE(std::filesystem::exists(out));
  r = run("data ingest --format csv --input " + in + " --out " + out + " --skip-bad-lines --json",
          false);
  EXPECT_EQ(r.code, 0);
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["skipped_lines"], 1);
  EXPECT_EQ(j["interactions"], 1);
}

TEST(Cli, UnknownFormatIsAUsageError) {
  EXPECT_EQ(run("data ingest --format parquet --input x --out y", true).code, 2);
}

TEST(Cli, SynthThenStats) {
  test::TempDir dir;
  const std::string out = dir.sub("s.h5");
  Result r = run("data synth --users 100 --items 60 --seed 3 --out " + out, true);
  ASSERT_EQ(r.code, 0) << r.out;
  r = run("data stats --json " + out, false);
  ASSERT_EQ(r.code, 0);
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["users"], 100);
  EXPECT_DOUBLE_EQ(j["text_coverage"]["title"].get<double>(), 1.0);
  r = run("data stats " + out, false);
  EXPECT_NE(r.out.find("sequence length p50"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace grec
