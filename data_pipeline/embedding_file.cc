// Reading user-supplied item embeddings (HDF5 or .npy) with shape, coverage and NaN checks.
#include "data_pipeline/embedding_file.h"

#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>
#include <unordered_map>

#include "core/error.h"
#include "core/fs.h"
#include "core/h5.h"

namespace grec::data {
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The value of `key` in the .npy header dict, as raw text up to the next top-level comma/brace.
std::string header_value(const std::string& header, const std::string& key, const std::string& path) {
  const size_t k = header.find("'" + key + "'");
  if (k == std::string::npos) user_error("{}: .npy header has no '{}'", path, key);
  size_t p = header.find(':', k);
  if (p == std::string::npos) user_error("{}: malformed .npy header", path);
  ++p;
  while (p < header.size() && header[p] == ' ') ++p;
  size_t e = p;
  int depth = 0;
  for (; e < header.size(); ++e) {
    const char c = header[e];
    if (c == '(') ++depth;
    if (c == ')') --depth;
    if (depth == 0 && (c == ',' || c == '}')) break;
    if (depth < 0) break;
  }
  if (depth > 0) user_error("{}: malformed .npy header", path);
  return header.substr(p, e - p + (header[e] == ')' ? 1 : 0));
}

std::string describe_row(int64_t row, const std::vector<std::string>* ids) {
  return ids ? "row " + std::to_string(row) + " (raw id '" + (*ids)[row] + "')"
             : "row " + std::to_string(row);
}

}  // namespace

NpyMatrix read_npy(const std::string& path) {
  const std::string bytes = read_file(path);
  if (bytes.size() < 10 || std::memcmp(bytes.data(), "\x93NUMPY", 6) != 0) {
    user_error("{} is not a .npy file (bad magic)", path);
  }
  const int major = static_cast<unsigned char>(bytes[6]);
  size_t header_len = 0, pos = 0;
  if (major == 1) {
    header_len = static_cast<unsigned char>(bytes[8]) | (static_cast<unsigned char>(bytes[9]) << 8);
    pos = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) user_error("{}: truncated .npy header", path);
    uint32_t len;
    std::memcpy(&len, bytes.data() + 8, 4);
    header_len = len;
    pos = 12;
  } else {
    user_error("{}: .npy format version {} is not supported", path, major);
  }
  if (pos + header_len > bytes.size()) user_error("{}: truncated .npy header", path);
  const std::string header = bytes.substr(pos, header_len);
  pos += header_len;
  std::string descr = header_value(header, "descr", path);
  const std::string fortran = header_value(header, "fortran_order", path);
  const std::string shape = header_value(header, "shape", path);
  if (fortran.rfind("False", 0) != 0) {
    user_error("{}: Fortran-ordered .npy is not supported; save with np.ascontiguousarray", path);
  }
  size_t width = 0;
  if (descr == "'<f4'" || descr == "'|f4'") width = 4;
  else if (descr == "'<f8'") width = 8;
  else user_error("{}: .npy dtype {} is not supported (expected little-endian float32/float64)", path, descr);
  std::vector<int64_t> dims;
  {
    std::string inner = shape;
    for (char& c : inner)
      if (c == '(' || c == ')' || c == ',') c = ' ';
    std::istringstream in(inner);
    int64_t v;
    while (in >> v) dims.push_back(v);
  }
  if (dims.size() != 2) {
    user_error("{}: embeddings must be a 2-D matrix [items, d], got shape {}", path, shape);
  }
  NpyMatrix m;
  m.rows = dims[0];
  m.cols = dims[1];
  const size_t count = static_cast<size_t>(m.rows * m.cols);
  if (bytes.size() - pos != count * width) {
    user_error("{}: .npy holds {} data bytes, shape {} needs {}", path, bytes.size() - pos, shape,
               count * width);
  }
  m.data.resize(count);
  if (width == 4) {
    std::memcpy(m.data.data(), bytes.data() + pos, count * 4);
  } else {
    for (size_t i = 0; i < count; ++i) {
      double v;
      std::memcpy(&v, bytes.data() + pos + i * 8, 8);
      m.data[i] = static_cast<float>(v);
    }
  }
  return m;
}

void write_npy(const std::string& path, const std::vector<float>& data, int64_t rows, int64_t cols) {
  GREC_CHECK(static_cast<int64_t>(data.size()) == rows * cols, "npy data size mismatch");
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + std::to_string(rows) +
                       ", " + std::to_string(cols) + "), }";
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string out = "\x93NUMPY";
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(header.size() & 0xFF);
  out += static_cast<char>(header.size() >> 8);
  out += header;
  out.append(reinterpret_cast<const char*>(data.data()), data.size() * sizeof(float));
  write_file_atomic(path, out);
}

std::vector<float> read_embedding_file(const EmbeddingFileOptions& options,
                                       const std::vector<std::string>& raw_ids, int64_t* dim,
                                       int64_t* unused_rows) {
  if (options.path.empty()) user_error("config key 'embed.file.path' is required for encoder 'file'");
  const bool npy = ends_with(options.path, ".npy");
  int64_t rows = 0, cols = 0;
  std::vector<float> data;
  std::vector<std::string> file_ids;
  if (npy) {
    NpyMatrix m = read_npy(options.path);
    rows = m.rows;
    cols = m.cols;
    data = std::move(m.data);
    if (options.keyed_by_raw_id) {
      std::string ids_path = options.ids;
      if (ids_path.empty() || ids_path == "ids") {
        ids_path = options.path.substr(0, options.path.size() - 4) + ".ids.txt";
      }
      std::istringstream in(read_file(ids_path));
      std::string line;
      while (std::getline(in, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        file_ids.push_back(line);
      }
      if (!file_ids.empty() && file_ids.back().empty()) file_ids.pop_back();
    }
  } else {
    h5::File f = h5::File::open(options.path);
    if (!f.exists(options.dataset)) {
      user_error("{} has no dataset '{}' (config key 'embed.file.dataset')", options.path,
                 options.dataset);
    }
    const auto shape = f.shape(options.dataset);
    if (shape.size() != 2) {
      user_error("{}: dataset '{}' must be 2-D [items, d], it has {} dimensions", options.path,
                 options.dataset, shape.size());
    }
    rows = static_cast<int64_t>(shape[0]);
    cols = static_cast<int64_t>(shape[1]);
    data = f.read_f32(options.dataset);
    if (options.keyed_by_raw_id) {
      if (!f.exists(options.ids)) {
        user_error("{} has no raw-id dataset '{}' (config key 'embed.file.ids')", options.path,
                   options.ids);
      }
      try {
        file_ids = f.read_strings(options.ids);
      } catch (const UserError&) {
        for (int64_t v : f.read_i64(options.ids)) file_ids.push_back(std::to_string(v));
      }
    }
  }
  if (cols < 1) user_error("{}: embeddings have dimension 0", options.path);
  const int64_t n = static_cast<int64_t>(raw_ids.size());
  // NaN/Inf first: its message names the row and column, which is what the user must fix.
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      if (!std::isfinite(data[r * cols + c])) {
        user_error("{}: {} column {} is {}; embeddings must be finite", options.path,
                   describe_row(r, options.keyed_by_raw_id ? &file_ids : nullptr), c,
                   data[r * cols + c]);
      }
    }
  }
  *dim = cols;
  if (!options.keyed_by_raw_id) {
    if (rows != n) {
      user_error("{}: embeddings have {} rows but the dataset has {} items (in item order); set "
                 "embed.file.keyed_by_raw_id to match rows by raw id",
                 options.path, rows, n);
    }
    if (unused_rows) *unused_rows = 0;
    return data;
  }
  if (static_cast<int64_t>(file_ids.size()) != rows) {
    user_error("{}: {} raw ids for {} embedding rows", options.path, file_ids.size(), rows);
  }
  std::unordered_map<std::string, int64_t> row_of;
  for (int64_t r = 0; r < rows; ++r) {
    if (!row_of.emplace(file_ids[r], r).second) {
      user_error("{}: raw id '{}' appears twice (rows {} and {})", options.path, file_ids[r],
                 row_of[file_ids[r]], r);
    }
  }
  std::vector<float> out(n * cols);
  int64_t missing = 0;
  std::string examples;
  for (int64_t i = 0; i < n; ++i) {
    auto it = row_of.find(raw_ids[i]);
    if (it == row_of.end()) {
      if (missing < 5) examples += (missing ? ", '" : "'") + raw_ids[i] + "'";
      ++missing;
      continue;
    }
    std::memcpy(out.data() + i * cols, data.data() + it->second * cols, cols * sizeof(float));
  }
  if (missing > 0) {
    user_error("{}: {} of {} dataset items have no embedding (e.g. raw ids {})", options.path,
               missing, n, examples);
  }
  if (unused_rows) *unused_rows = rows - n;
  return out;
}

}  // namespace grec::data
