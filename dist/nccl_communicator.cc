// NCCL backend. Torch's CUDA headers are not needed (LibTorch here may be CPU-only): tensors are
// touched through data_ptr() and the CUDA runtime API only. stream_ is a blocking stream, so it
// orders itself after work queued on the legacy default stream (LibTorch's default stream).
#include "dist/nccl_communicator.h"

#include <mpi.h>

#include "core/error.h"
#include "dist/mpi_check.h"
#include "dist/mpi_env.h"

namespace grec::dist {

ncclDataType_t nccl_datatype(torch::ScalarType type) {
  switch (type) {
    case torch::kFloat: return ncclFloat32;
    case torch::kDouble: return ncclFloat64;
    case torch::kHalf: return ncclFloat16;
    case torch::kBFloat16: return ncclBfloat16;
    case torch::kLong: return ncclInt64;
    case torch::kInt: return ncclInt32;
    case torch::kChar: return ncclInt8;
    case torch::kByte:
    case torch::kBool: return ncclUint8;
    default: break;
  }
  throw Error(fmt::format("NCCL communicator: unsupported dtype {}", c10::toString(type)));
}

namespace {
ncclRedOp_t nccl_op(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum: return ncclSum;
    case ReduceOp::kAvg: return ncclAvg;
    case ReduceOp::kMax: return ncclMax;
    case ReduceOp::kMin: return ncclMin;
  }
  return ncclSum;
}
}  // namespace

NcclCommunicator::NcclCommunicator(int device_index) : device_(device_index) {
  CUDA_CHECK(cudaSetDevice(device_));
  ncclUniqueId id;
  if (host_.rank() == 0) NCCL_CHECK(ncclGetUniqueId(&id));
  if (MpiEnv::active() && host_.world() > 1) {
    MPI_CHECK(MPI_Bcast(&id, sizeof(id), MPI_BYTE, 0, MPI_COMM_WORLD));
  }
  NCCL_CHECK(ncclCommInitRank(&comm_, host_.world(), id, host_.rank()));
  CUDA_CHECK(cudaStreamCreate(&stream_));
  host_.barrier();
}

NcclCommunicator::~NcclCommunicator() {
  if (comm_ != nullptr) ncclCommDestroy(comm_);
  if (stream_ != nullptr) cudaStreamDestroy(stream_);
}

void NcclCommunicator::check_tensor(const torch::Tensor& t, const char* op) const {
  GREC_CHECK(t.defined(), "{}: undefined tensor", op);
  GREC_CHECK(t.device().is_cuda() && t.device().index() == device_,
             "{}: the NCCL communicator takes tensors on cuda:{}, got {}", op, device_,
             t.device().str());
  GREC_CHECK(t.is_contiguous(), "{}: tensor must be contiguous", op);
}

void NcclCommunicator::finish() { CUDA_CHECK(cudaStreamSynchronize(stream_)); }

void NcclCommunicator::allreduce(torch::Tensor& t, ReduceOp op) {
  check_tensor(t, "allreduce");
  auto guard = begin("allreduce");
  NCCL_CHECK(ncclAllReduce(t.data_ptr(), t.data_ptr(), static_cast<size_t>(t.numel()),
                           nccl_datatype(t.scalar_type()), nccl_op(op), comm_, stream_));
  finish();
}

void NcclCommunicator::broadcast(torch::Tensor& t, int root) {
  check_tensor(t, "broadcast");
  auto guard = begin("broadcast");
  NCCL_CHECK(ncclBroadcast(t.data_ptr(), t.data_ptr(), static_cast<size_t>(t.numel()),
                           nccl_datatype(t.scalar_type()), root, comm_, stream_));
  finish();
}

torch::Tensor NcclCommunicator::allgather(const torch::Tensor& t) {
  torch::Tensor in = t.contiguous();
  check_tensor(in, "allgather");
  std::vector<int64_t> shape{world()};
  for (int64_t s : in.sizes()) shape.push_back(s);
  torch::Tensor out = torch::empty(shape, in.options());
  auto guard = begin("allgather");
  NCCL_CHECK(ncclAllGather(in.data_ptr(), out.data_ptr(), static_cast<size_t>(in.numel()),
                           nccl_datatype(in.scalar_type()), comm_, stream_));
  finish();
  return out;
}

std::vector<std::string> NcclCommunicator::allgather_bytes(const std::string& bytes) {
  auto guard = begin("allgather_bytes");
  return host_.allgather_bytes(bytes);
}

void NcclCommunicator::barrier() {
  auto guard = begin("barrier");
  CUDA_CHECK(cudaDeviceSynchronize());
  host_.barrier();
}

}  // namespace grec::dist
