// MPI backend: dtype mapping, chunked calls, variable-size byte gathers.
#include "dist/mpi_communicator.h"

#include <algorithm>

#include "core/error.h"
#include "dist/mpi_check.h"
#include "dist/mpi_env.h"

namespace grec::dist {
namespace {

MPI_Op mpi_op(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum:
    case ReduceOp::kAvg: return MPI_SUM;
    case ReduceOp::kMax: return MPI_MAX;
    case ReduceOp::kMin: return MPI_MIN;
  }
  return MPI_SUM;
}

// 16-bit floats have no MPI arithmetic type: they are reduced as fp32 and rounded back.
bool reduce_through_fp32(torch::ScalarType t) {
  return t == torch::kBFloat16 || t == torch::kHalf;
}

}  // namespace

MPI_Datatype mpi_datatype(torch::ScalarType type) {
  switch (type) {
    case torch::kFloat: return MPI_FLOAT;
    case torch::kDouble: return MPI_DOUBLE;
    case torch::kLong: return MPI_INT64_T;
    case torch::kInt: return MPI_INT32_T;
    case torch::kShort: return MPI_INT16_T;
    case torch::kChar: return MPI_INT8_T;
    case torch::kByte: return MPI_UINT8_T;
    case torch::kBool: return MPI_UINT8_T;  // torch bools are one byte holding 0 or 1
    case torch::kBFloat16:
    case torch::kHalf: return MPI_UINT16_T;  // moved as words, never reduced as such
    default: break;
  }
  throw Error(fmt::format("MPI communicator: unsupported dtype {}", c10::toString(type)));
}

MpiCommunicator::MpiCommunicator(int64_t max_chunk) : max_chunk_(max_chunk) {
  GREC_CHECK(max_chunk_ > 0 && max_chunk_ <= INT_MAX, "max_chunk {} out of range", max_chunk_);
  if (!MpiEnv::active()) return;
  // A duplicate keeps tensor traffic apart from the control-plane collectives on MPI_COMM_WORLD.
  MPI_CHECK(MPI_Comm_dup(MPI_COMM_WORLD, &comm_));
  MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
  MPI_CHECK(MPI_Comm_rank(comm_, &rank_));
  MPI_CHECK(MPI_Comm_size(comm_, &world_));
}

MpiCommunicator::~MpiCommunicator() {
  if (comm_ != MPI_COMM_NULL && MpiEnv::active()) MPI_Comm_free(&comm_);
}

void MpiCommunicator::check_tensor(const torch::Tensor& t, const char* op) const {
  GREC_CHECK(t.defined(), "{}: undefined tensor", op);
  GREC_CHECK(t.device().is_cpu(), "{}: the MPI communicator takes CPU tensors, got {}", op,
             t.device().str());
  GREC_CHECK(t.is_contiguous(), "{}: tensor must be contiguous", op);
}

void MpiCommunicator::allreduce(torch::Tensor& t, ReduceOp op) {
  check_tensor(t, "allreduce");
  GREC_CHECK(op != ReduceOp::kAvg || t.is_floating_point(),
             "allreduce avg needs a floating-point tensor, got {}", c10::toString(t.scalar_type()));
  auto guard = begin("allreduce");
  if (comm_ == MPI_COMM_NULL || world_ == 1) return;
  if (reduce_through_fp32(t.scalar_type())) {
    torch::Tensor f = t.to(torch::kFloat);
    reduce_raw(f, op);
    t.copy_(f);
    return;
  }
  reduce_raw(t, op);
}

void MpiCommunicator::reduce_raw(torch::Tensor& t, ReduceOp op) {
  const MPI_Datatype type = mpi_datatype(t.scalar_type());
  auto* base = static_cast<char*>(t.data_ptr());
  const int64_t elem = t.element_size();
  for (int64_t off = 0; off < t.numel(); off += max_chunk_) {
    const int n = static_cast<int>(std::min(max_chunk_, t.numel() - off));
    MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, base + off * elem, n, type, mpi_op(op), comm_));
  }
  if (op == ReduceOp::kAvg) t.div_(world_);
}

void MpiCommunicator::broadcast(torch::Tensor& t, int root) {
  check_tensor(t, "broadcast");
  GREC_CHECK(root >= 0 && root < world_, "broadcast root {} outside world {}", root, world_);
  auto guard = begin("broadcast");
  if (comm_ == MPI_COMM_NULL || world_ == 1) return;
  const MPI_Datatype type = mpi_datatype(t.scalar_type());
  auto* base = static_cast<char*>(t.data_ptr());
  const int64_t elem = t.element_size();
  for (int64_t off = 0; off < t.numel(); off += max_chunk_) {
    const int n = static_cast<int>(std::min(max_chunk_, t.numel() - off));
    MPI_CHECK(MPI_Bcast(base + off * elem, n, type, root, comm_));
  }
}

torch::Tensor MpiCommunicator::allgather(const torch::Tensor& t) {
  GREC_CHECK(t.defined() && t.device().is_cpu(), "allgather: the MPI communicator takes CPU tensors");
  torch::Tensor in = t.contiguous();
  std::vector<int64_t> shape{world_};
  for (int64_t s : in.sizes()) shape.push_back(s);
  torch::Tensor out = torch::empty(shape, in.options());
  auto guard = begin("allgather");
  if (comm_ == MPI_COMM_NULL || world_ == 1) {
    out[0].copy_(in);
    return out;
  }
  const MPI_Datatype type = mpi_datatype(in.scalar_type());
  const int64_t n = in.numel();
  if (n <= max_chunk_) {
    MPI_CHECK(MPI_Allgather(in.data_ptr(), static_cast<int>(n), type, out.data_ptr(),
                            static_cast<int>(n), type, comm_));
    return out;
  }
  // Chunked: gather each slice of the message into a [world, chunk] buffer, then place it.
  torch::Tensor flat_in = in.reshape({-1});
  torch::Tensor flat_out = out.view({world_, n});
  for (int64_t off = 0; off < n; off += max_chunk_) {
    const int64_t c = std::min(max_chunk_, n - off);
    torch::Tensor part = flat_in.narrow(0, off, c).contiguous();
    torch::Tensor tmp = torch::empty({world_, c}, in.options());
    MPI_CHECK(MPI_Allgather(part.data_ptr(), static_cast<int>(c), type, tmp.data_ptr(),
                            static_cast<int>(c), type, comm_));
    flat_out.narrow(1, off, c).copy_(tmp);
  }
  return out;
}

std::vector<std::string> MpiCommunicator::allgather_bytes(const std::string& bytes) {
  auto guard = begin("allgather_bytes");
  if (comm_ == MPI_COMM_NULL || world_ == 1) return {bytes};
  int64_t mine = static_cast<int64_t>(bytes.size());
  std::vector<int64_t> sizes(static_cast<size_t>(world_));
  MPI_CHECK(MPI_Allgather(&mine, 1, MPI_INT64_T, sizes.data(), 1, MPI_INT64_T, comm_));
  std::vector<std::string> out(static_cast<size_t>(world_));
  for (int r = 0; r < world_; ++r) out[r].resize(static_cast<size_t>(sizes[r]));
  // Rounds of MPI_Allgatherv in which every rank sends at most max_chunk / world bytes, so the
  // int counts and displacements of one call never overflow, however large the strings are.
  const int64_t per_rank = std::max<int64_t>(1, max_chunk_ / world_);
  const int64_t longest = *std::max_element(sizes.begin(), sizes.end());
  std::vector<int> counts(static_cast<size_t>(world_)), displs(static_cast<size_t>(world_));
  std::vector<char> recv;
  for (int64_t off = 0; off < longest || off == 0; off += per_rank) {
    int total = 0;
    for (int r = 0; r < world_; ++r) {
      counts[r] = static_cast<int>(std::clamp<int64_t>(sizes[r] - off, 0, per_rank));
      displs[r] = total;
      total += counts[r];
    }
    recv.resize(static_cast<size_t>(std::max(total, 1)));
    const int my_count = counts[rank_];
    MPI_CHECK(MPI_Allgatherv(my_count > 0 ? bytes.data() + off : nullptr, my_count, MPI_CHAR,
                             recv.data(), counts.data(), displs.data(), MPI_CHAR, comm_));
    for (int r = 0; r < world_; ++r) {
      std::copy_n(recv.data() + displs[r], counts[r], out[r].data() + off);
    }
    if (longest == 0) break;
  }
  return out;
}

void MpiCommunicator::barrier() {
  auto guard = begin("barrier");
  if (comm_ == MPI_COMM_NULL || world_ == 1) return;
  MPI_CHECK(MPI_Barrier(comm_));
}

}  // namespace grec::dist
