// Tokenizer folder JSON files: tokenizer.json / tokenizer_config.json reading and writing.
#include "tokenizer/tokenizer_files.h"

#include <filesystem>

#include "core/error.h"
#include "core/fs.h"

namespace grec::tok {

nlohmann::json read_json_file(const std::string& path) {
  const std::string text = read_file(path);
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    user_error("{} is not valid JSON: {}", path, e.what());
  }
}

nlohmann::json read_tokenizer_config(const std::string& dir) {
  const auto path = std::filesystem::path(dir) / "tokenizer_config.json";
  if (!std::filesystem::exists(path)) return nullptr;
  return read_json_file(path.string());
}

void write_tokenizer_config(const std::string& dir, const nlohmann::json& base,
                            const std::vector<AddedToken>& added, const std::string& tokenizer_class,
                            const std::string& bos, const std::string& eos, const std::string& pad) {
  nlohmann::json c = base.is_object() ? base : nlohmann::json::object();
  nlohmann::json decoder = nlohmann::json::object();
  for (const auto& a : added) {
    nlohmann::json e = a.to_json();
    e.erase("id");
    decoder[std::to_string(a.id)] = e;
  }
  c["added_tokens_decoder"] = decoder;
  if (!c.contains("tokenizer_class")) c["tokenizer_class"] = tokenizer_class;
  if (!bos.empty() && !c.contains("bos_token")) c["bos_token"] = bos;
  if (!eos.empty() && !c.contains("eos_token")) c["eos_token"] = eos;
  if (!pad.empty() && !c.contains("pad_token")) c["pad_token"] = pad;
  make_dirs(dir);
  write_file_atomic((std::filesystem::path(dir) / "tokenizer_config.json").string(),
                    c.dump(2) + "\n");
}

}  // namespace grec::tok
