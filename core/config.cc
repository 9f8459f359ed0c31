// Config loading, checking against the schema, overrides, dump and hash.
#include "core/config.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <yaml-cpp/yaml.h>

#include "core/error.h"
#include "core/hash.h"

namespace grec {

const char* config_type_name(ConfigType type) {
  switch (type) {
    case ConfigType::kBool: return "a bool";
    case ConfigType::kInt: return "an integer";
    case ConfigType::kFloat: return "a float";
    case ConfigType::kString: return "a string";
    case ConfigType::kIntList: return "a list of integers";
    case ConfigType::kFloatList: return "a list of floats";
    case ConfigType::kStringList: return "a list of strings";
  }
  return "?";
}

// ---------------------------------------------------------------------------------------------
// Schema

namespace {

std::string yaml_flow(const YAML::Node& node) {
  YAML::Emitter out;
  out.SetMapFormat(YAML::Flow);
  out.SetSeqFormat(YAML::Flow);
  out << node;
  return out.c_str();
}

template <typename T>
std::string list_yaml(const std::vector<T>& v) {
  YAML::Node n(YAML::NodeType::Sequence);
  for (const auto& x : v) n.push_back(fmt::format("{}", x));
  return yaml_flow(n);
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

}  // namespace

ConfigSchema& ConfigSchema::add(ConfigKey key) {
  GREC_CHECK(!key.path.empty(), "empty config key");
  auto it = index_.find(key.path);
  if (it != index_.end()) {
    // Declaring the same key twice is fine when it is the same declaration (shared sections).
    const ConfigKey& old = keys_[it->second];
    GREC_CHECK(old.type == key.type && old.default_yaml == key.default_yaml,
               "config key '{}' declared twice with different types or defaults", key.path);
    return *this;
  }
  index_[key.path] = keys_.size();
  keys_.push_back(std::move(key));
  return *this;
}

ConfigSchema& ConfigSchema::inherit(const std::string& section, const std::string& from) {
  GREC_CHECK(is_section(section) && is_section(from) && section != from,
             "inherit('{}', '{}'): both must be declared sections, and different", section, from);
  inherits_.emplace_back(section, from);
  return *this;
}

std::string ConfigSchema::inherited_from(const std::string& path) const {
  const ConfigKey* key = find(path);
  if (key == nullptr) return "";
  for (const auto& [section, from] : inherits_) {
    if (path.rfind(section + ".", 0) != 0) continue;
    const std::string source = from + path.substr(section.size());
    const ConfigKey* src = find(source);
    if (src != nullptr && src->type == key->type) return source;
  }
  return "";
}

ConfigSchema& ConfigSchema::add_bool(const std::string& p, bool def, const std::string& doc) {
  return add({p, ConfigType::kBool, def ? "true" : "false", false, doc, {}});
}
ConfigSchema& ConfigSchema::add_int(const std::string& p, int64_t def, const std::string& doc) {
  return add({p, ConfigType::kInt, std::to_string(def), false, doc, {}});
}
ConfigSchema& ConfigSchema::add_float(const std::string& p, double def, const std::string& doc) {
  return add({p, ConfigType::kFloat, fmt::format("{}", def), false, doc, {}});
}
ConfigSchema& ConfigSchema::add_string(const std::string& p, const std::string& def,
                                       const std::string& doc) {
  return add({p, ConfigType::kString, yaml_flow(YAML::Node(def)), false, doc, {}});
}
ConfigSchema& ConfigSchema::add_choice(const std::string& p, const std::string& def,
                                       const std::vector<std::string>& choices,
                                       const std::string& doc) {
  GREC_CHECK(std::find(choices.begin(), choices.end(), def) != choices.end(),
             "default '{}' of '{}' is not among its choices", def, p);
  return add({p, ConfigType::kString, yaml_flow(YAML::Node(def)), false, doc, choices});
}
ConfigSchema& ConfigSchema::add_int_list(const std::string& p, const std::vector<int64_t>& def,
                                         const std::string& doc) {
  return add({p, ConfigType::kIntList, list_yaml(def), false, doc, {}});
}
ConfigSchema& ConfigSchema::add_float_list(const std::string& p, const std::vector<double>& def,
                                           const std::string& doc) {
  return add({p, ConfigType::kFloatList, list_yaml(def), false, doc, {}});
}
ConfigSchema& ConfigSchema::add_string_list(const std::string& p,
                                            const std::vector<std::string>& def,
                                            const std::string& doc) {
  return add({p, ConfigType::kStringList, list_yaml(def), false, doc, {}});
}
ConfigSchema& ConfigSchema::add_required(const std::string& p, ConfigType type,
                                         const std::string& doc) {
  return add({p, type, "", true, doc, {}});
}

const ConfigKey* ConfigSchema::find(const std::string& path) const {
  auto it = index_.find(path);
  return it == index_.end() ? nullptr : &keys_[it->second];
}

bool ConfigSchema::is_section(const std::string& path) const {
  const std::string prefix = path + ".";
  auto it = index_.lower_bound(prefix);
  return it != index_.end() && it->first.compare(0, prefix.size(), prefix) == 0;
}

std::string ConfigSchema::closest(const std::string& path) const {
  std::string best;
  size_t best_d = std::max<size_t>(2, path.size() / 3) + 1;
  for (const auto& k : keys_) {
    // Compare against the key and against each of its sections of the same depth.
    const auto depth = std::count(path.begin(), path.end(), '.');
    std::string candidate = k.path;
    size_t pos = 0;
    for (int64_t d = 0; d <= depth && pos != std::string::npos; ++d) {
      pos = candidate.find('.', pos == 0 && d == 0 ? 0 : pos + 1);
    }
    if (pos != std::string::npos) candidate = candidate.substr(0, pos);
    size_t d = edit_distance(path, candidate);
    if (d < best_d) {
      best_d = d;
      best = candidate;
    }
  }
  return best;
}

// ---------------------------------------------------------------------------------------------
// Config

constexpr const char* kInherited = "inherited from ";

struct Config::Impl {
  std::shared_ptr<const ConfigSchema> schema;
  std::map<std::string, YAML::Node> values;  // normalised values of keys that were given
  std::map<std::string, std::string> origins;
  std::string source;

  void load_file(const std::string& file, std::set<std::string>& visiting);
  void load_node(const YAML::Node& root, const std::string& origin_file,
                 const std::string& base_dir, std::set<std::string>& visiting);
  void walk(const YAML::Node& node, const std::string& prefix, const std::string& file);
  void set(const std::string& path, const YAML::Node& node, const std::string& origin);
  void apply_override(const std::string& text);
  void finish() const;
  const YAML::Node& value(const std::string& path, ConfigType want) const;
};

namespace {

std::string describe(const YAML::Node& node) {
  if (!node.IsDefined() || node.IsNull()) return "null";
  if (node.IsScalar()) return node.Scalar();
  return yaml_flow(node);
}

bool parse_int(const std::string& s, int64_t* out) {
  const char* b = s.data();
  const char* e = s.data() + s.size();
  auto r = std::from_chars(b, e, *out);
  return r.ec == std::errc() && r.ptr == e && !s.empty();
}

bool parse_float(const std::string& s, double* out) {
  if (s.empty()) return false;
  std::string t = s;
  if (t == ".inf" || t == "+.inf") t = "inf";
  if (t == "-.inf") t = "-inf";
  if (t == ".nan") t = "nan";
  char* end = nullptr;
  errno = 0;
  *out = std::strtod(t.c_str(), &end);
  return end == t.c_str() + t.size() && errno != ERANGE;
}

bool parse_bool(const std::string& s, bool* out) {
  static const char* kTrue[] = {"true", "True", "TRUE", "yes", "Yes", "on", "On"};
  static const char* kFalse[] = {"false", "False", "FALSE", "no", "No", "off", "Off"};
  for (const char* t : kTrue)
    if (s == t) return *out = true, true;
  for (const char* f : kFalse)
    if (s == f) return *out = false, true;
  return false;
}

// Checks one scalar against a scalar type and returns its canonical text, or false.
bool normalise_scalar(ConfigType type, const YAML::Node& n, std::string* out) {
  if (type == ConfigType::kString) {
    if (n.IsNull()) return *out = "", true;
    if (!n.IsScalar()) return false;
    *out = n.Scalar();
    return true;
  }
  if (!n.IsScalar()) return false;
  const std::string& s = n.Scalar();
  switch (type) {
    case ConfigType::kBool: {
      bool b;
      if (!parse_bool(s, &b)) return false;
      *out = b ? "true" : "false";
      return true;
    }
    case ConfigType::kInt: {
      int64_t i;
      if (!parse_int(s, &i)) return false;
      *out = std::to_string(i);
      return true;
    }
    case ConfigType::kFloat: {
      double d;
      if (!parse_float(s, &d)) return false;
      *out = fmt::format("{}", d);
      return true;
    }
    default: return false;
  }
}

ConfigType element_type(ConfigType list) {
  switch (list) {
    case ConfigType::kIntList: return ConfigType::kInt;
    case ConfigType::kFloatList: return ConfigType::kFloat;
    default: return ConfigType::kString;
  }
}

bool is_list(ConfigType t) {
  return t == ConfigType::kIntList || t == ConfigType::kFloatList || t == ConfigType::kStringList;
}

std::string where(const std::string& origin) { return origin.empty() ? "" : " (" + origin + ")"; }

}  // namespace

void Config::Impl::set(const std::string& path, const YAML::Node& node,
                       const std::string& origin) {
  const ConfigKey* key = schema->find(path);
  GREC_CHECK(key != nullptr, "set() on undeclared key '{}'", path);
  auto type_error = [&]() {
    user_error("config key '{}' expects {}, got '{}'{}", path, config_type_name(key->type),
               describe(node), where(origin));
  };
  YAML::Node norm;
  if (is_list(key->type)) {
    if (!node.IsSequence()) type_error();
    norm = YAML::Node(YAML::NodeType::Sequence);
    for (const auto& el : node) {
      std::string s;
      if (!normalise_scalar(element_type(key->type), el, &s)) type_error();
      norm.push_back(s);
    }
  } else {
    std::string s;
    if (!normalise_scalar(key->type, node, &s)) type_error();
    if (!key->choices.empty() &&
        std::find(key->choices.begin(), key->choices.end(), s) == key->choices.end()) {
      user_error("config key '{}' must be one of {}, got '{}'{}", path,
                 fmt::format("{}", fmt::join(key->choices, ", ")), s, where(origin));
    }
    norm = YAML::Node(s);
  }
  // Inherited values are cached on first read; a new value anywhere may change them.
  for (auto it = origins.begin(); it != origins.end();) {
    if (it->second.rfind(kInherited, 0) == 0) {
      values.erase(it->first);
      it = origins.erase(it);
    } else {
      ++it;
    }
  }
  values[path] = norm;
  origins[path] = origin;
}

void Config::Impl::walk(const YAML::Node& node, const std::string& prefix,
                        const std::string& file) {
  for (const auto& kv : node) {
    const std::string name = kv.first.Scalar();
    const std::string path = prefix.empty() ? name : prefix + "." + name;
    const std::string origin = fmt::format("{}:{}", file, kv.first.Mark().line + 1);
    if (prefix.empty() && name == "base") continue;
    if (schema->find(path)) {
      set(path, kv.second, origin);
    } else if (schema->is_section(path)) {
      if (kv.second.IsNull()) continue;  // an empty section
      if (!kv.second.IsMap()) {
        user_error("config key '{}' is a section and expects a mapping, got '{}' ({})", path,
                   describe(kv.second), origin);
      }
      walk(kv.second, path, file);
    } else {
      std::string hint = schema->closest(path);
      user_error("unknown config key '{}' ({}){}", path, origin,
                 hint.empty() ? "" : fmt::format("; did you mean '{}'?", hint));
    }
  }
}

void Config::Impl::load_node(const YAML::Node& root, const std::string& origin_file,
                             const std::string& base_dir, std::set<std::string>& visiting) {
  if (!root.IsDefined() || root.IsNull()) return;
  if (!root.IsMap()) user_error("{}: a config must be a YAML mapping of keys", origin_file);
  if (const YAML::Node base = root["base"]) {
    if (!base.IsScalar()) {
      user_error("{}:{}: 'base' expects a file name", origin_file, base.Mark().line + 1);
    }
    namespace fs = std::filesystem;
    fs::path p = base.Scalar();
    if (p.is_relative()) p = fs::path(base_dir) / p;
    load_file(p.lexically_normal().string(), visiting);
  }
  walk(root, "", origin_file);
}

void Config::Impl::load_file(const std::string& file, std::set<std::string>& visiting) {
  namespace fs = std::filesystem;
  if (!fs::exists(file)) user_error("config file '{}' does not exist", file);
  const std::string canon = fs::weakly_canonical(file).string();
  if (visiting.count(canon)) user_error("config '{}' extends itself through 'base'", file);
  visiting.insert(canon);
  YAML::Node root;
  try {
    root = YAML::LoadFile(file);
  } catch (const YAML::ParserException& e) {
    user_error("{}:{}: YAML syntax error: {}", file, e.mark.line + 1, e.msg);
  }
  load_node(root, file, fs::path(file).parent_path().string(), visiting);
  visiting.erase(canon);
}

void Config::Impl::apply_override(const std::string& text) {
  const auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0) {
    user_error("--set expects key.sub=value, got '{}'", text);
  }
  const std::string path = text.substr(0, eq);
  const std::string value = text.substr(eq + 1);
  const std::string origin = "--set " + text;
  if (!schema->find(path)) {
    std::string hint = schema->closest(path);
    user_error("unknown config key '{}' ({}){}", path, origin,
               hint.empty() ? "" : fmt::format("; did you mean '{}'?", hint));
  }
  YAML::Node node;
  try {
    node = value.empty() ? YAML::Node() : YAML::Load(value);
  } catch (const YAML::ParserException& e) {
    user_error("{}: cannot parse the value: {}", origin, e.msg);
  }
  set(path, node, origin);
}

void Config::Impl::finish() const {
  for (const auto& k : schema->keys()) {
    if (k.required && !values.count(k.path)) {
      user_error("missing required config key '{}' ({})", k.path, k.doc);
    }
  }
}

const YAML::Node& Config::Impl::value(const std::string& path, ConfigType want) const {
  const ConfigKey* key = schema->find(path);
  GREC_CHECK(key != nullptr, "undeclared config key '{}'", path);
  GREC_CHECK(key->type == want, "config key '{}' is {}, read as {}", path,
             config_type_name(key->type), config_type_name(want));
  auto it = values.find(path);
  if (it != values.end()) return it->second;
  GREC_CHECK(!key->required, "required key '{}' has no value", path);
  auto* self = const_cast<Impl*>(this);
  const std::string from = schema->inherited_from(path);
  if (!from.empty()) {
    YAML::Node v = YAML::Clone(value(from, want));
    const auto o = origins.find(from);
    self->origins[path] = fmt::format("{}'{}' ({})", kInherited, from,
                                      o == origins.end() ? "default" : o->second);
    return self->values[path] = v;
  }
  // Defaults are stored lazily: parse the declared default once.
  YAML::Node def = YAML::Load(key->default_yaml);
  YAML::Node norm;
  if (is_list(key->type)) {
    norm = YAML::Node(YAML::NodeType::Sequence);
    for (const auto& el : def) norm.push_back(el.Scalar());
  } else {
    norm = YAML::Node(def.IsNull() ? std::string() : def.Scalar());
  }
  self->values[path] = norm;
  self->origins[path] = "default";
  return self->values[path];
}

Config::Config() : impl_(std::make_unique<Impl>()) {}
Config::~Config() = default;
Config::Config(const Config& o) : impl_(std::make_unique<Impl>(*o.impl_)) {}
Config& Config::operator=(const Config& o) {
  if (this != &o) impl_ = std::make_unique<Impl>(*o.impl_);
  return *this;
}
Config::Config(Config&&) noexcept = default;
Config& Config::operator=(Config&&) noexcept = default;

Config Config::load(const ConfigSchema& schema, const std::string& file,
                    const std::vector<std::string>& overrides) {
  Config c;
  c.impl_->schema = std::make_shared<const ConfigSchema>(schema);
  c.impl_->source = file;
  std::set<std::string> visiting;
  c.impl_->load_file(file, visiting);
  for (const auto& o : overrides) c.impl_->apply_override(o);
  c.impl_->finish();
  return c;
}

Config Config::parse(const ConfigSchema& schema, const std::string& yaml_text,
                     const std::string& origin, const std::vector<std::string>& overrides,
                     const std::string& base_dir) {
  Config c;
  c.impl_->schema = std::make_shared<const ConfigSchema>(schema);
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::ParserException& e) {
    user_error("{}:{}: YAML syntax error: {}", origin, e.mark.line + 1, e.msg);
  }
  std::set<std::string> visiting;
  c.impl_->load_node(root, origin, base_dir, visiting);
  for (const auto& o : overrides) c.impl_->apply_override(o);
  c.impl_->finish();
  return c;
}

Config Config::with(const std::string& path, const std::string& yaml_value) const {
  Config c(*this);
  c.impl_->apply_override(path + "=" + yaml_value);
  return c;
}

bool Config::get_bool(const std::string& path) const {
  return impl_->value(path, ConfigType::kBool).Scalar() == "true";
}
int64_t Config::get_int(const std::string& path) const {
  return std::stoll(impl_->value(path, ConfigType::kInt).Scalar());
}
double Config::get_float(const std::string& path) const {
  double d = 0;
  parse_float(impl_->value(path, ConfigType::kFloat).Scalar(), &d);
  return d;
}
std::string Config::get_string(const std::string& path) const {
  return impl_->value(path, ConfigType::kString).Scalar();
}
std::vector<int64_t> Config::get_int_list(const std::string& path) const {
  std::vector<int64_t> out;
  for (const auto& n : impl_->value(path, ConfigType::kIntList)) out.push_back(std::stoll(n.Scalar()));
  return out;
}
std::vector<double> Config::get_float_list(const std::string& path) const {
  std::vector<double> out;
  for (const auto& n : impl_->value(path, ConfigType::kFloatList)) {
    double d = 0;
    parse_float(n.Scalar(), &d);
    out.push_back(d);
  }
  return out;
}
std::vector<std::string> Config::get_string_list(const std::string& path) const {
  std::vector<std::string> out;
  for (const auto& n : impl_->value(path, ConfigType::kStringList)) out.push_back(n.Scalar());
  return out;
}

std::string Config::origin(const std::string& path) const {
  auto it = impl_->origins.find(path);
  return it == impl_->origins.end() ? "default" : it->second;
}

bool Config::is_set(const std::string& path) const {
  auto it = impl_->origins.find(path);
  return it != impl_->origins.end() && it->second != "default" &&
         it->second.rfind(kInherited, 0) != 0;
}

const std::string& Config::source() const { return impl_->source; }

std::string Config::dump(const std::vector<std::string>& prefixes) const {
  YAML::Node root(YAML::NodeType::Map);
  for (const auto& k : impl_->schema->keys()) {
    if (!prefixes.empty()) {
      bool keep = false;
      for (const auto& p : prefixes) keep |= k.path == p || k.path.rfind(p + ".", 0) == 0;
      if (!keep) continue;
    }
    const YAML::Node& v = impl_->value(k.path, k.type);
    // Walk/create the nested maps for the dotted path.
    std::vector<std::string> parts;
    size_t start = 0;
    for (size_t dot; (dot = k.path.find('.', start)) != std::string::npos; start = dot + 1) {
      parts.push_back(k.path.substr(start, dot - start));
    }
    parts.push_back(k.path.substr(start));
    std::vector<YAML::Node> chain{root};
    for (size_t i = 0; i + 1 < parts.size(); ++i) {
      YAML::Node child = chain.back()[parts[i]];
      if (!child.IsMap()) chain.back()[parts[i]] = YAML::Node(YAML::NodeType::Map);
      chain.push_back(chain.back()[parts[i]]);
    }
    YAML::Node leaf = YAML::Clone(v);
    if (is_list(k.type)) leaf.SetStyle(YAML::EmitterStyle::Flow);
    chain.back()[parts.back()] = leaf;
  }
  YAML::Emitter out;
  out << root;
  return std::string(out.c_str()) + "\n";
}

std::string Config::hash(const std::vector<std::string>& prefixes) const {
  return hex64(fnv1a64(dump(prefixes)));
}

}  // namespace grec
