#include "common/base/yaml_json.h"

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <regex>

#include "absl/status/status.h"

namespace kfaas {
namespace {

bool IsNullScalar(const std::string& s) {
  return s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL";
}

Json ResolvePlainScalar(const std::string& s) {
  if (IsNullScalar(s)) return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  static const std::regex kInt("[-+]?[0-9]+");
  static const std::regex kHex("0x[0-9a-fA-F]+");
  static const std::regex kOct("0o[0-7]+");
  static const std::regex kFloat(R"([-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?)");
  if (std::regex_match(s, kInt)) {
    errno = 0;
    char* end = nullptr;
    long long v = std::strtoll(s.c_str(), &end, 10);
    if (errno == 0) return v;
    return std::strtod(s.c_str(), nullptr);
  }
  if (std::regex_match(s, kHex)) return std::strtoll(s.c_str() + 2, nullptr, 16);
  if (std::regex_match(s, kOct)) return std::strtoll(s.c_str() + 2, nullptr, 8);
  if (std::regex_match(s, kFloat)) return std::strtod(s.c_str(), nullptr);
  if (s == ".inf" || s == ".Inf" || s == "+.inf") return std::numeric_limits<double>::infinity();
  if (s == "-.inf" || s == "-.Inf") return -std::numeric_limits<double>::infinity();
  return s;
}

// Aliases let a small document expand into a huge one ("billion laughs"): the conversion may
// produce at most this many nodes plus scalar bytes. Without aliases a document produces at most
// about twice its size, so the budget only stops excessive aliasing.
int64_t ExpansionBudget(std::string_view text) {
  return 4 * static_cast<int64_t>(text.size()) + (64 << 10);
}

// JSON strings must be UTF-8 (serializing one that is not throws): check every scalar.
bool IsValidUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    uint32_t cp = n == 1 ? c : c & (0x7f >> n);
    for (size_t k = 1; k < n; ++k) {
      unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc >> 6) != 0x2) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    // Overlong forms, UTF-16 surrogates and values past U+10FFFF are invalid.
    if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
        (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) {
      return false;
    }
    i += n;
  }
  return true;
}

absl::Status InvalidUtf8(const YAML::Node& node) {
  return absl::InvalidArgumentError("yaml: line " + std::to_string(node.Mark().line + 1) +
                                    ": invalid UTF-8 in a scalar");
}

absl::StatusOr<Json> NodeToJson(const YAML::Node& node, int depth, int64_t* budget) {
  if (depth > 200)
    return absl::InvalidArgumentError("yaml: document nested deeper than 200 levels");
  *budget -= 1 + (node.IsScalar() ? static_cast<int64_t>(node.Scalar().size()) : 0);
  if (*budget < 0) {
    return absl::InvalidArgumentError(
        "yaml: document contains excessive aliasing (it expands to far more than its size)");
  }
  switch (node.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      return Json(nullptr);
    case YAML::NodeType::Scalar: {
      if (!IsValidUtf8(node.Scalar())) return InvalidUtf8(node);
      if (node.Tag() == "!" || node.Tag() == "tag:yaml.org,2002:str") return Json(node.Scalar());
      return ResolvePlainScalar(node.Scalar());
    }
    case YAML::NodeType::Sequence: {
      Json arr = Json::array();
      for (const auto& item : node) {
        auto v = NodeToJson(item, depth + 1, budget);
        if (!v.ok()) return v.status();
        arr.push_back(std::move(*v));
      }
      return arr;
    }
    case YAML::NodeType::Map: {
      Json obj = Json::object();
      for (const auto& kv : node) {
        if (!kv.first.IsScalar()) {
          return absl::InvalidArgumentError("yaml: line " +
                                            std::to_string(kv.first.Mark().line + 1) +
                                            ": mapping keys must be scalars");
        }
        if (!IsValidUtf8(kv.first.Scalar())) return InvalidUtf8(kv.first);
        auto v = NodeToJson(kv.second, depth + 1, budget);
        if (!v.ok()) return v.status();
        obj[kv.first.Scalar()] = std::move(*v);
      }
      return obj;
    }
  }
  return Json(nullptr);
}

absl::Status ParseError(const YAML::Exception& e) {
  if (e.mark.is_null()) return absl::InvalidArgumentError(std::string("yaml: ") + e.msg);
  return absl::InvalidArgumentError("yaml: line " + std::to_string(e.mark.line + 1) + ", column " +
                                    std::to_string(e.mark.column + 1) + ": " + e.msg);
}

void Emit(YAML::Emitter& out, const Json& v) {
  switch (v.type()) {
    case Json::value_t::object:
      out << YAML::BeginMap;
      for (auto it = v.begin(); it != v.end(); ++it) {
        out << YAML::Key << it.key() << YAML::Value;
        Emit(out, it.value());
      }
      out << YAML::EndMap;
      break;
    case Json::value_t::array:
      out << YAML::BeginSeq;
      for (const auto& e : v) Emit(out, e);
      out << YAML::EndSeq;
      break;
    case Json::value_t::string: {
      const std::string& s = v.get_ref<const std::string&>();
      Json resolved = ResolvePlainScalar(s);
      if (!resolved.is_string()) {
        out << YAML::DoubleQuoted << s;
      } else {
        out << s;
      }
      break;
    }
    case Json::value_t::null:
      out << YAML::Null;
      break;
    default:
      out << v.dump();
  }
}

}  // namespace

absl::StatusOr<Json> YamlToJson(std::string_view text) {
  try {
    YAML::Node node = YAML::Load(std::string(text));
    int64_t budget = ExpansionBudget(text);
    return NodeToJson(node, 0, &budget);
  } catch (const YAML::Exception& e) {
    return ParseError(e);
  }
}

absl::StatusOr<std::vector<Json>> YamlDocumentsToJson(std::string_view text) {
  try {
    std::vector<Json> out;
    int64_t budget = ExpansionBudget(text);
    for (const auto& node : YAML::LoadAll(std::string(text))) {
      auto v = NodeToJson(node, 0, &budget);
      if (!v.ok()) return v.status();
      if (!v->is_null()) out.push_back(std::move(*v));
    }
    return out;
  } catch (const YAML::Exception& e) {
    return ParseError(e);
  }
}

std::string JsonToYaml(const Json& value) {
  YAML::Emitter out;
  Emit(out, value);
  std::string s = out.c_str();
  s += '\n';
  return s;
}

}  // namespace kfaas
