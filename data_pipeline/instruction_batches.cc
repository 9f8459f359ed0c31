// Tokenized instruction samples and length bucketing (see instruction_batches.h).
#include "data_pipeline/instruction_batches.h"

#include <algorithm>

#include "core/error.h"
#include "data_pipeline/sequence_batches.h"  // SampleRng

namespace grec::data {
namespace {

// Fisher-Yates with our own generator: std::shuffle differs between standard libraries.
template <typename T>
void shuffle_in_place(std::vector<T>& v, SampleRng& rng) {
  for (int64_t i = int64_t(v.size()) - 1; i > 0; --i) std::swap(v[i], v[rng.uniform(i + 1)]);
}

}  // namespace

std::vector<TokenizedSample> tokenize_instructions(
    const std::vector<Instruction>& v,
    const std::function<std::vector<int64_t>(const std::string&)>& encode, int64_t bos_id,
    int64_t eos_id, int64_t max_len, std::map<std::string, int64_t>* too_long) {
  if (max_len < 1) user_error("instruction max_len must be >= 1 (got {})", max_len);
  if (eos_id < 0) user_error("tokenize_instructions needs an EOS id (got {})", eos_id);
  const int64_t bos = bos_id >= 0 ? 1 : 0;
  std::vector<TokenizedSample> out;
  out.reserve(v.size());
  for (size_t s = 0; s < v.size(); ++s) {
    const std::vector<int64_t> prompt = encode(v[s].prompt), response = encode(v[s].response);
    const int64_t r = int64_t(response.size()) + 1;  // + EOS
    if (bos + r > max_len) {
      if (too_long != nullptr) {
        ++(*too_long)[v[s].task];
        continue;
      }
      user_error("instruction {} ({}): its response is {} tokens with EOS{}, more than max_len {}",
                 s, v[s].task, r, bos ? " and BOS" : "", max_len);
    }
    const int64_t keep = std::min<int64_t>(int64_t(prompt.size()), max_len - bos - r);
    TokenizedSample t;
    t.ids.reserve(size_t(bos + keep + r));
    if (bos) t.ids.push_back(bos_id);
    t.ids.insert(t.ids.end(), prompt.end() - keep, prompt.end());
    t.prompt_len = int64_t(t.ids.size());
    t.ids.insert(t.ids.end(), response.begin(), response.end());
    t.ids.push_back(eos_id);
    out.push_back(std::move(t));
  }
  return out;
}

Bucketed bucket_by_length(const std::vector<int64_t>& lengths, int64_t batch_size,
                          int64_t chunk_factor, uint64_t seed) {
  if (batch_size < 1) user_error("batch_size must be >= 1 (got {})", batch_size);
  if (chunk_factor < 1) user_error("bucketing chunk_factor must be >= 1 (got {})", chunk_factor);
  const int64_t n = int64_t(lengths.size());
  std::vector<int64_t> order(n);
  for (int64_t i = 0; i < n; ++i) order[i] = i;
  SampleRng rng(seed ^ 0x6275636b6574ULL);  // a stream apart from other users of the same seed
  shuffle_in_place(order, rng);
  // Sorting within a chunk, not globally, keeps batches random across epochs while grouping
  // similar lengths; every chunk but the last is a whole number of batches.
  const int64_t chunk = batch_size * chunk_factor;
  Bucketed b;
  for (int64_t c0 = 0; c0 < n; c0 += chunk) {
    const auto first = order.begin() + c0, last = order.begin() + std::min(n, c0 + chunk);
    std::stable_sort(first, last, [&](int64_t x, int64_t y) { return lengths[x] < lengths[y]; });
    for (auto it = first; it < last; it += std::min<int64_t>(batch_size, last - it)) {
      b.batches.emplace_back(it, it + std::min<int64_t>(batch_size, last - it));
    }
  }
  shuffle_in_place(b.batches, rng);
  b.padding_waste = padding_waste(lengths, b.batches);
  return b;
}

double padding_waste(const std::vector<int64_t>& lengths,
                     const std::vector<std::vector<int64_t>>& batches) {
  double padded = 0, slots = 0;
  for (const auto& batch : batches) {
    int64_t longest = 0, used = 0;
    for (int64_t i : batch) {
      if (i < 0 || i >= int64_t(lengths.size())) {
        user_error("batch index {} out of range [0, {})", i, lengths.size());
      }
      if (lengths[i] < 0) user_error("sample {} has a negative length {}", i, lengths[i]);
      longest = std::max(longest, lengths[i]);
      used += lengths[i];
    }
    slots += double(longest) * double(batch.size());
    padded += double(longest) * double(batch.size()) - double(used);
  }
  return slots > 0 ? padded / slots : 0.0;
}

}  // namespace grec::data
