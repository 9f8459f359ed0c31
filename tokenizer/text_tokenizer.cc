// load_tokenizer: picks the tokenizer implementation from the files of a model folder.
#include "tokenizer/text_tokenizer.h"

#include <filesystem>

#include "core/error.h"
#include "tokenizer/bpe_tokenizer.h"
#include "tokenizer/sentencepiece_tokenizer.h"

namespace grec::tok {

std::unique_ptr<TextTokenizer> load_tokenizer(const std::string& dir) {
  namespace fs = std::filesystem;
  if (fs::exists(fs::path(dir) / "tokenizer.json")) return BpeTokenizer::load(dir);
  if (fs::exists(fs::path(dir) / "tokenizer.model")) return SentencePieceTokenizer::load(dir);
  user_error("{} has neither tokenizer.json nor tokenizer.model", dir);
}

}  // namespace grec::tok
