// libgrec_spm.so: SentencePiece behind the C table of spm_api.h. Built only when libsentencepiece
// is found; loaded at run time by spm_library.cc, never linked into grec.
#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <string>
#include <unordered_map>
#include <vector>

#include "tokenizer/spm/spm_api.h"

struct GrecSpm {
  sentencepiece::SentencePieceProcessor sp;
};

namespace {

int fail(const sentencepiece::util::Status& s, grec_spm_bytes_sink err, void* ctx) {
  const std::string msg = s.ToString();
  if (err) err(ctx, msg.data(), msg.size());
  return 1;
}

int load(const char* model, size_t n, GrecSpm** out, grec_spm_bytes_sink err, void* ctx) {
  auto* h = new GrecSpm();
  const auto s = h->sp.LoadFromSerializedProto(std::string_view(model, n));
  if (!s.ok()) {
    delete h;
    return fail(s, err, ctx);
  }
  *out = h;
  return 0;
}

void free_spm(GrecSpm* h) { delete h; }
int piece_size(const GrecSpm* h) { return h->sp.GetPieceSize(); }

int special_id(const GrecSpm* h, int which) {
  switch (which) {
    case 0: return h->sp.bos_id();
    case 1: return h->sp.eos_id();
    case 2: return h->sp.pad_id();
    case 3: return h->sp.unk_id();
    default: return -1;
  }
}

int is_control(const GrecSpm* h, int id) { return h->sp.IsControl(id) ? 1 : 0; }
int is_unknown(const GrecSpm* h, int id) { return h->sp.IsUnknown(id) ? 1 : 0; }

int piece_to_id(const GrecSpm* h, const char* piece, size_t n) {
  return h->sp.PieceToId(std::string_view(piece, n));
}

void id_to_piece(const GrecSpm* h, int id, grec_spm_bytes_sink out, void* ctx) {
  const std::string& p = h->sp.IdToPiece(id);
  out(ctx, p.data(), p.size());
}

int encode(const GrecSpm* h, const char* text, size_t n, grec_spm_ids_sink out, void* ctx,
           grec_spm_bytes_sink err, void* err_ctx) {
  std::vector<int> ids;
  const auto s = h->sp.Encode(std::string_view(text, n), &ids);
  if (!s.ok()) return fail(s, err, err_ctx);
  out(ctx, ids.data(), ids.size());
  return 0;
}

int decode(const GrecSpm* h, const int* ids, size_t n, grec_spm_bytes_sink out, void* ctx,
           grec_spm_bytes_sink err, void* err_ctx) {
  std::string text;
  const auto s = h->sp.Decode(std::vector<int>(ids, ids + n), &text);
  if (!s.ok()) return fail(s, err, err_ctx);
  out(ctx, text.data(), text.size());
  return 0;
}

class TextIterator : public sentencepiece::SentenceIterator {
 public:
  TextIterator(const char* const* texts, const size_t* lengths, size_t n)
      : texts_(texts), lengths_(lengths), n_(n) { fill(); }
  bool done() const override { return i_ >= n_; }
  void Next() override {
    ++i_;
    fill();
  }
  const std::string& value() const override { return current_; }
  sentencepiece::util::Status status() const override { return {}; }

 private:
  void fill() {
    if (i_ < n_) current_.assign(texts_[i_], lengths_[i_]);
  }
  const char* const* texts_;
  const size_t* lengths_;
  size_t n_, i_ = 0;
  std::string current_;
};

int train(const char* const* texts, const size_t* lengths, size_t n_texts, const char* const* flags,
          size_t n_flags, unsigned seed, grec_spm_bytes_sink err, void* ctx) {
  std::unordered_map<std::string, std::string> args;
  for (size_t i = 0; i + 1 < n_flags; i += 2) args[flags[i]] = flags[i + 1];
  // The generator seed is process-wide in SentencePiece; training is the only user here.
  sentencepiece::SetRandomGeneratorSeed(seed);
  TextIterator it(texts, lengths, n_texts);
  const auto s = sentencepiece::SentencePieceTrainer::Train(args, &it);
  return s.ok() ? 0 : fail(s, err, ctx);
}

}  // namespace

extern "C" __attribute__((visibility("default"))) const GrecSpmApi grec_spm_api = {
    kGrecSpmAbiVersion, load, free_spm, piece_size, special_id, is_control, is_unknown,
    piece_to_id, id_to_piece, encode, decode, train};
