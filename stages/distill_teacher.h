// The teacher side of stage distill (DLLM2Rec, ALGORITHMS.md §4): for each student training
// position, the aligned LLM's top-K items by trie-constrained beam search with their sequence
// log-probabilities, and one embedding per item from the LLM. Computed once, sharded over ranks,
// and cached in artifacts/distill/teacher.h5.
//
// A sample (user, end) is the history items[0, end) of a training prefix; the teacher predicts the
// item at `end`, the same position the student predicts from the same history. Only training
// positions are asked (end < train_end), and the prompt holds items[0, end) alone, so no list
// depends on a validation or test item. samples "last": each user's last training position
// (end = train_end − 1, the student's last input column); "all": every end in [1, train_end).
//
// Sharding: fixed chunks of `batch_size` samples, chunk c on rank c mod world, each chunk decoded
// alone; so every list is computed in the same batch whatever the number of ranks (2 ranks = 1).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/config.h"
#include "dist/communicator.h"
#include "stages/align_setup.h"

namespace grec::stages {

struct TeacherOptions {
  std::string samples = "last";  // last | all
  int64_t top_k = 10;            // K: the list kept per sample (<= num_beams)
  int64_t num_beams = 20;
  int64_t batch_size = 32;       // samples decoded together
  std::string embedding = "auto";  // text | ids | none | auto (text when most items have text)
  std::string text_field = "title";
  int64_t embed_max_len = 64;    // tokens per item text of the embedding pass
  int64_t max_len = 0;           // the LLM's sequence limit (align.max_len)
};

struct TeacherOutputs {
  std::vector<int64_t> users, ends;  // sample s: history items[0, ends[s]) of users[s]
  int64_t k = 0;
  std::vector<int64_t> items;   // [N, K] dense item ids, best first; -1 = no entry
  std::vector<float> scores;    // [N, K] sequence log-probabilities (0 at no entry)
  std::string embedding;        // "text" | "ids" | "none"
  int64_t emb_dim = 0;
  std::vector<float> item_embedding;  // [num_items, emb_dim], row i = item i
  std::string key;              // what the outputs were computed from (see teacher_key)
  double list_wall_s = 0, embed_wall_s = 0;  // the two passes
  int64_t size() const { return static_cast<int64_t>(users.size()); }
};

// distill.teacher.* -> options (UserError on bad values).
TeacherOptions teacher_options(const Config& config);

// The samples of `dataset` for `samples` ("last" | "all"), ordered by (user, end).
void teacher_samples(const data::Dataset& dataset, const std::string& samples,
                     std::vector<int64_t>* users, std::vector<int64_t>* ends);

// What a teacher file must match: the dataset fingerprint, the aligned model's weights hash and
// the options. Two different runs or configs give different keys.
std::string teacher_key(const std::string& dataset_fingerprint, const std::string& model_dir,
                        const TeacherOptions& options);

// Collective: both passes with the aligned model in `model_dir`. Progress on rank 0.
TeacherOutputs compute_teacher(const ItemIndex& index, const std::string& model_dir,
                               const data::InstructionOptions& instructions,
                               const TeacherOptions& options, dist::Communicator& comm);

// Atomic write (temporary file, then rename) and checked read. read_teacher: UserError naming
// the file when it is not a teacher file, is inconsistent, or its key is not `expected_key`
// ("computed for another dataset, model or teacher config").
void write_teacher(const std::string& path, const TeacherOutputs& t);
TeacherOutputs read_teacher(const std::string& path, const std::string& expected_key);

}  // namespace grec::stages
