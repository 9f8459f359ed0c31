// Thin checked wrapper over the HDF5 C API: files, nested datasets of int64/float/double/UTF-8
// strings (chunked and deflate-compressed when large), attributes. Files written here read with
// h5py without grec. Errors name the file and the object.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace grec::h5 {

class File {
 public:
  // Creates (truncates) `path` for writing.
  static File create(const std::string& path);
  // Opens read-only; a UserError when missing or not an HDF5 file.
  static File open(const std::string& path);
  File() = default;
  ~File();
  File(File&& o) noexcept;
  File& operator=(File&& o) noexcept;
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  const std::string& path() const { return path_; }
  void close();
  bool exists(const std::string& object) const;  // "/a/b/c": true when every link exists
  std::vector<std::string> list(const std::string& group) const;

  // Parent groups are created as needed. `dims` defaults to {data.size()}.
  void write_i64(const std::string& name, const std::vector<int64_t>& data,
                 std::vector<uint64_t> dims = {});
  void write_f32(const std::string& name, const std::vector<float>& data,
                 std::vector<uint64_t> dims = {});
  void write_f64(const std::string& name, const std::vector<double>& data,
                 std::vector<uint64_t> dims = {});
  void write_strings(const std::string& name, const std::vector<std::string>& data);
  void create_group(const std::string& name);

  std::vector<uint64_t> shape(const std::string& name) const;
  std::vector<int64_t> read_i64(const std::string& name) const;
  std::vector<float> read_f32(const std::string& name) const;
  std::vector<double> read_f64(const std::string& name) const;
  std::vector<std::string> read_strings(const std::string& name) const;

  // Attributes on a group or dataset ("/" for the file).
  void set_attr(const std::string& object, const std::string& name, const std::string& value);
  void set_attr(const std::string& object, const std::string& name, int64_t value);
  void set_attr(const std::string& object, const std::string& name, double value);
  bool has_attr(const std::string& object, const std::string& name) const;
  std::string attr_string(const std::string& object, const std::string& name) const;
  int64_t attr_i64(const std::string& object, const std::string& name) const;
  double attr_f64(const std::string& object, const std::string& name) const;

 private:
  File(int64_t id, std::string path) : id_(id), path_(std::move(path)) {}
  void write_numeric(const std::string& name, const void* data, int64_t mem_type,
                     std::vector<uint64_t> dims, size_t count);
  void read_numeric(const std::string& name, void* out, int64_t mem_type, size_t count) const;
  int64_t id_ = -1;
  std::string path_;
};

// True when `path` is an HDF5 file.
bool is_hdf5(const std::string& path);

}  // namespace grec::h5
