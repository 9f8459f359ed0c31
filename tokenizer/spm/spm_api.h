// The C interface of grec's SentencePiece module (libgrec_spm.so). The module is the only code that
// links libsentencepiece: Debian's build carries its own copy of protobuf, whose symbols clash with
// the protobuf LibTorch loads, so grec loads the module into a link-map namespace of
// its own (dlmopen, spm_library.h) and talks to it through these plain-C functions only.
#pragma once

#include <stddef.h>

extern "C" {

// Receives strings and id lists produced by the module; ctx is the caller's.
typedef void (*grec_spm_bytes_sink)(void* ctx, const char* data, size_t n);
typedef void (*grec_spm_ids_sink)(void* ctx, const int* ids, size_t n);

typedef struct GrecSpm GrecSpm;  // an opaque loaded SentencePieceProcessor

// The table the module exports as `grec_spm_api` (one symbol: nothing else is looked up).
// Functions that can fail return 0 on success and report the message through `err`.
typedef struct GrecSpmApi {
  int abi_version;  // kGrecSpmAbiVersion
  int (*load)(const char* model, size_t n, GrecSpm** out, grec_spm_bytes_sink err, void* ctx);
  void (*free)(GrecSpm* sp);
  int (*piece_size)(const GrecSpm* sp);
  // which: 0 bos, 1 eos, 2 pad, 3 unk; -1 when the model has none.
  int (*special_id)(const GrecSpm* sp, int which);
  int (*is_control)(const GrecSpm* sp, int id);
  int (*is_unknown)(const GrecSpm* sp, int id);
  int (*piece_to_id)(const GrecSpm* sp, const char* piece, size_t n);
  void (*id_to_piece)(const GrecSpm* sp, int id, grec_spm_bytes_sink out, void* ctx);
  int (*encode)(const GrecSpm* sp, const char* text, size_t n, grec_spm_ids_sink out, void* ctx,
                grec_spm_bytes_sink err, void* err_ctx);
  int (*decode)(const GrecSpm* sp, const int* ids, size_t n, grec_spm_bytes_sink out, void* ctx,
                grec_spm_bytes_sink err, void* err_ctx);
  // Trains on `texts` with trainer flags given as alternating key, value strings; the model is
  // written by SentencePiece to <model_prefix>.model.
  int (*train)(const char* const* texts, const size_t* lengths, size_t n_texts,
               const char* const* flags, size_t n_flags, unsigned seed, grec_spm_bytes_sink err,
               void* ctx);
} GrecSpmApi;

}  // extern "C"

constexpr int kGrecSpmAbiVersion = 1;
