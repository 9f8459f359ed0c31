// metrics.jsonl appends, tables, hashing, atomic writes, HDF5 wrapper round trips.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/fs.h"
#include "core/h5.h"
#include "core/hash.h"
#include "core/metrics.h"
#include "core/progress.h"
#include "core/table.h"
#include "tests/test_util/temp_dir.h"

namespace grec {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> lines_of(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

TEST(Metrics, AppendsWholeLinesAndRepairsAPartialLastLine) {
  const test::TempDir tmp("core_metrics");
  const std::string p = tmp.sub("metrics.jsonl");
  {
    MetricsWriter w(p);
    w.write({{"stage", "x"}, {"step", 1}, {"loss", 0.5}});
  }
  // A killed run left half a line behind.
  std::ofstream(p, std::ios::app) << "{\"stage\": \"x\", \"st";
  {
    MetricsWriter w(p);
    w.write({{"stage", "x"}, {"step", 2}, {"loss", std::nan("")}});
  }
  auto lines = lines_of(p);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(nlohmann::json::parse(lines[0])["step"], 1);
  EXPECT_THROW(nlohmann::json::parse(lines[1]), nlohmann::json::exception);
  auto last = nlohmann::json::parse(lines[2]);
  EXPECT_EQ(last["step"], 2);
  EXPECT_TRUE(last["loss"].is_null());
  EXPECT_TRUE(last.contains("time"));
}

TEST(Table, AlignsColumnsByDisplayWidth) {
  Table t({"name", "value"});
  t.add_row({"ä", "1.5"});
  t.add_row({"long name", "10"});
  const std::string s = t.render();
  EXPECT_EQ(s,
            "name       value\n"
            "----------------\n"
            "ä            1.5\n"
            "long name     10\n");
}

TEST(Hash, StableAndSensitive) {
  // Reference value computed independently (Python FNV-1a 64 over b"abc").
  EXPECT_EQ(hex64(fnv1a64("abc")), "e16801510db89efd");
  EXPECT_NE(fnv1a64("abc"), fnv1a64("abd"));
}

TEST(Fs, AtomicWriteLeavesNoTemporary) {
  const test::TempDir tmp("core_fs");
  const std::string p = tmp.sub("sub/f.txt");
  write_file_atomic(p, "hello");
  EXPECT_EQ(read_file(p), "hello");
  EXPECT_FALSE(fs::exists(temp_path_for(p)));
  EXPECT_THROW(read_file(tmp.sub("missing")), UserError);
}

TEST(H5, RoundTripsNumbersStringsAttributes) {
  const test::TempDir tmp("core_h5");
  const std::string p = tmp.sub("x.h5");
  std::vector<int64_t> big(10000);
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<int64_t>(i * i) - 7;
  {
    auto f = h5::File::create(p);
    f.write_i64("/a/b/ints", big);
    f.write_f32("/m", {1, 2, 3, 4, 5, 6}, {2, 3});
    f.write_f64("/empty", {});
    f.write_strings("/s", {"plain", "ünïcødé 映画", ""});
    f.set_attr("/", "version", int64_t{3});
    f.set_attr("/a", "source", std::string("test"));
    f.set_attr("/m", "scale", 0.5);
  }
  auto f = h5::File::open(p);
  EXPECT_EQ(f.read_i64("/a/b/ints"), big);
  EXPECT_EQ(f.shape("/m"), (std::vector<uint64_t>{2, 3}));
  EXPECT_EQ(f.read_f32("/m"), (std::vector<float>{1, 2, 3, 4, 5, 6}));
  EXPECT_TRUE(f.read_f64("/empty").empty());
  EXPECT_EQ(f.read_strings("/s"), (std::vector<std::string>{"plain", "ünïcødé 映画", ""}));
  EXPECT_EQ(f.attr_i64("/", "version"), 3);
  EXPECT_EQ(f.attr_string("/a", "source"), "test");
  EXPECT_DOUBLE_EQ(f.attr_f64("/m", "scale"), 0.5);
  EXPECT_TRUE(f.exists("/a/b/ints"));
  EXPECT_FALSE(f.exists("/a/c/ints"));
  EXPECT_EQ(f.list("/a"), (std::vector<std::string>{"b"}));
  EXPECT_THROW(f.read_i64("/nope"), UserError);
}

TEST(H5, OpenRejectsNonHdf5) {
  const test::TempDir tmp("core_h5bad");
  const std::string p = tmp.sub("bad.h5");
  std::ofstream(p) << "not hdf5";
  try {
    h5::File::open(p);
    FAIL() << "expected an error";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find(p), std::string::npos);
  }
}

TEST(Progress, FormatsDurations) {
  EXPECT_EQ(format_duration(12.34), "12.3s");
  EXPECT_EQ(format_duration(185), "3m05s");
  EXPECT_EQ(format_duration(3720), "1h02m");
}

}  // namespace
}  // namespace grec
