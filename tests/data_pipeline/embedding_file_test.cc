// The `file` encoder: HDF5 and .npy, item order and keyed by raw id, and its clear errors.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include <functional>

#include "core/error.h"
#include "core/fs.h"
#include "core/h5.h"
#include "data_pipeline/embedding_file.h"
#include "tests/data_pipeline/data_test_util.h"

namespace grec::data {
namespace {

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const UserError& e) {
    return e.what();
  }
  return "<no UserError>";
}

TEST(EmbeddingFile, Hdf5InItemOrderAndKeyed) {
  test::TempDir tmp;
  const std::string path = tmp.sub("emb.h5");
  {
    h5::File f = h5::File::create(path);
    f.write_f64("/vec", {1, 2, 3, 4, 5, 6}, {3, 2});
    f.write_strings("/ids", {"c", "a", "b"});
    f.write_i64("/int_ids", {30, 10, 20});
  }
  EmbeddingFileOptions o;
  o.path = path;
  o.dataset = "/vec";
  int64_t dim = 0;
  EXPECT_EQ(read_embedding_file(o, {"x", "y", "z"}, &dim), (std::vector<float>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(dim, 2);
  o.keyed_by_raw_id = true;
  EXPECT_EQ(read_embedding_file(o, {"a", "b", "c"}, &dim), (std::vector<float>{3, 4, 5, 6, 1, 2}));
  o.ids = "/int_ids";
  int64_t unused = -1;
  EXPECT_EQ(read_embedding_file(o, {"20", "30"}, &dim, &unused), (std::vector<float>{5, 6, 1, 2}));
  EXPECT_EQ(unused, 1);
  o.ids = "/ids";
  const std::string missing = message_of([&] { read_embedding_file(o, {"a", "q", "r"}, &dim); });
  EXPECT_NE(missing.find("2 of 3 dataset items have no embedding"), std::string::npos) << missing;
  EXPECT_NE(missing.find("'q'"), std::string::npos) << missing;
  o.keyed_by_raw_id = false;
  const std::string rows = message_of([&] { read_embedding_file(o, {"a", "b"}, &dim); });
  EXPECT_NE(rows.find("3 rows but the dataset has 2 items"), std::string::npos) << rows;
  o.dataset = "/nope";
  EXPECT_NE(message_of([&] { read_embedding_file(o, {"a"}, &dim); }).find("no dataset '/nope'"),
            std::string::npos);
  o.dataset = "/ids";  // 1-D strings: wrong shape
  EXPECT_NE(message_of([&] { read_embedding_file(o, {"a"}, &dim); }).find("must be 2-D"),
            std::string::npos);
}

TEST(EmbeddingFile, NanIsNamed) {
  test::TempDir tmp;
  const std::string path = tmp.sub("nan.h5");
  {
    h5::File f = h5::File::create(path);
    f.write_f32("/embeddings", {1, 2, 3, std::numeric_limits<float>::quiet_NaN()}, {2, 2});
  }
  EmbeddingFileOptions o;
  o.path = path;
  int64_t dim = 0;
  const std::string msg = message_of([&] { read_embedding_file(o, {"a", "b"}, &dim); });
  EXPECT_NE(msg.find("row 1 column 1 is nan"), std::string::npos) << msg;
}

TEST(EmbeddingFile, Npy) {
  test::TempDir tmp;
  const std::string path = tmp.sub("emb.npy");
  write_npy(path, {1, 2, 3, 4, 5, 6}, 2, 3);
  const auto m = read_npy(path);
  EXPECT_EQ(m.rows, 2);
  EXPECT_EQ(m.cols, 3);
  EXPECT_EQ(m.data, (std::vector<float>{1, 2, 3, 4, 5, 6}));
  EmbeddingFileOptions o;
  o.path = path;
  int64_t dim = 0;
  EXPECT_EQ(read_embedding_file(o, {"a", "b"}, &dim).size(), 6u);
  o.keyed_by_raw_id = true;
  test::write_text(tmp.sub("emb.ids.txt"), "b\na\n");
  EXPECT_EQ(read_embedding_file(o, {"a", "b"}, &dim), (std::vector<float>{4, 5, 6, 1, 2, 3}));
  test::write_text(tmp.sub("emb.ids.txt"), "b\nb\n");
  EXPECT_NE(message_of([&] { read_embedding_file(o, {"a", "b"}, &dim); }).find("appears twice"),
            std::string::npos);
  // Truncated data and a 1-D array are clear errors.
  std::string bytes = read_file(path);
  test::write_text(tmp.sub("short.npy"), bytes.substr(0, bytes.size() - 4));
  EXPECT_NE(message_of([&] { read_npy(tmp.sub("short.npy")); }).find("data bytes"),
            std::string::npos);
  std::string one_d = bytes;
  const size_t s = one_d.find("(2, 3)");
  one_d.replace(s, 6, "(6,)  ");
  test::write_text(tmp.sub("flat.npy"), one_d);
  EXPECT_NE(message_of([&] { read_npy(tmp.sub("flat.npy")); }).find("2-D"), std::string::npos);
  test::write_text(tmp.sub("junk.npy"), "hello");
  EXPECT_NE(message_of([&] { read_npy(tmp.sub("junk.npy")); }).find("not a .npy"),
            std::string::npos);
}

}  // namespace
}  // namespace grec::data
