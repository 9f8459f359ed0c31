// Torch-free reader and writer of the safetensors format (huggingface/safetensors):
//   8 bytes  little-endian u64 N = header size
//   N bytes  UTF-8 JSON: {"__metadata__": {str: str}, "<name>": {"dtype": "F32",
//            "shape": [..], "data_offsets": [begin, end]}, ...}, padded with spaces so the data
//            starts on an 8-byte boundary
//   data     the tensors' bytes, row-major little-endian, offsets relative to the data start.
// Reading validates the whole file (header bounds, dtype names, shape × dtype size = byte range,
// ranges packed back to back and covering the data exactly) and throws grec::UserError naming the file and the
// tensor, so a truncated or corrupt checkpoint is reported rather than silently loaded.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace grec::safetensors {

enum class Dtype { kBool, kU8, kI8, kI16, kU16, kF16, kBF16, kI32, kU32, kF32, kI64, kU64, kF64 };

const char* dtype_name(Dtype dtype);  // "F32", "BF16", ...
size_t dtype_size(Dtype dtype);       // bytes per element
// false when `name` is not a known safetensors dtype.
bool parse_dtype(const std::string& name, Dtype* out);

struct TensorInfo {
  std::string name;
  Dtype dtype = Dtype::kF32;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  // byte range relative to the data section
  int64_t numel() const;
  uint64_t nbytes() const { return end - begin; }
};

// Collects tensors (copies their bytes) and writes the file atomically (temporary name, rename).
// The data section is packed without gaps (readers such as the Rust safetensors crate require
// it), ordered by element size, largest first, then by name, so every tensor stays aligned to its
// element size given the 8-byte aligned data start.
class Writer {
 public:
  void add(const std::string& name, Dtype dtype, const std::vector<int64_t>& shape,
           const void* data, size_t nbytes);
  void set_metadata(const std::string& key, const std::string& value);
  // The whole file as bytes.
  std::string serialize() const;
  void write(const std::string& path) const;
  size_t size() const { return tensors_.size(); }

 private:
  struct Entry {
    TensorInfo info;
    std::string bytes;
  };
  std::vector<Entry> tensors_;
  std::map<std::string, std::string> metadata_;
};

// A whole file read into memory and validated.
class File {
 public:
  // Throws grec::UserError naming `path` (and the tensor) when the file is missing, truncated or
  // malformed.
  static File read(const std::string& path);
  // Same from bytes in memory; `origin` names them in errors.
  static File parse(std::string bytes, const std::string& origin);

  const std::string& path() const { return path_; }
  // Tensor names in file order (by data offset).
  std::vector<std::string> names() const;
  bool has(const std::string& name) const { return index_.count(name) > 0; }
  // UserError naming the file when `name` is absent.
  const TensorInfo& info(const std::string& name) const;
  const void* data(const std::string& name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  std::string path_;
  std::string bytes_;
  size_t data_start_ = 0;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace grec::safetensors
