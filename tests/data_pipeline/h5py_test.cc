// dataset.h5 is readable by h5py without grec: an independent reader (Python) checks the schema
// of a written file. Skipped when no Python with h5py is installed.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>

#include "data_pipeline/dataset.h"
#include "data_pipeline/ingest.h"
#include "tests/data_pipeline/data_test_util.h"

namespace grec::data {
namespace {

std::string python_with_h5py() {
  for (const char* py : {"python3", "/usr/bin/python3"}) {
    const std::string cmd = std::string(py) + " -c 'import h5py' >/dev/null 2>&1";
    if (std::system(cmd.c_str()) == 0) return py;
  }
  return "";
}

TEST(H5py, ReadsTheSchema) {
  const std::string py = python_with_h5py();
  if (py.empty()) GTEST_SKIP() << "no python3 with h5py";
  test::TempDir dir;
  IngestOptions o;
  o.synth.users = 30;
  o.synth.items = 40;
  const Dataset d = ingest(o);
  const std::string path = dir.sub("s.h5");
  write_dataset(d, path);
  const std::string script = test::write_text(dir.sub("check.py"), R"(
import sys, json, h5py
f = h5py.File(sys.argv[1], "r")
off = f["sequences/offsets"][:]
items = f["sequences/items"][:]
assert f.attrs["format_version"] == 1
assert len(off) == f.attrs["num_users"] + 1 and off[-1] == f.attrs["num_interactions"]
assert (f["interactions/item"][:] == items).all()
assert h5py.check_string_dtype(f["items/title"].dtype).encoding == "utf-8"
titles = f["items/title"].asstr()[:]
assert len(titles) == f.attrs["num_items"] == len(f["items/topic"][:])
te, ve = f["split/train_end"][:], f["split/valid_end"][:]
assert ((te <= ve) & (ve <= off[1:] - off[:-1])).all()
print(json.dumps({"users": int(f.attrs["num_users"]), "first_title": titles[0],
                  "filters": json.loads(f.attrs["filters"])}))
)");
  const std::string cmd = py + " " + script + " " + path + " 2>&1";
  std::FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  ASSERT_EQ(pclose(p), 0) << out;
  const auto j = nlohmann::json::parse(out);
  EXPECT_EQ(j["users"], 30);
  EXPECT_EQ(j["first_title"], d.item_text.at("title")[0]);
  EXPECT_EQ(j["filters"]["dedupe"], "keep_first");
}

}  // namespace
}  // namespace grec::data
