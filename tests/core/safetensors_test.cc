// core/safetensors: exact bytes of a small file, bit-exact round trips (incl. bf16 and NaN
// payloads), and errors naming the file and the tensor for truncated or corrupt files.
#include "core/safetensors.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/fs.h"
#include "tests/test_util/temp_dir.h"

namespace st = grec::safetensors;

namespace {

class SafetensorsTest : public ::testing::Test {
 protected:
  std::string path(const std::string& name) const { return tmp_.sub(name); }
  grec::test::TempDir tmp_{"safetensors"};
};

std::string error_of(const std::string& path) {
  try {
    st::File::read(path);
  } catch (const grec::UserError& e) {
    return e.what();
  }
  return "";
}

TEST_F(SafetensorsTest, ExactBytesOfASmallFile) {
  const float v[2] = {1.0f, 2.0f};
  st::Writer w;
  w.add("a", st::Dtype::kF32, {2}, v, sizeof v);
  const std::string bytes = w.serialize();
  const std::string json = R"({"a":{"data_offsets":[0,8],"dtype":"F32","shape":[2]}})";
  // 8-byte length + header padded with spaces to a multiple of 8, then the data.
  const size_t padded = (json.size() + 7) / 8 * 8;
  ASSERT_EQ(bytes.size(), 8 + padded + 8);
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  EXPECT_EQ(n, padded);
  EXPECT_EQ(bytes.substr(8, json.size()), json);
  EXPECT_EQ(bytes.substr(8 + json.size(), padded - json.size()),
            std::string(padded - json.size(), ' '));
  EXPECT_EQ(std::memcmp(bytes.data() + 8 + padded, v, 8), 0);
}

TEST_F(SafetensorsTest, RoundTripIsBitExact) {
  std::vector<float> f = {0.0f, -0.0f, 1.5f, std::nanf("0x123"), INFINITY, 1e-45f};
  std::vector<uint16_t> bf16 = {0x3f80, 0xbf80, 0x7fc1, 0x0001, 0xffff};  // raw bf16 bits
  std::vector<int64_t> i64 = {-1, INT64_MAX, 42};
  std::vector<uint8_t> u8 = {1, 2, 3};
  st::Writer w;
  w.add("u8", st::Dtype::kU8, {3}, u8.data(), u8.size());
  w.add("bf", st::Dtype::kBF16, {5}, bf16.data(), bf16.size() * 2);
  w.add("layer.0.f", st::Dtype::kF32, {2, 3}, f.data(), f.size() * 4);
  w.add("ids", st::Dtype::kI64, {3, 1}, i64.data(), i64.size() * 8);
  w.add("empty", st::Dtype::kF32, {0, 4}, nullptr, 0);
  w.set_metadata("format", "pt");
  w.write(path("x.safetensors"));

  const st::File r = st::File::read(path("x.safetensors"));
  EXPECT_EQ(r.names().size(), 5u);
  EXPECT_EQ(r.metadata().at("format"), "pt");
  EXPECT_EQ(r.info("layer.0.f").shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(r.info("bf").dtype, st::Dtype::kBF16);
  EXPECT_EQ(std::memcmp(r.data("layer.0.f"), f.data(), f.size() * 4), 0);
  EXPECT_EQ(std::memcmp(r.data("bf"), bf16.data(), bf16.size() * 2), 0);
  EXPECT_EQ(std::memcmp(r.data("ids"), i64.data(), i64.size() * 8), 0);
  EXPECT_EQ(std::memcmp(r.data("u8"), u8.data(), 3), 0);
  EXPECT_EQ(r.info("empty").nbytes(), 0u);
  // Every tensor aligned to its element size inside the file.
  for (const auto& name : r.names()) {
    const auto off = static_cast<const char*>(r.data(name)) - static_cast<const char*>(r.data("ids"));
    EXPECT_EQ(off % static_cast<long>(st::dtype_size(r.info(name).dtype)), 0) << name;
  }
  EXPECT_THROW(r.info("nope"), grec::UserError);
}

TEST_F(SafetensorsTest, TruncatedFileNamesFileAndTensor) {
  std::vector<float> a(16, 1.0f), b(4, 2.0f);
  st::Writer w;
  w.add("first", st::Dtype::kF32, {16}, a.data(), 64);
  w.add("second", st::Dtype::kF32, {4}, b.data(), 16);
  std::string bytes = w.serialize();
  grec::write_file_atomic(path("t.safetensors"), bytes.substr(0, bytes.size() - 3));
  const std::string msg = error_of(path("t.safetensors"));
  EXPECT_NE(msg.find(path("t.safetensors")), std::string::npos) << msg;
  EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;
  EXPECT_NE(msg.find("second"), std::string::npos) << msg;  // the last tensor (name order)

  grec::write_file_atomic(path("short.safetensors"), bytes.substr(0, 5));
  EXPECT_NE(error_of(path("short.safetensors")).find("truncated"), std::string::npos);
  grec::write_file_atomic(path("head.safetensors"), bytes.substr(0, 20));
  EXPECT_NE(error_of(path("head.safetensors")).find("head.safetensors"), std::string::npos);
  EXPECT_NE(error_of(path("missing.safetensors")).find("missing"), std::string::npos);
}

TEST_F(SafetensorsTest, CorruptHeadersAreRejected) {
  const auto with_header = [&](const std::string& name, const std::string& json, size_t data) {
    std::string out(8, '\0');
    const uint64_t n = json.size();
    std::memcpy(out.data(), &n, 8);
    out += json + std::string(data, '\0');
    grec::write_file_atomic(path(name), out);
    return error_of(path(name));
  };
  EXPECT_NE(with_header("j.st", "{not json", 0).find("corrupt header"), std::string::npos);
  EXPECT_NE(with_header("d.st", R"({"w":{"dtype":"F99","shape":[1],"data_offsets":[0,4]}})", 4)
                .find("unknown dtype 'F99'"),
            std::string::npos);
  EXPECT_NE(with_header("s.st", R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", 4)
                .find("'w'"),
            std::string::npos);
  EXPECT_NE(with_header("o.st", R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                                R"("b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 8)
                .find("non-contiguous"),
            std::string::npos);
  EXPECT_NE(with_header("x.st", R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 12)
                .find("cover 4 bytes"),
            std::string::npos);
  std::string huge(16, '\xff');
  grec::write_file_atomic(path("h.st"), huge);
  EXPECT_NE(error_of(path("h.st")).find("h.st"), std::string::npos);
}

}  // namespace
