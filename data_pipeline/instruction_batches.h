// Instruction samples as token ids with an exact prompt/response boundary (loss on the
// response only, ALGORITHMS.md §2), and length bucketing so that batches of similar lengths
// waste little padding.
// Torch-free: the tokenizer is passed in as an encode function.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "data_pipeline/instructions.h"

namespace grec::data {

struct TokenizedSample {
  std::vector<int64_t> ids;
  int64_t prompt_len = 0;  // loss on ids[prompt_len..)
};

// ids = [bos] + encode(prompt) + encode(response) + [eos]; prompt and response are encoded
// separately so the boundary is exact. Too long: prompt tokens are dropped from the LEFT (the
// most recent history and the "Response:" cue survive; the BOS stays first). The response is
// never cut (a cut target teaches a wrong ending): when BOS (if any) + response + EOS exceed
// max_len, the sample is left out and counted per task in `*too_long` (e.g. an item title of
// more tokens than max_len as an index2item target), or, with too_long == nullptr, a UserError.
// bos_id < 0 = no BOS.
std::vector<TokenizedSample> tokenize_instructions(
    const std::vector<Instruction>& v,
    const std::function<std::vector<int64_t>(const std::string&)>& encode, int64_t bos_id,
    int64_t eos_id, int64_t max_len, std::map<std::string, int64_t>* too_long = nullptr);

// Batches of sample indices with similar lengths: shuffle (seed), cut into chunks of
// batch_size * chunk_factor, sort each chunk by length, cut into batches (only the very last
// batch may be short), shuffle the batches (seed). Every index appears exactly once.
struct Bucketed {
  std::vector<std::vector<int64_t>> batches;
  double padding_waste = 0;  // padding_waste(lengths, batches)
};
Bucketed bucket_by_length(const std::vector<int64_t>& lengths, int64_t batch_size,
                          int64_t chunk_factor, uint64_t seed);

// Padded slots / all slots, where a batch has rows * (its longest length) slots; 0 when empty.
double padding_waste(const std::vector<int64_t>& lengths,
                     const std::vector<std::vector<int64_t>>& batches);

}  // namespace grec::data
