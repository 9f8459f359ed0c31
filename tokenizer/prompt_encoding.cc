// encode_prompt; see prompt_encoding.h.
#include "tokenizer/prompt_encoding.h"

#include "core/error.h"

namespace grec::tok {

std::vector<int64_t> encode_prompt(const TextTokenizer& tokenizer, const std::string& text,
                                   int64_t max_len) {
  std::vector<int64_t> ids = tokenizer.encode(text, false);
  const int64_t bos = tokenizer.bos_id();
  const int64_t room = max_len - (bos >= 0 ? 1 : 0);
  GREC_CHECK(room > 0, "max_len {} leaves no room for a prompt", max_len);
  if (static_cast<int64_t>(ids.size()) > room) ids.erase(ids.begin(), ids.end() - room);
  if (bos >= 0) ids.insert(ids.begin(), bos);
  return ids;
}

}  // namespace grec::tok
