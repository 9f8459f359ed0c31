// Reading and writing the JSON files of a tokenizer folder (tokenizer.json,
// tokenizer_config.json), shared by the BPE and SentencePiece tokenizers.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tokenizer/added_tokens.h"

namespace grec::tok {

// Parsed JSON; UserError naming the file when it cannot be read or parsed.
nlohmann::json read_json_file(const std::string& path);
// dir/tokenizer_config.json, or null when absent.
nlohmann::json read_tokenizer_config(const std::string& dir);
// Writes dir/tokenizer_config.json: `base` (may be null) with added_tokens_decoder replaced by
// `added`, tokenizer_class set when missing, and bos/eos/pad names set when given and missing.
void write_tokenizer_config(const std::string& dir, const nlohmann::json& base,
                            const std::vector<AddedToken>& added, const std::string& tokenizer_class,
                            const std::string& bos, const std::string& eos, const std::string& pad);

}  // namespace grec::tok
