// The `file` encoder of the embed stage: item embeddings supplied by the user as an HDF5 dataset
// (name configurable) or a .npy matrix, either in item order or keyed by raw item id. Checks the
// shape, the id coverage and NaN/Inf, with errors that name the file. Torch-free.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace grec::data {

struct EmbeddingFileOptions {
  std::string path;
  std::string dataset = "embeddings";  // HDF5 dataset holding the [rows, d] matrix
  bool keyed_by_raw_id = false;
  // Raw ids of the rows when keyed: an HDF5 dataset in the same file (strings or integers), or for
  // .npy a text file with one raw id per line ("" = <path minus .npy>.ids.txt).
  std::string ids = "ids";
};

// A float matrix read from a .npy file (v1-v3, little-endian f4/f8, C order, 2-D).
struct NpyMatrix {
  int64_t rows = 0;
  int64_t cols = 0;
  std::vector<float> data;
};
NpyMatrix read_npy(const std::string& path);
// Writes a float32 C-order .npy (for tests and tools).
void write_npy(const std::string& path, const std::vector<float>& data, int64_t rows, int64_t cols);

// Embeddings [raw_ids.size(), *dim] in item order for the items `raw_ids` (the dataset's). Rows
// of the file not matching any item are ignored when keyed (their count in *unused_rows).
std::vector<float> read_embedding_file(const EmbeddingFileOptions& options,
                                       const std::vector<std::string>& raw_ids, int64_t* dim,
                                       int64_t* unused_rows = nullptr);

}  // namespace grec::data
