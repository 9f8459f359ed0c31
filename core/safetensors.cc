// safetensors reader and writer (see core/safetensors.h for the layout and the checks).
#include "core/safetensors.h"

#include <algorithm>
#include <cstring>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/fs.h"

namespace grec::safetensors {

namespace {

struct DtypeEntry {
  Dtype dtype;
  const char* name;
  size_t size;
};

constexpr DtypeEntry kDtypes[] = {
    {Dtype::kBool, "BOOL", 1}, {Dtype::kU8, "U8", 1},     {Dtype::kI8, "I8", 1},
    {Dtype::kI16, "I16", 2},   {Dtype::kU16, "U16", 2},   {Dtype::kF16, "F16", 2},
    {Dtype::kBF16, "BF16", 2}, {Dtype::kI32, "I32", 4},   {Dtype::kU32, "U32", 4},
    {Dtype::kF32, "F32", 4},   {Dtype::kI64, "I64", 8},   {Dtype::kU64, "U64", 8},
    {Dtype::kF64, "F64", 8},
};

const DtypeEntry& entry(Dtype dtype) {
  for (const auto& e : kDtypes) {
    if (e.dtype == dtype) return e;
  }
  GREC_CHECK(false, "unknown safetensors dtype {}", static_cast<int>(dtype));
  return kDtypes[0];
}

// The safetensors crate caps headers at 100 MB; a larger length field means a corrupt file.
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

uint64_t read_u64_le(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

void append_u64_le(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

}  // namespace

const char* dtype_name(Dtype dtype) { return entry(dtype).name; }
size_t dtype_size(Dtype dtype) { return entry(dtype).size; }

bool parse_dtype(const std::string& name, Dtype* out) {
  for (const auto& e : kDtypes) {
    if (name == e.name) {
      *out = e.dtype;
      return true;
    }
  }
  return false;
}

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

void Writer::add(const std::string& name, Dtype dtype, const std::vector<int64_t>& shape,
                 const void* data, size_t nbytes) {
  GREC_CHECK(!name.empty() && name != "__metadata__", "invalid safetensors tensor name '{}'",
             name);
  for (const auto& e : tensors_) GREC_CHECK(e.info.name != name, "duplicate tensor '{}'", name);
  Entry e;
  e.info.name = name;
  e.info.dtype = dtype;
  e.info.shape = shape;
  for (int64_t d : shape) GREC_CHECK(d >= 0, "tensor '{}' has a negative dimension", name);
  GREC_CHECK(static_cast<uint64_t>(e.info.numel()) * dtype_size(dtype) == nbytes,
             "tensor '{}': {} bytes do not match its shape and dtype {}", name, nbytes,
             dtype_name(dtype));
  e.bytes.assign(static_cast<const char*>(data), nbytes);
  tensors_.push_back(std::move(e));
}

void Writer::set_metadata(const std::string& key, const std::string& value) {
  metadata_[key] = value;
}

std::string Writer::serialize() const {
  std::vector<const Entry*> order;
  for (const auto& e : tensors_) order.push_back(&e);
  std::stable_sort(order.begin(), order.end(), [](const Entry* a, const Entry* b) {
    const size_t sa = dtype_size(a->info.dtype), sb = dtype_size(b->info.dtype);
    return sa != sb ? sa > sb : a->info.name < b->info.name;
  });
  nlohmann::json header = nlohmann::json::object();
  if (!metadata_.empty()) header["__metadata__"] = metadata_;
  uint64_t offset = 0;
  for (const Entry* e : order) {
    const uint64_t end = offset + e->bytes.size();
    header[e->info.name] = {{"dtype", dtype_name(e->info.dtype)},
                            {"shape", e->info.shape},
                            {"data_offsets", {offset, end}}};
    offset = end;
  }
  std::string text = header.dump();
  text.append((8 - (8 + text.size()) % 8) % 8, ' ');
  std::string out;
  out.reserve(8 + text.size() + offset);
  append_u64_le(out, text.size());
  out += text;
  for (const Entry* e : order) out += e->bytes;
  return out;
}

void Writer::write(const std::string& path) const { write_file_atomic(path, serialize()); }

File File::read(const std::string& path) {
  if (!std::filesystem::is_regular_file(path)) user_error("safetensors file '{}' is missing", path);
  return parse(read_file(path), path);
}

File File::parse(std::string bytes, const std::string& origin) {
  File f;
  f.path_ = origin;
  if (bytes.size() < 8) {
    user_error("safetensors file '{}' is truncated: {} bytes, shorter than the 8-byte header size",
               origin, bytes.size());
  }
  const uint64_t n = read_u64_le(bytes.data());
  if (n > kMaxHeaderBytes || n > bytes.size() - 8) {
    user_error("safetensors file '{}' is truncated or corrupt: header of {} bytes in a file of {}",
               origin, n, bytes.size());
  }
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(bytes.begin() + 8, bytes.begin() + 8 + n);
  } catch (const nlohmann::json::exception& e) {
    user_error("safetensors file '{}' has a corrupt header: {}", origin, e.what());
  }
  if (!header.is_object()) user_error("safetensors file '{}': header is not a JSON object", origin);
  f.data_start_ = 8 + n;
  const uint64_t data_size = bytes.size() - f.data_start_;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const nlohmann::json& v = it.value();
    if (name == "__metadata__") {
      if (!v.is_object()) user_error("safetensors file '{}': __metadata__ is not an object", origin);
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string()) {
          user_error("safetensors file '{}': __metadata__ value '{}' is not a string", origin,
                     m.key());
        }
        f.metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    TensorInfo t;
    t.name = name;
    const bool well_formed = v.is_object() && v.contains("dtype") && v["dtype"].is_string() &&
                             v.contains("shape") && v["shape"].is_array() &&
                             v.contains("data_offsets") && v["data_offsets"].is_array() &&
                             v["data_offsets"].size() == 2 &&
                             v["data_offsets"][0].is_number_unsigned() &&
                             v["data_offsets"][1].is_number_unsigned();
    if (!well_formed) {
      user_error("safetensors file '{}': tensor '{}' needs dtype, shape and data_offsets [begin, "
                 "end]", origin, name);
    }
    if (!parse_dtype(v["dtype"].get<std::string>(), &t.dtype)) {
      user_error("safetensors file '{}': tensor '{}' has unknown dtype '{}'", origin, name,
                 v["dtype"].get<std::string>());
    }
    for (const auto& d : v["shape"]) {
      if (!d.is_number_unsigned()) {
        user_error("safetensors file '{}': tensor '{}' has an invalid shape {}", origin, name,
                   v["shape"].dump());
      }
      t.shape.push_back(d.get<int64_t>());
    }
    t.begin = v["data_offsets"][0].get<uint64_t>();
    t.end = v["data_offsets"][1].get<uint64_t>();
    if (t.end < t.begin || t.nbytes() != static_cast<uint64_t>(t.numel()) * dtype_size(t.dtype)) {
      user_error("safetensors file '{}': tensor '{}' has data_offsets [{}, {}] that do not match "
                 "its shape {} and dtype {}", origin, name, t.begin, t.end, v["shape"].dump(),
                 dtype_name(t.dtype));
    }
    if (t.end > data_size) {
      user_error("safetensors file '{}' is truncated: tensor '{}' ends at byte {} of a data "
                 "section of {} bytes", origin, name, t.end, data_size);
    }
    f.tensors_.push_back(std::move(t));
  }
  std::sort(f.tensors_.begin(), f.tensors_.end(), [](const TensorInfo& a, const TensorInfo& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t expected = 0;
  for (const auto& t : f.tensors_) {
    if (t.begin != expected) {
      user_error("safetensors file '{}': tensor '{}' starts at byte {}, expected {} (overlapping "
                 "or non-contiguous data)", origin, t.name, t.begin, expected);
    }
    expected = t.end;
  }
  if (expected != data_size) {
    user_error("safetensors file '{}': the tensors cover {} bytes but the data section has {}",
               origin, expected, data_size);
  }
  for (size_t i = 0; i < f.tensors_.size(); ++i) f.index_[f.tensors_[i].name] = i;
  f.bytes_ = std::move(bytes);
  return f;
}

std::vector<std::string> File::names() const {
  std::vector<std::string> out;
  for (const auto& t : tensors_) out.push_back(t.name);
  return out;
}

const TensorInfo& File::info(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end()) user_error("safetensors file '{}' has no tensor '{}'", path_, name);
  return tensors_[it->second];
}

const void* File::data(const std::string& name) const {
  return bytes_.data() + data_start_ + info(name).begin;
}

}  // namespace grec::safetensors
