// fusionpot LAMMPS plugin: the metadata of an exported model, read from the file's
// metadata.json by the keys fusionpot.export.metadata writes (the one schema), with its
// format and format_version checked as Python checks them.
//
// Standard C++ only (no torch, no LAMMPS), so that tests/test_export.py compiles it on
// its own; fusion_model.cpp includes it.
#pragma once

#include <cctype>
#include <cstdlib>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace fusionpot {

// = fusionpot.export.metadata.METADATA_FILE, FORMAT, FORMAT_VERSION (tests/test_export.py)
constexpr const char *kMetadataFile = "metadata.json";
constexpr const char *kFormat = "fusionpot-torchscript";
constexpr int kFormatVersion = 1;

// What the plugin reads of metadata.json.
struct Metadata {
  int format_version = 0;
  std::vector<std::string> elements;    // species-index order
  double r_max = 0.0;                   // Å
  int n_layers = 0;
  int n_states = 0;
  std::string dtype;                    // "float32" or "float64"
  std::string fusionpot_version;        // of the fusionpot that exported the file
  std::string torch_version;            // of the torch that exported the file
};

namespace detail {

// One JSON value as the plugin needs it: a string, a number (its text), a list of
// strings, or anything else (kept as Other, not read).
struct JsonValue {
  enum Kind { String, Number, StringList, Other } kind = Other;
  std::string text;
  std::vector<std::string> items;
};

// A strict reader of one JSON object (RFC 8259): the members of the top-level object by
// key; nested objects and arrays are checked and skipped (StringList for arrays of
// strings). Throws std::runtime_error naming the position of the first error.
class JsonReader {
 public:
  explicit JsonReader(const std::string &text) : s_(text) {}

  std::map<std::string, JsonValue> object()
  {
    auto members = members_();
    skip_space();
    if (i_ != s_.size()) fail("the end of the text");
    return members;
  }

 private:
  const std::string &s_;
  size_t i_ = 0;

  [[noreturn]] void fail(const std::string &what) const
  {
    throw std::runtime_error("expected " + what + " at character " + std::to_string(i_));
  }
  void skip_space()
  {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
  }
  char peek()
  {
    skip_space();
    if (i_ >= s_.size()) fail("more text");
    return s_[i_];
  }
  void expect(char c)
  {
    if (peek() != c) fail(std::string("'") + c + "'");
    ++i_;
  }

  std::map<std::string, JsonValue> members_()
  {
    std::map<std::string, JsonValue> members;
    expect('{');
    if (peek() == '}') {
      ++i_;
      return members;
    }
    while (true) {
      if (peek() != '"') fail("a key");
      std::string key = string_();
      expect(':');
      members[key] = value_();
      const char c = peek();
      ++i_;
      if (c == '}') return members;
      if (c != ',') fail("',' or '}'");
    }
  }

  JsonValue value_()
  {
    JsonValue value;
    const char c = peek();
    if (c == '"') {
      value.kind = JsonValue::String;
      value.text = string_();
    } else if (c == '{') {
      members_();
    } else if (c == '[') {
      ++i_;
      value.kind = JsonValue::StringList;
      if (peek() == ']') {
        ++i_;
        return value;
      }
      while (true) {
        JsonValue item = value_();
        if (item.kind == JsonValue::String)
          value.items.push_back(item.text);
        else
          value.kind = JsonValue::Other;
        const char d = peek();
        ++i_;
        if (d == ']') break;
        if (d != ',') fail("',' or ']'");
      }
      if (value.kind == JsonValue::Other) value.items.clear();
    } else {    // a number, true, false or null
      const size_t start = i_;
      while (i_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[i_])) ||
                                s_[i_] == '-' || s_[i_] == '+' || s_[i_] == '.'))
        ++i_;
      value.text = s_.substr(start, i_ - start);
      if (value.text.empty()) fail("a value");
      const bool literal = value.text == "true" || value.text == "false" || value.text == "null";
      value.kind = literal ? JsonValue::Other : JsonValue::Number;
    }
    return value;
  }

  std::string string_()
  {
    expect('"');
    std::string out;
    while (true) {
      if (i_ >= s_.size()) fail("'\"'");
      const char c = s_[i_++];
      if (c == '"') return out;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (i_ >= s_.size()) fail("an escape");
      const char e = s_[i_++];
      switch (e) {
        case '"': case '\\': case '/': out += e; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {    // kept as UTF-8 (a surrogate pair as two 3-byte halves: never read)
          if (i_ + 4 > s_.size()) fail("4 hex digits");
          char *end = nullptr;
          const std::string hex = s_.substr(i_, 4);
          const unsigned long code = std::strtoul(hex.c_str(), &end, 16);
          if (end != hex.c_str() + 4) fail("4 hex digits");
          i_ += 4;
          if (code < 0x80) {
            out += static_cast<char>(code);
          } else if (code < 0x800) {
            out += static_cast<char>(0xC0 | (code >> 6));
            out += static_cast<char>(0x80 | (code & 0x3F));
          } else {
            out += static_cast<char>(0xE0 | (code >> 12));
            out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (code & 0x3F));
          }
          break;
        }
        default: fail("an escape");
      }
    }
  }
};

}    // namespace detail

// The checked metadata of the model file `path` from its metadata.json `text` (empty when
// the file has none). Throws std::runtime_error with one line naming the file: not an
// exported fusionpot model, another format_version (expected and found), a missing key.
inline Metadata parse_metadata(const std::string &text, const std::string &path)
{
  using detail::JsonValue;
  const std::string name = "'" + path + "'";
  if (text.empty())
    throw std::runtime_error(name + " is not a fusionpot exported model (no " + kMetadataFile +
                             "): export it with `fusionpot export`");
  std::map<std::string, JsonValue> json;
  try {
    json = detail::JsonReader(text).object();
  } catch (const std::runtime_error &e) {
    throw std::runtime_error(name + ": corrupt " + kMetadataFile + ": " + e.what());
  }
  auto get = [&](const char *key, JsonValue::Kind kind) -> const JsonValue & {
    const auto found = json.find(key);
    if (found == json.end() || found->second.kind != kind)
      throw std::runtime_error(name + ": exported-model metadata lacks '" + key +
                               "' (or it has the wrong type)");
    return found->second;
  };
  auto number = [&](const char *key) {
    const std::string &raw = get(key, JsonValue::Number).text;
    char *end = nullptr;
    const double value = std::strtod(raw.c_str(), &end);
    if (end != raw.c_str() + raw.size())
      throw std::runtime_error(name + ": metadata '" + key + "' is not a number: " + raw);
    return value;
  };
  auto optional_string = [&](const char *key) {
    const auto found = json.find(key);
    return found != json.end() && found->second.kind == JsonValue::String ? found->second.text
                                                                          : std::string("unknown");
  };

  if (get("format", JsonValue::String).text != kFormat)
    throw std::runtime_error(name + " is not a fusionpot exported model (no " + kFormat +
                             " metadata)");
  Metadata metadata;
  const std::string version = get("format_version", JsonValue::Number).text;
  if (version != std::to_string(kFormatVersion))
    throw std::runtime_error(name + " is an exported model of format_version " + version +
                             "; this plugin reads format_version " +
                             std::to_string(kFormatVersion) +
                             ": re-export it, or build the plugin of the fusionpot that wrote it");
  metadata.format_version = kFormatVersion;
  metadata.elements = get("elements", JsonValue::StringList).items;
  metadata.r_max = number("r_max");
  metadata.n_layers = static_cast<int>(number("n_layers"));
  metadata.n_states = static_cast<int>(number("n_states"));
  metadata.dtype = get("dtype", JsonValue::String).text;
  metadata.fusionpot_version = optional_string("fusionpot_version");
  metadata.torch_version = optional_string("torch_version");
  if (!(metadata.r_max > 0.0) || metadata.n_layers < 1 || metadata.n_states < 1 ||
      metadata.elements.empty())
    throw std::runtime_error(name + ": inconsistent metadata (r_max, n_layers, n_states or "
                             "elements)");
  return metadata;
}

}    // namespace fusionpot
