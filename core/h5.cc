// HDF5 wrapper over the C API (core/h5.h). Every call is checked; failures name the file and
// the object instead of printing HDF5's error stack.
#include "core/h5.h"

#include <hdf5.h>

#include <algorithm>
#include <utility>

#include "core/error.h"

namespace grec::h5 {

namespace {

// Silences HDF5's automatic error-stack printing once per process; we report our own errors.
void quiet() {
  static const bool done = [] {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    return true;
  }();
  (void)done;
}

// Closes an HDF5 handle with the right close function.
class Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Handle(hid_t id, Closer closer) : id_(id), closer_(closer) {}
  ~Handle() {
    if (id_ >= 0) closer_(id_);
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  hid_t get() const { return id_; }
  bool ok() const { return id_ >= 0; }

 private:
  hid_t id_;
  Closer closer_;
};

#define H5_CHECK(expr, ...)                                                          \
  do {                                                                               \
    if ((expr) < 0) throw ::grec::Error(fmt::format(__VA_ARGS__));                   \
  } while (0)

hid_t link_create_plist() {
  hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
  H5Pset_create_intermediate_group(lcpl, 1);
  return lcpl;
}

constexpr size_t kChunkElems = 1 << 16;

}  // namespace

File File::create(const std::string& path) {
  quiet();
  hid_t id = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (id < 0) user_error("cannot create HDF5 file '{}'", path);
  return File(id, path);
}

File File::open(const std::string& path) {
  quiet();
  if (!is_hdf5(path)) user_error("'{}' does not exist or is not an HDF5 file", path);
  hid_t id = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (id < 0) user_error("cannot open HDF5 file '{}'", path);
  return File(id, path);
}

bool is_hdf5(const std::string& path) {
  quiet();
  return H5Fis_hdf5(path.c_str()) > 0;
}

File::~File() { close(); }

File::File(File&& o) noexcept : id_(std::exchange(o.id_, -1)), path_(std::move(o.path_)) {}

File& File::operator=(File&& o) noexcept {
  if (this != &o) {
    close();
    id_ = std::exchange(o.id_, -1);
    path_ = std::move(o.path_);
  }
  return *this;
}

void File::close() {
  if (id_ >= 0) {
    H5Fclose(id_);
    id_ = -1;
  }
}

bool File::exists(const std::string& object) const {
  if (object == "/" || object.empty()) return true;
  // H5Lexists fails on a missing intermediate; check every prefix.
  size_t pos = 0;
  while (true) {
    pos = object.find('/', pos + 1);
    const std::string prefix = object.substr(0, pos);
    if (H5Lexists(id_, prefix.c_str(), H5P_DEFAULT) <= 0) return false;
    if (pos == std::string::npos) return true;
  }
}

std::vector<std::string> File::list(const std::string& group) const {
  std::vector<std::string> names;
  Handle g(H5Gopen2(id_, group.c_str(), H5P_DEFAULT), H5Gclose);
  if (!g.ok()) user_error("{}: no group '{}'", path_, group);
  H5G_info_t info;
  H5_CHECK(H5Gget_info(g.get(), &info), "{}: cannot list '{}'", path_, group);
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    ssize_t n = H5Lget_name_by_idx(g.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0,
                                   H5P_DEFAULT);
    std::string name(static_cast<size_t>(n), '\0');
    H5Lget_name_by_idx(g.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), name.size() + 1,
                       H5P_DEFAULT);
    names.push_back(name);
  }
  return names;
}

void File::create_group(const std::string& name) {
  if (exists(name)) return;
  Handle lcpl(link_create_plist(), H5Pclose);
  Handle g(H5Gcreate2(id_, name.c_str(), lcpl.get(), H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
  H5_CHECK(g.get(), "{}: cannot create group '{}'", path_, name);
}

void File::write_numeric(const std::string& name, const void* data, int64_t mem_type,
                         std::vector<uint64_t> dims, size_t count) {
  if (dims.empty()) dims = {count};
  size_t prod = 1;
  for (auto d : dims) prod *= d;
  GREC_CHECK(prod == count, "{}: '{}' has {} values for shape of {}", path_, name, count, prod);
  std::vector<hsize_t> hd(dims.begin(), dims.end());
  Handle space(H5Screate_simple(static_cast<int>(hd.size()), hd.data(), nullptr), H5Sclose);
  Handle dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  if (count >= 4096) {
    // Chunk along the first dimension, whole rows per chunk.
    std::vector<hsize_t> chunk = hd;
    size_t row = count / std::max<hsize_t>(hd[0], 1);
    chunk[0] = std::max<hsize_t>(1, std::min<hsize_t>(hd[0], kChunkElems / std::max<size_t>(row, 1)));
    H5Pset_chunk(dcpl.get(), static_cast<int>(chunk.size()), chunk.data());
    H5Pset_shuffle(dcpl.get());
    H5Pset_deflate(dcpl.get(), 4);
  }
  Handle lcpl(link_create_plist(), H5Pclose);
  hid_t file_type = mem_type;
  Handle ds(H5Dcreate2(id_, name.c_str(), file_type, space.get(), lcpl.get(), dcpl.get(),
                       H5P_DEFAULT),
            H5Dclose);
  H5_CHECK(ds.get(), "{}: cannot create dataset '{}'", path_, name);
  if (count > 0) {
    H5_CHECK(H5Dwrite(ds.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data),
             "{}: cannot write '{}' (disk full?)", path_, name);
  }
}

void File::write_i64(const std::string& name, const std::vector<int64_t>& data,
                     std::vector<uint64_t> dims) {
  write_numeric(name, data.data(), H5T_NATIVE_INT64, std::move(dims), data.size());
}
void File::write_f32(const std::string& name, const std::vector<float>& data,
                     std::vector<uint64_t> dims) {
  write_numeric(name, data.data(), H5T_NATIVE_FLOAT, std::move(dims), data.size());
}
void File::write_f64(const std::string& name, const std::vector<double>& data,
                     std::vector<uint64_t> dims) {
  write_numeric(name, data.data(), H5T_NATIVE_DOUBLE, std::move(dims), data.size());
}

void File::write_strings(const std::string& name, const std::vector<std::string>& data) {
  Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(type.get(), H5T_VARIABLE);
  H5Tset_cset(type.get(), H5T_CSET_UTF8);
  hsize_t n = data.size();
  Handle space(H5Screate_simple(1, &n, nullptr), H5Sclose);
  Handle dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  if (n >= 4096) {
    hsize_t chunk = std::min<hsize_t>(n, 8192);
    H5Pset_chunk(dcpl.get(), 1, &chunk);
    H5Pset_deflate(dcpl.get(), 4);
  }
  Handle lcpl(link_create_plist(), H5Pclose);
  Handle ds(H5Dcreate2(id_, name.c_str(), type.get(), space.get(), lcpl.get(), dcpl.get(),
                       H5P_DEFAULT),
            H5Dclose);
  H5_CHECK(ds.get(), "{}: cannot create dataset '{}'", path_, name);
  std::vector<const char*> ptrs(data.size());
  for (size_t i = 0; i < data.size(); ++i) ptrs[i] = data[i].c_str();
  if (n > 0) {
    H5_CHECK(H5Dwrite(ds.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()),
             "{}: cannot write '{}'", path_, name);
  }
}

std::vector<uint64_t> File::shape(const std::string& name) const {
  Handle ds(H5Dopen2(id_, name.c_str(), H5P_DEFAULT), H5Dclose);
  if (!ds.ok()) user_error("{}: missing dataset '{}'", path_, name);
  Handle space(H5Dget_space(ds.get()), H5Sclose);
  int rank = H5Sget_simple_extent_ndims(space.get());
  std::vector<hsize_t> dims(static_cast<size_t>(std::max(rank, 0)));
  H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  return std::vector<uint64_t>(dims.begin(), dims.end());
}

void File::read_numeric(const std::string& name, void* out, int64_t mem_type,
                        size_t count) const {
  Handle ds(H5Dopen2(id_, name.c_str(), H5P_DEFAULT), H5Dclose);
  if (!ds.ok()) user_error("{}: missing dataset '{}'", path_, name);
  Handle type(H5Dget_type(ds.get()), H5Tclose);
  const H5T_class_t cls = H5Tget_class(type.get());
  if (cls != H5T_INTEGER && cls != H5T_FLOAT) {
    user_error("{}: dataset '{}' is not numeric", path_, name);
  }
  if (count > 0) {
    H5_CHECK(H5Dread(ds.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out),
             "{}: cannot read '{}' (truncated or corrupt file?)", path_, name);
  }
}

namespace {
size_t product(const std::vector<uint64_t>& d) {
  size_t p = 1;
  for (auto x : d) p *= x;
  return p;
}
}  // namespace

std::vector<int64_t> File::read_i64(const std::string& name) const {
  std::vector<int64_t> v(product(shape(name)));
  read_numeric(name, v.data(), H5T_NATIVE_INT64, v.size());
  return v;
}
std::vector<float> File::read_f32(const std::string& name) const {
  std::vector<float> v(product(shape(name)));
  read_numeric(name, v.data(), H5T_NATIVE_FLOAT, v.size());
  return v;
}
std::vector<double> File::read_f64(const std::string& name) const {
  std::vector<double> v(product(shape(name)));
  read_numeric(name, v.data(), H5T_NATIVE_DOUBLE, v.size());
  return v;
}

std::vector<std::string> File::read_strings(const std::string& name) const {
  Handle ds(H5Dopen2(id_, name.c_str(), H5P_DEFAULT), H5Dclose);
  if (!ds.ok()) user_error("{}: missing dataset '{}'", path_, name);
  Handle ftype(H5Dget_type(ds.get()), H5Tclose);
  if (H5Tget_class(ftype.get()) != H5T_STRING) {
    user_error("{}: dataset '{}' does not hold strings", path_, name);
  }
  Handle space(H5Dget_space(ds.get()), H5Sclose);
  const hssize_t n = H5Sget_simple_extent_npoints(space.get());
  std::vector<std::string> out(static_cast<size_t>(n));
  if (n == 0) return out;
  if (H5Tis_variable_str(ftype.get()) > 0) {
    Handle mtype(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(mtype.get(), H5T_VARIABLE);
    H5Tset_cset(mtype.get(), H5Tget_cset(ftype.get()));
    std::vector<char*> ptrs(static_cast<size_t>(n), nullptr);
    H5_CHECK(H5Dread(ds.get(), mtype.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()),
             "{}: cannot read '{}'", path_, name);
    for (size_t i = 0; i < out.size(); ++i) out[i] = ptrs[i] ? ptrs[i] : "";
    H5Dvlen_reclaim(mtype.get(), space.get(), H5P_DEFAULT, ptrs.data());
  } else {
    // Fixed-length strings (h5py writes these for numpy 'S' arrays).
    const size_t len = H5Tget_size(ftype.get());
    std::vector<char> buf(len * static_cast<size_t>(n));
    H5_CHECK(H5Dread(ds.get(), ftype.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data()),
             "{}: cannot read '{}'", path_, name);
    for (size_t i = 0; i < out.size(); ++i) {
      const char* p = buf.data() + i * len;
      out[i] = std::string(p, strnlen(p, len));
    }
  }
  return out;
}

namespace {

hid_t open_object(hid_t file, const std::string& path, const std::string& object) {
  hid_t o = H5Oopen(file, object.c_str(), H5P_DEFAULT);
  if (o < 0) user_error("{}: no object '{}'", path, object);
  return o;
}

void replace_attr(hid_t obj, const std::string& name) {
  if (H5Aexists(obj, name.c_str()) > 0) H5Adelete(obj, name.c_str());
}

}  // namespace

void File::set_attr(const std::string& object, const std::string& name,
                    const std::string& value) {
  Handle obj(open_object(id_, path_, object), H5Oclose);
  replace_attr(obj.get(), name);
  Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(type.get(), H5T_VARIABLE);
  H5Tset_cset(type.get(), H5T_CSET_UTF8);
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  Handle a(H5Acreate2(obj.get(), name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT),
           H5Aclose);
  const char* p = value.c_str();
  H5_CHECK(H5Awrite(a.get(), type.get(), &p), "{}: cannot write attribute {}@{}", path_, object,
           name);
}

void File::set_attr(const std::string& object, const std::string& name, int64_t value) {
  Handle obj(open_object(id_, path_, object), H5Oclose);
  replace_attr(obj.get(), name);
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  Handle a(H5Acreate2(obj.get(), name.c_str(), H5T_NATIVE_INT64, space.get(), H5P_DEFAULT,
                      H5P_DEFAULT),
           H5Aclose);
  H5_CHECK(H5Awrite(a.get(), H5T_NATIVE_INT64, &value), "{}: cannot write attribute {}@{}",
           path_, object, name);
}

void File::set_attr(const std::string& object, const std::string& name, double value) {
  Handle obj(open_object(id_, path_, object), H5Oclose);
  replace_attr(obj.get(), name);
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  Handle a(H5Acreate2(obj.get(), name.c_str(), H5T_NATIVE_DOUBLE, space.get(), H5P_DEFAULT,
                      H5P_DEFAULT),
           H5Aclose);
  H5_CHECK(H5Awrite(a.get(), H5T_NATIVE_DOUBLE, &value), "{}: cannot write attribute {}@{}",
           path_, object, name);
}

bool File::has_attr(const std::string& object, const std::string& name) const {
  if (!exists(object)) return false;
  Handle obj(open_object(id_, path_, object), H5Oclose);
  return H5Aexists(obj.get(), name.c_str()) > 0;
}

std::string File::attr_string(const std::string& object, const std::string& name) const {
  Handle obj(open_object(id_, path_, object), H5Oclose);
  Handle a(H5Aopen(obj.get(), name.c_str(), H5P_DEFAULT), H5Aclose);
  if (!a.ok()) user_error("{}: missing attribute '{}' on '{}'", path_, name, object);
  Handle ftype(H5Aget_type(a.get()), H5Tclose);
  if (H5Tget_class(ftype.get()) != H5T_STRING) {
    user_error("{}: attribute '{}' on '{}' is not a string", path_, name, object);
  }
  if (H5Tis_variable_str(ftype.get()) > 0) {
    Handle mtype(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(mtype.get(), H5T_VARIABLE);
    H5Tset_cset(mtype.get(), H5Tget_cset(ftype.get()));
    char* p = nullptr;
    H5_CHECK(H5Aread(a.get(), mtype.get(), &p), "{}: cannot read attribute {}", path_, name);
    std::string s = p ? p : "";
    H5free_memory(p);
    return s;
  }
  std::string s(H5Tget_size(ftype.get()), '\0');
  H5_CHECK(H5Aread(a.get(), ftype.get(), s.data()), "{}: cannot read attribute {}", path_, name);
  s.resize(strnlen(s.data(), s.size()));
  return s;
}

int64_t File::attr_i64(const std::string& object, const std::string& name) const {
  Handle obj(open_object(id_, path_, object), H5Oclose);
  Handle a(H5Aopen(obj.get(), name.c_str(), H5P_DEFAULT), H5Aclose);
  if (!a.ok()) user_error("{}: missing attribute '{}' on '{}'", path_, name, object);
  int64_t v = 0;
  H5_CHECK(H5Aread(a.get(), H5T_NATIVE_INT64, &v), "{}: cannot read attribute {}", path_, name);
  return v;
}

double File::attr_f64(const std::string& object, const std::string& name) const {
  Handle obj(open_object(id_, path_, object), H5Oclose);
  Handle a(H5Aopen(obj.get(), name.c_str(), H5P_DEFAULT), H5Aclose);
  if (!a.ok()) user_error("{}: missing attribute '{}' on '{}'", path_, name, object);
  double v = 0;
  H5_CHECK(H5Aread(a.get(), H5T_NATIVE_DOUBLE, &v), "{}: cannot read attribute {}", path_, name);
  return v;
}

}  // namespace grec::h5
