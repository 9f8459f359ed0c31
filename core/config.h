// Configuration: a YAML tree checked against a schema whose defaults are declared in code next to
// the code that uses them. Sources, in order of precedence: `--set key.sub=value` overrides, the
// config file, the files it extends (`base: other.yaml`), the schema defaults.
//
// Errors are user errors that name the key and where it came from:
//   unknown config key 'sasrec.trian' (configs/x.yaml:12); did you mean 'sasrec.train'?
//   config key 'sasrec.train.lr' expects a float, got 'fast' (configs/x.yaml:14)
//   missing required config key 'ingest.input' (path of the raw data)
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace grec {

enum class ConfigType { kBool, kInt, kFloat, kString, kIntList, kFloatList, kStringList };
const char* config_type_name(ConfigType type);

// One declared key. `default_yaml` is the default as YAML text (empty for required keys).
struct ConfigKey {
  std::string path;
  ConfigType type;
  std::string default_yaml;
  bool required = false;
  std::string doc;
  std::vector<std::string> choices;  // allowed values of a string key; empty = any
};

class ConfigSchema {
 public:
  ConfigSchema& add_bool(const std::string& path, bool def, const std::string& doc);
  ConfigSchema& add_int(const std::string& path, int64_t def, const std::string& doc);
  ConfigSchema& add_float(const std::string& path, double def, const std::string& doc);
  ConfigSchema& add_string(const std::string& path, const std::string& def, const std::string& doc);
  // A string restricted to `choices` (the default must be one of them).
  ConfigSchema& add_choice(const std::string& path, const std::string& def,
                           const std::vector<std::string>& choices, const std::string& doc);
  ConfigSchema& add_int_list(const std::string& path, const std::vector<int64_t>& def,
                             const std::string& doc);
  ConfigSchema& add_float_list(const std::string& path, const std::vector<double>& def,
                               const std::string& doc);
  ConfigSchema& add_string_list(const std::string& path, const std::vector<std::string>& def,
                                const std::string& doc);
  ConfigSchema& add_required(const std::string& path, ConfigType type, const std::string& doc);
  // Keys under `section` that no file or override sets take the value of the same key under
  // `from` (set or default) instead of their own default: "distill.train" from "sasrec.train".
  // The resolved dump holds the inherited values, so a resolved config reproduces the run.
  ConfigSchema& inherit(const std::string& section, const std::string& from);
  // The key `path` inherits from ("" when none): same suffix under `from`, same type.
  std::string inherited_from(const std::string& path) const;

  // nullptr when `path` is not a declared key.
  const ConfigKey* find(const std::string& path) const;
  // True when `path` is a section: a strict prefix of some declared key ("sasrec.train").
  bool is_section(const std::string& path) const;
  const std::vector<ConfigKey>& keys() const { return keys_; }
  // The declared key closest to `path` by edit distance (for "did you mean").
  std::string closest(const std::string& path) const;

 private:
  ConfigSchema& add(ConfigKey key);
  std::vector<ConfigKey> keys_;
  std::map<std::string, size_t> index_;
  std::vector<std::pair<std::string, std::string>> inherits_;  // (section, from)
};

class Config {
 public:
  Config();
  ~Config();
  Config(const Config&);
  Config& operator=(const Config&);
  Config(Config&&) noexcept;
  Config& operator=(Config&&) noexcept;

  // Loads `file` (following `base:`), applies `overrides` ("key.sub=value", value parsed as YAML),
  // fills defaults and checks required keys.
  static Config load(const ConfigSchema& schema, const std::string& file,
                     const std::vector<std::string>& overrides = {});
  // Same from YAML text; `origin` names it in messages (e.g. "<demo.yaml>").
  static Config parse(const ConfigSchema& schema, const std::string& yaml_text,
                      const std::string& origin, const std::vector<std::string>& overrides = {},
                      const std::string& base_dir = ".");

  bool get_bool(const std::string& path) const;
  int64_t get_int(const std::string& path) const;
  double get_float(const std::string& path) const;
  std::string get_string(const std::string& path) const;
  std::vector<int64_t> get_int_list(const std::string& path) const;
  std::vector<double> get_float_list(const std::string& path) const;
  std::vector<std::string> get_string_list(const std::string& path) const;

  // Where the value came from: "configs/x.yaml:12", "--set", "default", or
  // "inherited from 'sasrec.train.lr' (default)".
  std::string origin(const std::string& path) const;
  // True when the value was given by a file or an override rather than a default (own or
  // inherited).
  bool is_set(const std::string& path) const;

  // The resolved tree as YAML, every key present, in declaration order. With `prefixes`, only
  // the keys under them.
  std::string dump(const std::vector<std::string>& prefixes = {}) const;
  // Stable 16-hex-digit hash of dump(prefixes).
  std::string hash(const std::vector<std::string>& prefixes = {}) const;
  // The file the config was loaded from ("" when parsed from text).
  const std::string& source() const;

  // A copy with one more override applied (same rules as --set).
  Config with(const std::string& path, const std::string& yaml_value) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace grec
