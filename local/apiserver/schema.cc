#include "local/apiserver/schema.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <set>

#include <re2/re2.h>

#include "common/base/time_format.h"
#include "common/kube/selector.h"
#include "local/apiserver/go_format.h"

namespace kfaas::local {
namespace {

// Schemas nested deeper than this are refused by CheckStructural and not followed further by
// ProcessObject: every recursion here follows the schema, so this bounds the stack.
constexpr int kMaxDepth = 100;

const Json& EmptySchema() {
  static const Json* empty = new Json(Json::object());
  return *empty;
}

// ---- tolerant schema accessors (a schema may be malformed; nothing here throws) ----

const Json* Get(const Json& s, const char* key) {
  if (!s.is_object()) return nullptr;
  auto it = s.find(key);
  return it == s.end() ? nullptr : &*it;
}
bool Flag(const Json& s, const char* key) {
  const Json* v = Get(s, key);
  return v && v->is_boolean() && v->get<bool>();
}
std::string Str(const Json& s, const char* key) {
  const Json* v = Get(s, key);
  return v && v->is_string() ? v->get<std::string>() : "";
}
const Json* Properties(const Json& s) {
  const Json* p = Get(s, "properties");
  return p && p->is_object() ? p : nullptr;
}
// The schema of property `k`, or nullptr when `s` does not declare it.
const Json* Prop(const Json& s, const std::string& k) {
  const Json* p = Properties(s);
  if (!p) return nullptr;
  auto it = p->find(k);
  if (it == p->end()) return nullptr;
  return it->is_object() ? &*it : &EmptySchema();
}
// additionalProperties: absent -> nullptr; a schema -> it; true -> the empty schema; false ->
// nullptr with *is_false set.
const Json* Additional(const Json& s, bool* present = nullptr, bool* is_false = nullptr) {
  const Json* a = Get(s, "additionalProperties");
  if (present) *present = a != nullptr && !(a->is_boolean() && !a->get<bool>());
  if (is_false) *is_false = a && a->is_boolean() && !a->get<bool>();
  if (!a) return nullptr;
  if (a->is_object()) return a;
  return nullptr;
}
const Json* Items(const Json& s) {
  const Json* i = Get(s, "items");
  return i && i->is_object() ? i : nullptr;
}
const Json* Default(const Json& s) { return Get(s, "default"); }
bool Nullable(const Json& s) { return Flag(s, "nullable"); }
bool Preserve(const Json& s) { return Flag(s, "x-kubernetes-preserve-unknown-fields"); }
bool Embedded(const Json& s) { return Flag(s, "x-kubernetes-embedded-resource"); }
bool IntOrString(const Json& s) { return Flag(s, "x-kubernetes-int-or-string"); }

std::vector<std::string> Types(const Json& s) {
  if (IntOrString(s)) return {"integer", "string"};
  const Json* t = Get(s, "type");
  if (!t) return {};
  if (t->is_string()) {
    if (t->get<std::string>().empty()) return {};
    return {t->get<std::string>()};
  }
  std::vector<std::string> out;
  if (t->is_array()) {
    for (const auto& e : *t) {
      if (e.is_string()) out.push_back(e.get<std::string>());
    }
  }
  return out;
}

bool Contains(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

std::string Join(const std::vector<std::string>& v, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) out += sep;
    out += v[i];
  }
  return out;
}

// The formats apiextensions keeps (StripUnsupportedFormatsPostProcess); others are ignored.
std::string SupportedFormat(const Json& s) {
  static const std::set<std::string> kSupported = {
      "bsonobjectid", "uri",    "email",    "hostname",   "ipv4",     "ipv6",
      "cidr",         "mac",    "uuid",     "uuid3",      "uuid4",    "uuid5",
      "isbn",         "isbn10", "isbn13",   "creditcard", "ssn",      "hexcolor",
      "rgbcolor",     "byte",   "password", "date",       "duration", "datetime"};
  std::string f = Str(s, "format");
  if (f.empty()) return "";
  std::string normalized;
  for (char c : f) {
    if (c != '-') normalized.push_back(c);
  }
  return kSupported.count(normalized) ? f : "";
}

// JSON type of a value as kube-openapi infers it from the decoded Go value.
std::string SchType(const Json& v) {
  switch (v.type()) {
    case Json::value_t::boolean:
      return "boolean";
    case Json::value_t::string:
      return "string";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
      return gofmt::IsInt(v) ? "integer" : "number";
    case Json::value_t::number_float:
      return "number";
    case Json::value_t::array:
      return "array";
    case Json::value_t::object:
      return "object";
    default:
      return "null";
  }
}

bool IsJsonIntegerFloat(double f) {
  if (std::isnan(f) || std::isinf(f)) return false;
  if (std::fabs(f) > 9007199254740992.0) return false;
  return std::floor(f) == f;
}

// ---- field.Error construction, as kubeOpenAPIResultToFieldErrors renders them ----

// kube-openapi names are "spec.port", ".spec" (required at the root) or "" (the root).
std::string FieldOf(const std::string& name) {
  std::string n = name;
  if (!n.empty() && n[0] == '.') n.erase(0, 1);
  if (name.empty() || name == ".") return "<nil>";
  return n;
}

kube::Cause Required(const std::string& field, const std::string& detail = "") {
  return {"FieldValueRequired", detail.empty() ? "Required value" : "Required value: " + detail,
          field};
}
kube::Cause Invalid(const std::string& field, const std::string& value, const std::string& detail) {
  return {"FieldValueInvalid", "Invalid value: " + value + (detail.empty() ? "" : ": " + detail),
          field};
}
kube::Cause TypeInvalid(const std::string& field, const std::string& value,
                        const std::string& detail) {
  return {"FieldValueTypeInvalid", "Invalid value: " + value + ": " + detail, field};
}
kube::Cause Forbidden(const std::string& field, const std::string& detail) {
  return {"FieldValueForbidden", "Forbidden: " + detail, field};
}
kube::Cause NotSupported(const std::string& field, const std::string& value,
                         const std::vector<std::string>& supported) {
  std::string detail;
  if (!supported.empty()) {
    std::vector<std::string> q;
    for (const auto& s : supported) q.push_back(kube::GoQuote(s));
    detail = ": supported values: " + Join(q, ", ");
  }
  return {"FieldValueNotSupported", "Unsupported value: " + value + detail, field};
}
kube::Cause Duplicate(const std::string& field, const std::string& value) {
  return {"FieldValueDuplicate", "Duplicate value: " + value, field};
}
kube::Cause TooLong(const std::string& field, long long max) {
  std::string detail =
      max >= 0 ? "may not be more than " + std::to_string(max) + (max == 1 ? " byte" : " bytes")
               : "value is too long";
  return {"FieldValueTooLong", "Too long: " + detail, field};
}
kube::Cause TooMany(const std::string& field, long long actual, long long max) {
  std::string detail =
      max >= 0 ? "must have at most " + std::to_string(max) + (max == 1 ? " item" : " items")
               : "has too many items";
  return {"FieldValueTooMany", "Too many: " + std::to_string(actual) + ": " + detail, field};
}
// Errors kube-openapi reports as plain errors.New (anyOf/oneOf/allOf/not): the server turns
// them into field.Invalid(<nil>, "", msg).
kube::Cause Composite(const std::string& msg) { return Invalid("<nil>", "\"\"", msg); }

// field.Path rendering.
std::string Child(const std::string& path, const std::string& name) {
  return path.empty() ? name : path + "." + name;
}
std::string Key(const std::string& path, const std::string& key) { return path + "[" + key + "]"; }
std::string Index(const std::string& path, size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

// ---- regular expressions (Go's regexp is RE2) ----

std::shared_ptr<const re2::RE2> CompileRegex(const std::string& pattern) {
  static std::mutex mu;
  static auto* cache = new std::map<std::string, std::shared_ptr<const re2::RE2>>();
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache->find(pattern);
  if (it != cache->end()) return it->second;
  re2::RE2::Options opts;
  opts.set_log_errors(false);
  opts.set_max_mem(8 << 20);
  auto re = std::make_shared<const re2::RE2>(pattern, opts);
  if (cache->size() > 512) cache->clear();
  (*cache)[pattern] = re;
  return re;
}

std::string RegexErrorText(const re2::RE2& re) {
  return "error parsing regexp: " + re.error() + ": `" + re.error_arg() + "`";
}

// ---- formats (kube-openapi strfmt, the subset apiextensions supports) ----

bool AllHex(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); });
}
bool AllDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool ParseIPv4(std::string_view s) {
  int parts = 0;
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    std::string_view p = s.substr(start, dot == std::string_view::npos ? s.npos : dot - start);
    if (p.empty() || p.size() > 3 || !AllDigits(p)) return false;
    if (p.size() > 1 && p[0] == '0') return false;  // Go rejects leading zeros
    if (std::stoi(std::string(p)) > 255) return false;
    ++parts;
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return parts == 4;
}

bool ParseIPv6(std::string_view s) {
  if (s.empty()) return false;
  // An embedded IPv4 tail counts as two groups.
  int groups = 0;
  bool ellipsis = false;
  size_t i = 0;
  if (s.substr(0, 2) == "::") {
    ellipsis = true;
    i = 2;
    if (i == s.size()) return true;
  }
  while (i < s.size()) {
    size_t colon = s.find(':', i);
    std::string_view g = s.substr(i, colon == std::string_view::npos ? s.npos : colon - i);
    if (g.find('.') != std::string_view::npos) {
      if (colon != std::string_view::npos || !ParseIPv4(g)) return false;
      groups += 2;
      break;
    }
    if (g.empty() || g.size() > 4 || !AllHex(g)) return false;
    ++groups;
    if (colon == std::string_view::npos) break;
    i = colon + 1;
    if (i < s.size() && s[i] == ':') {
      if (ellipsis) return false;
      ellipsis = true;
      ++i;
      if (i == s.size()) break;
    } else if (i == s.size()) {
      return false;
    }
  }
  return ellipsis ? groups < 8 : groups == 8;
}

bool ValidDate(int y, int m, int d) {
  static const int kDays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (m < 1 || m > 12 || d < 1) return false;
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  int max = kDays[m - 1];
  if (m == 2 && !leap) max = 28;
  return d <= max;
}

bool ParseDate(std::string_view s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return false;
  if (!AllDigits(s.substr(0, 4)) || !AllDigits(s.substr(5, 2)) || !AllDigits(s.substr(8, 2))) {
    return false;
  }
  return ValidDate(std::stoi(std::string(s.substr(0, 4))), std::stoi(std::string(s.substr(5, 2))),
                   std::stoi(std::string(s.substr(8, 2))));
}

bool ParseDateTime(std::string_view s) {
  if (s.size() < 20 || !ParseDate(s.substr(0, 10))) return false;
  if (s[10] != 'T' && s[10] != 't' && s[10] != ' ') return false;
  return ParseRfc3339(std::string(s.substr(0, 10)) + "T" + std::string(s.substr(11))).has_value();
}

bool ParseDuration(std::string_view s) {
  // Go time.ParseDuration ("1h30m", "1.5s", "-2ms") or the "3 days" style strfmt accepts.
  static const char* kUnits[] = {"ns", "us", "µs", "μs", "ms", "s", "m", "h"};
  std::string_view t = s;
  if (!t.empty() && (t[0] == '+' || t[0] == '-')) t.remove_prefix(1);
  if (t == "0") return true;
  if (t.empty()) return false;
  bool go_style = true;
  while (!t.empty()) {
    size_t n = 0;
    while (n < t.size() && (std::isdigit(static_cast<unsigned char>(t[n])) || t[n] == '.')) ++n;
    if (n == 0) {
      go_style = false;
      break;
    }
    t.remove_prefix(n);
    size_t best = 0;
    for (const char* u : kUnits) {
      std::string_view us(u);
      if (t.substr(0, us.size()) == us && us.size() > best) best = us.size();
    }
    if (best == 0) {
      go_style = false;
      break;
    }
    t.remove_prefix(best);
  }
  if (go_style) return true;
  static const std::shared_ptr<const re2::RE2> kStrfmt = CompileRegex(
      "^([0-9]+)\\s*(ns|nanoseconds?|us|microseconds?|ms|milliseconds?|s|sec|secs|seconds?|m|"
      "min|mins|minutes?|h|hr|hrs|hours?|d|day|days|w|wk|wks|weeks?)$");
  return re2::RE2::FullMatch(std::string(s), *kStrfmt);
}

bool ValidFormat(const std::string& format, const std::string& v) {
  std::string f;
  for (char c : format) {
    if (c != '-') f.push_back(c);
  }
  if (f == "datetime") return ParseDateTime(v);
  if (f == "date") return ParseDate(v);
  if (f == "duration") return ParseDuration(v);
  if (f == "ipv4") return ParseIPv4(v);
  if (f == "ipv6") return ParseIPv6(v);
  if (f == "cidr") {
    size_t slash = v.find('/');
    if (slash == std::string::npos || !AllDigits(std::string_view(v).substr(slash + 1))) {
      return false;
    }
    std::string ip = v.substr(0, slash);
    int bits = std::stoi(v.substr(slash + 1).substr(0, 4));
    if (ParseIPv4(ip)) return bits <= 32;
    return ParseIPv6(ip) && bits <= 128;
  }
  if (f == "byte") {
    if (v.size() % 4 != 0) return false;
    size_t pad = 0;
    for (size_t i = 0; i < v.size(); ++i) {
      char c = v[i];
      if (c == '=') {
        if (i + 2 < v.size()) return false;
        ++pad;
        continue;
      }
      if (pad) return false;
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '/') return false;
    }
    return true;
  }
  auto match = [&](const char* re) { return re2::RE2::FullMatch(v, *CompileRegex(re)); };
  if (f == "uuid") {
    return match("(?i)[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}");
  }
  if (f == "uuid3") {
    return match("(?i)[0-9a-f]{8}-?[0-9a-f]{4}-?3[0-9a-f]{3}-?[0-9a-f]{4}-?[0-9a-f]{12}");
  }
  if (f == "uuid4") {
    return match("(?i)[0-9a-f]{8}-?[0-9a-f]{4}-?4[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}");
  }
  if (f == "uuid5") {
    return match("(?i)[0-9a-f]{8}-?[0-9a-f]{4}-?5[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}");
  }
  if (f == "hostname") {
    return v.size() <= 255 &&
           match(
               "([a-zA-Z0-9]([-a-zA-Z0-9]{0,61}[a-zA-Z0-9])?)(\\.[a-zA-Z0-9]([-a-zA-Z0-9]{0,61}"
               "[a-zA-Z0-9])?)*\\.?");
  }
  if (f == "email") return match("[^@\\s]+@[^@\\s]+");
  if (f == "mac") {
    return match("[0-9A-Fa-f]{2}([-:])[0-9A-Fa-f]{2}(\\1[0-9A-Fa-f]{2}){4}") ||
           match("([0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}") ||
           match("([0-9A-Fa-f]{4}\\.){2}[0-9A-Fa-f]{4}");
  }
  if (f == "uri") return match("[A-Za-z][A-Za-z0-9+.-]*:\\S*") || match("/\\S*");
  if (f == "hexcolor") return match("#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})");
  if (f == "rgbcolor") {
    return match("rgb\\(\\s*\\d{1,3}\\s*,\\s*\\d{1,3}\\s*,\\s*\\d{1,3}\\s*\\)");
  }
  if (f == "bsonobjectid") return v.size() == 24 && AllHex(v);
  if (f == "ssn") return match("\\d{3}[- ]?\\d{2}[- ]?\\d{4}");
  return true;  // password, isbn*, creditcard: accepted (simplified)
}

// ---- the value validator (kube-openapi SchemaValidator semantics) ----

class Validator {
 public:
  explicit Validator(std::vector<kube::Cause>* out) : out_(out) {}

  // `name` is kube-openapi's path ("" at the root, "spec.env[0].name").
  void Validate(const Json& s, const Json& v, const std::string& name, int depth) {
    if (depth > kMaxDepth) {
      TooDeep();
      return;
    }
    if (!s.is_object()) return;
    std::vector<std::string> types = Types(s);
    std::string format = SupportedFormat(s);
    if (v.is_null()) {
      if (!types.empty() && !Contains(types, "null") && !Nullable(s)) {
        out_->push_back(
            TypeInvalid(FieldOf(name), "\"null\"",
                        name + " in body must be of type " + Join(types, ",") + ": \"null\""));
      }
      Enum(s, v, name);
      return;
    }
    TypeCheck(types, format, v, name);
    SchemaProps(s, v, name, depth);
    if (v.is_string()) StringChecks(s, v.get<std::string>(), name);
    if (v.is_string() && !format.empty() && !ValidFormat(format, v.get<std::string>())) {
      out_->push_back(TypeInvalid(FieldOf(name), gofmt::ErrorValue(v),
                                  name + " in body must be of type " + format + ": " +
                                      kube::GoQuote(v.get<std::string>())));
    }
    if (v.is_number()) NumberChecks(s, v, name);
    if (v.is_array()) ArrayChecks(s, v, name, depth);
    Enum(s, v, name);
    if (v.is_object()) ObjectChecks(s, v, name, depth);
  }

  bool too_deep() const { return too_deep_; }

 private:
  void TooDeep() {
    if (!too_deep_) {
      out_->push_back(
          {"InternalError",
           "Internal error: schema nested deeper than " + std::to_string(kMaxDepth) + " levels",
           "<nil>"});
    }
    too_deep_ = true;
  }

  void TypeCheck(const std::vector<std::string>& types, const std::string& format, const Json& v,
                 const std::string& name) {
    if (types.empty() && format.empty()) return;
    std::string sch = SchType(v);
    std::string data_format = sch == "integer" ? "int64" : sch == "number" ? "float64" : "";
    bool is_float_int =
        sch == "number" && IsJsonIntegerFloat(gofmt::AsDouble(v)) && Contains(types, "integer");
    bool is_int_float = sch == "integer" && Contains(types, "number");
    bool kind_string = v.is_string();
    bool kind_slice = v.is_array();
    if (!kind_string && !kind_slice && !format.empty() &&
        !(Contains(types, sch) || data_format == format || is_float_int || is_int_float)) {
      out_->push_back(TypeInvalid(
          FieldOf(name), kube::GoQuote(data_format),
          name + " in body must be of type " + format + ": " + kube::GoQuote(data_format)));
      return;
    }
    if (!(Contains(types, "number") || Contains(types, "integer")) && !format.empty() &&
        (kind_string || kind_slice)) {
      return;
    }
    if (!(Contains(types, sch) || is_float_int || is_int_float)) {
      out_->push_back(TypeInvalid(
          FieldOf(name), kube::GoQuote(sch),
          name + " in body must be of type " + Join(types, ",") + ": " + kube::GoQuote(sch)));
    }
  }

  void SchemaProps(const Json& s, const Json& v, const std::string& name, int depth) {
    auto branches = [&](const char* key) {
      std::vector<const Json*> out;
      const Json* a = Get(s, key);
      if (a && a->is_array()) {
        for (const auto& b : *a) out.push_back(&b);
      }
      return out;
    };
    std::string quoted = kube::GoQuote(name);
    if (auto any = branches("anyOf"); !any.empty()) {
      bool ok = false;
      std::vector<kube::Cause> best;
      bool have_best = false;
      for (const Json* b : any) {
        std::vector<kube::Cause> errs;
        Validator sub(&errs);
        sub.Validate(*b, v, name, depth + 1);
        too_deep_ |= sub.too_deep();
        if (errs.empty()) {
          ok = true;
          break;
        }
        if (!have_best || errs.size() < best.size()) {
          best = std::move(errs);
          have_best = true;
        }
      }
      if (!ok) {
        out_->push_back(Composite(quoted + " must validate at least one schema (anyOf)"));
        out_->insert(out_->end(), best.begin(), best.end());
      }
    }
    if (auto one = branches("oneOf"); !one.empty()) {
      int valid = 0;
      std::vector<kube::Cause> best;
      bool have_best = false;
      for (const Json* b : one) {
        std::vector<kube::Cause> errs;
        Validator sub(&errs);
        sub.Validate(*b, v, name, depth + 1);
        too_deep_ |= sub.too_deep();
        if (errs.empty()) {
          ++valid;
          continue;
        }
        if (valid == 0 && (!have_best || errs.size() < best.size())) {
          best = std::move(errs);
          have_best = true;
        }
      }
      if (valid != 1) {
        std::string more = valid == 0 ? "Found none valid"
                                      : "Found " + std::to_string(valid) + " valid alternatives";
        out_->push_back(
            Composite(quoted + " must validate one and only one schema (oneOf). " + more));
        if (valid == 0) out_->insert(out_->end(), best.begin(), best.end());
      }
    }
    if (auto all = branches("allOf"); !all.empty()) {
      size_t valid = 0;
      for (const Json* b : all) {
        size_t before = out_->size();
        Validate(*b, v, name, depth + 1);
        if (out_->size() == before) ++valid;
      }
      if (valid != all.size()) {
        out_->push_back(Composite(quoted + " must validate all the schemas (allOf)" +
                                  (valid == 0 ? ". None validated" : "")));
      }
    }
    if (const Json* n = Get(s, "not"); n && n->is_object()) {
      std::vector<kube::Cause> errs;
      Validator sub(&errs);
      sub.Validate(*n, v, name, depth + 1);
      too_deep_ |= sub.too_deep();
      if (errs.empty()) out_->push_back(Composite(quoted + " must not validate the schema (not)"));
    }
  }

  static bool IntField(const Json& s, const char* key, long long* out) {
    const Json* v = Get(s, key);
    if (!v || !v->is_number()) return false;
    *out = gofmt::IsInt(*v) ? gofmt::AsInt(*v) : static_cast<long long>(gofmt::AsDouble(*v));
    return true;
  }
  static bool NumField(const Json& s, const char* key, double* out) {
    const Json* v = Get(s, key);
    if (!v || !v->is_number()) return false;
    *out = gofmt::AsDouble(*v);
    return true;
  }

  void StringChecks(const Json& s, const std::string& str, const std::string& name) {
    long long runes = 0;
    for (unsigned char c : str) {
      if ((c & 0xC0) != 0x80) ++runes;
    }
    long long n;
    if (IntField(s, "maxLength", &n) && runes > n) {
      out_->push_back(TooLong(FieldOf(name), n));
      return;
    }
    if (IntField(s, "minLength", &n) && runes < n) {
      out_->push_back(
          Invalid(FieldOf(name), kube::GoQuote(str),
                  name + " in body should be at least " + std::to_string(n) + " chars long"));
      return;
    }
    std::string pattern = Str(s, "pattern");
    if (!pattern.empty()) {
      auto re = CompileRegex(pattern);
      if (!re->ok()) {
        out_->push_back(Invalid(FieldOf(name), kube::GoQuote(str),
                                name + " in body should match '" + pattern +
                                    ", but pattern is invalid: " + RegexErrorText(*re) + "'"));
      } else if (!re2::RE2::PartialMatch(str, *re)) {
        out_->push_back(Invalid(FieldOf(name), kube::GoQuote(str),
                                name + " in body should match '" + pattern + "'"));
      }
    }
  }

  void NumberChecks(const Json& s, const Json& v, const std::string& name) {
    bool is_int = gofmt::IsInt(v);
    long long iv = gofmt::AsInt(v);
    double fv = gofmt::AsDouble(v);
    std::string value = gofmt::ErrorValue(v);
    auto to_int = [](double d) -> long long {
      if (std::isnan(d)) return 0;
      if (d >= 9.2e18) return std::numeric_limits<long long>::max();
      if (d <= -9.2e18) return std::numeric_limits<long long>::min();
      return static_cast<long long>(d);
    };
    double factor;
    if (NumField(s, "multipleOf", &factor)) {
      if (factor < 0) {
        out_->push_back(
            Invalid(FieldOf(name), value,
                    "factor MultipleOf declared for " + name + " must be positive: " +
                        (is_int ? std::to_string(to_int(factor)) : gofmt::FloatV(factor))));
      } else if (is_int && to_int(factor) != 0) {
        long long f = to_int(factor);
        if (iv % f != 0) {
          out_->push_back(Invalid(FieldOf(name), value,
                                  name + " in body should be a multiple of " + std::to_string(f)));
        }
      } else if (factor > 0) {
        double mult = factor < 1 ? 1 / factor * fv : fv / factor;
        if (!IsJsonIntegerFloat(mult)) {
          out_->push_back(
              Invalid(FieldOf(name), value,
                      name + " in body should be a multiple of " + gofmt::FloatV(factor)));
        }
      }
    }
    double bound;
    if (NumField(s, "minimum", &bound)) {
      bool excl = Flag(s, "exclusiveMinimum");
      bool bad;
      std::string shown;
      if (is_int) {
        long long b = to_int(bound);
        bad = excl ? iv <= b : iv < b;
        shown = std::to_string(b);
      } else {
        bad = excl ? fv <= bound : fv < bound;
        shown = gofmt::FloatV(bound);
      }
      if (bad) {
        out_->push_back(Invalid(
            FieldOf(name), value,
            name + " in body should be greater than " + (excl ? "" : "or equal to ") + shown));
      }
    }
    if (NumField(s, "maximum", &bound)) {
      bool excl = Flag(s, "exclusiveMaximum");
      bool bad;
      std::string shown;
      if (is_int) {
        long long b = to_int(bound);
        bad = excl ? iv >= b : iv > b;
        shown = std::to_string(b);
      } else {
        bad = excl ? fv >= bound : fv > bound;
        shown = gofmt::FloatV(bound);
      }
      if (bad) {
        out_->push_back(
            Invalid(FieldOf(name), value,
                    name + " in body should be less than " + (excl ? "" : "or equal to ") + shown));
      }
    }
  }

  void ArrayChecks(const Json& s, const Json& v, const std::string& name, int depth) {
    if (const Json* items = Items(s)) {
      for (size_t i = 0; i < v.size(); ++i) {
        Validate(*items, v[i], name + "[" + std::to_string(i) + "]", depth + 1);
      }
    }
    long long n;
    long long size = static_cast<long long>(v.size());
    if (IntField(s, "minItems", &n) && size < n) {
      out_->push_back(
          Invalid(FieldOf(name), std::to_string(size),
                  name + " in body should have at least " + std::to_string(n) + " items"));
    }
    if (IntField(s, "maxItems", &n) && size > n) {
      out_->push_back(TooMany(FieldOf(name), size, n));
    }
    if (Flag(s, "uniqueItems")) {
      std::set<std::string> seen;
      for (const auto& e : v) {
        if (!seen.insert(e.dump()).second) {
          out_->push_back(
              Invalid(FieldOf(name), "\"\"", name + " in body shouldn't contain duplicates"));
          break;
        }
      }
    }
  }

  static bool EnumEqual(const Json& a, const Json& b) {
    if (a.is_number() && b.is_number()) {
      if (gofmt::IsInt(a) && gofmt::IsInt(b)) return gofmt::AsInt(a) == gofmt::AsInt(b);
      return gofmt::AsDouble(a) == gofmt::AsDouble(b);
    }
    return a == b;
  }

  void Enum(const Json& s, const Json& v, const std::string& name) {
    const Json* e = Get(s, "enum");
    if (!e || !e->is_array() || e->empty()) return;
    if (!v.is_null()) {
      for (const auto& allowed : *e) {
        if (!allowed.is_null() && EnumEqual(v, allowed)) return;
      }
    }
    std::vector<std::string> values;
    for (const auto& allowed : *e) {
      if (allowed.is_string()) {
        values.push_back(allowed.get<std::string>());
      } else if (allowed.is_number_float()) {
        values.push_back(gofmt::JsonFloat(allowed.get<double>()));
      } else {
        values.push_back(allowed.dump());
      }
    }
    out_->push_back(NotSupported(FieldOf(name), gofmt::ErrorValue(v), values));
  }

  void ObjectChecks(const Json& s, const Json& v, const std::string& name, int depth) {
    long long n;
    long long keys = static_cast<long long>(v.size());
    if (IntField(s, "minProperties", &n) && keys < n) {
      out_->push_back(
          Invalid(FieldOf(name), std::to_string(keys),
                  name + " in body should have at least " + std::to_string(n) + " properties"));
      return;
    }
    if (IntField(s, "maxProperties", &n) && keys > n) {
      out_->push_back(TooMany(FieldOf(name), keys, n));
      return;
    }
    const Json* props = Properties(s);
    bool addl_false = false;
    const Json* addl = Additional(s, nullptr, &addl_false);
    for (auto it = v.begin(); it != v.end(); ++it) {
      bool regular = props && props->contains(it.key());
      if (regular) continue;
      if (addl_false) {
        out_->push_back(Invalid(FieldOf(name), kube::GoQuote(it.key()),
                                name + "." + it.key() + " in body is a forbidden property"));
      } else if (addl) {
        Validate(*addl, it.value(), name + "." + it.key(), depth + 1);
      }
    }
    if (props) {
      for (auto it = props->begin(); it != props->end(); ++it) {
        auto val = v.find(it.key());
        if (val == v.end()) continue;
        std::string child = name.empty() ? it.key() : name + "." + it.key();
        Validate(it.value(), *val, child, depth + 1);
      }
    }
    if (const Json* req = Get(s, "required"); req && req->is_array()) {
      for (const auto& k : *req) {
        if (k.is_string() && !v.contains(k.get<std::string>())) {
          out_->push_back(Required(FieldOf(name + "." + k.get<std::string>())));
        }
      }
    }
  }

  std::vector<kube::Cause>* out_;
  bool too_deep_ = false;
};

// ---- pruning (apiextensions structural pruning) ----

class Pruner {
 public:
  explicit Pruner(std::vector<std::string>* unknown) : unknown_(unknown) {}

  void Prune(Json& x, const Json* s, bool root, int depth) {
    if (depth > kMaxDepth) return;
    if (s && Preserve(*s)) {
      SkipPrune(x, s, root, depth);
      return;
    }
    size_t saved = path_.size();
    if (x.is_object()) {
      if (!s) {
        for (auto it = x.begin(); it != x.end(); ++it) Record(it.key());
        x = Json::object();
        return;
      }
      bool addl_present = false;
      const Json* addl = Additional(*s, &addl_present);
      std::vector<std::string> remove;
      for (auto it = x.begin(); it != x.end(); ++it) {
        const std::string& k = it.key();
        if ((root || Embedded(*s)) && IsMetaField(k)) continue;
        if (const Json* p = Prop(*s, k)) {
          path_.push_back(k);
          Prune(it.value(), p, false, depth + 1);
          path_.resize(saved);
        } else if (addl_present) {
          path_.push_back(k);
          Prune(it.value(), addl, false, depth + 1);
          path_.resize(saved);
        } else {
          Record(k);
          remove.push_back(k);
        }
      }
      for (const auto& k : remove) x.erase(k);
    } else if (x.is_array()) {
      const Json* items = s ? Items(*s) : nullptr;
      for (size_t i = 0; i < x.size(); ++i) {
        std::string saved_last = path_.empty() ? "" : path_.back();
        if (!path_.empty()) path_.back() += "[" + std::to_string(i) + "]";
        Prune(x[i], items, false, depth + 1);
        if (!path_.empty()) path_.back() = saved_last;
      }
    }
  }

 private:
  static bool IsMetaField(const std::string& k) {
    return k == "apiVersion" || k == "kind" || k == "metadata";
  }

  void SkipPrune(Json& x, const Json* s, bool root, int depth) {
    if (!s || depth > kMaxDepth) return;
    size_t saved = path_.size();
    if (x.is_object()) {
      bool addl_present = false;
      const Json* addl = Additional(*s, &addl_present);
      for (auto it = x.begin(); it != x.end(); ++it) {
        const std::string& k = it.key();
        if ((root || Embedded(*s)) && IsMetaField(k)) continue;
        if (const Json* p = Prop(*s, k)) {
          path_.push_back(k);
          Prune(it.value(), p, false, depth + 1);
          path_.resize(saved);
        } else if (addl_present) {
          path_.push_back(k);
          Prune(it.value(), addl, false, depth + 1);
          path_.resize(saved);
        }
      }
    } else if (x.is_array()) {
      const Json* items = Items(*s);
      for (size_t i = 0; i < x.size(); ++i) {
        std::string saved_last = path_.empty() ? "" : path_.back();
        if (!path_.empty()) path_.back() += "[" + std::to_string(i) + "]";
        SkipPrune(x[i], items, false, depth + 1);
        if (!path_.empty()) path_.back() = saved_last;
      }
    }
  }

  void Record(const std::string& field) {
    std::string p;
    for (const auto& e : path_) p += e + ".";
    unknown_->push_back(p + field);
  }

  std::vector<std::string>* unknown_;
  std::vector<std::string> path_;
};

// ---- nulls and defaults (apiextensions structural defaulting) ----

bool IsNonNullableNull(const Json& x, const Json* s) {
  return x.is_null() && s != nullptr && !Nullable(*s);
}

void PruneNonNullableNullsWithoutDefaults(Json& x, const Json* s, int depth) {
  if (!s || depth > kMaxDepth) return;
  if (x.is_object()) {
    std::vector<std::string> remove;
    const Json* addl = Additional(*s);
    for (auto it = x.begin(); it != x.end(); ++it) {
      const Json* p = Prop(*s, it.key());
      if (!p) p = addl;
      if (!p) continue;
      if (IsNonNullableNull(it.value(), p) && !Default(*p)) {
        remove.push_back(it.key());
      } else {
        PruneNonNullableNullsWithoutDefaults(it.value(), p, depth + 1);
      }
    }
    for (const auto& k : remove) x.erase(k);
  } else if (x.is_array()) {
    const Json* items = Items(*s);
    for (auto& e : x) PruneNonNullableNullsWithoutDefaults(e, items, depth + 1);
  }
}

void ApplyDefaults(Json& x, const Json* s, int depth) {
  if (!s || depth > kMaxDepth) return;
  if (x.is_object()) {
    if (const Json* props = Properties(*s)) {
      for (auto it = props->begin(); it != props->end(); ++it) {
        const Json* d = Default(it.value());
        if (!d) continue;
        auto cur = x.find(it.key());
        if (cur == x.end() || IsNonNullableNull(*cur, &it.value())) x[it.key()] = *d;
      }
    }
    const Json* addl = Additional(*s);
    for (auto it = x.begin(); it != x.end(); ++it) {
      if (const Json* p = Prop(*s, it.key())) {
        ApplyDefaults(it.value(), p, depth + 1);
      } else if (addl) {
        if (IsNonNullableNull(it.value(), addl) && Default(*addl)) it.value() = *Default(*addl);
        ApplyDefaults(it.value(), addl, depth + 1);
      }
    }
  } else if (x.is_array()) {
    const Json* items = Items(*s);
    if (!items) return;
    for (auto& e : x) {
      if (IsNonNullableNull(e, items) && Default(*items)) e = *Default(*items);
      ApplyDefaults(e, items, depth + 1);
    }
  }
}

// Go decodes JSON numbers into int64 when they parse as one and float64 otherwise, and
// encodes an integral float64 without a fraction: a 5.0 sent by a client reads back as 5.
void NormalizeIntegralFloats(Json& root) {
  std::vector<Json*> stack{&root};
  while (!stack.empty()) {
    Json* j = stack.back();
    stack.pop_back();
    if (j->is_number_float()) {
      double d = j->get<double>();
      if (std::isfinite(d) && std::floor(d) == d && std::fabs(d) < 9.2e18 && std::fabs(d) < 1e21) {
        *j = static_cast<long long>(d);
      }
    } else if (j->is_object() || j->is_array()) {
      for (auto& e : *j) stack.push_back(&e);
    }
  }
}

// ---- structural checks on values: embedded resources, list types ----

void ValidateEmbedded(const Json& x, const Json* s, const std::string& path,
                      std::vector<kube::Cause>& errs, int depth) {
  if (!s || depth > kMaxDepth) return;
  if (x.is_object()) {
    if (Embedded(*s)) {
      if (!x.contains("apiVersion")) {
        errs.push_back(Required(Child(path, "apiVersion"), "must not be empty"));
      }
      if (!x.contains("kind")) errs.push_back(Required(Child(path, "kind"), "must not be empty"));
      for (const char* k : {"apiVersion", "kind"}) {
        auto it = x.find(k);
        if (it == x.end()) continue;
        if (!it->is_string()) {
          errs.push_back(Invalid(Child(path, k), gofmt::ErrorValue(*it), "must be a string"));
        } else if (it->get<std::string>().empty()) {
          errs.push_back(Invalid(Child(path, k), "\"\"", "must not be empty"));
        } else if (std::string(k) == "apiVersion" &&
                   std::count(it->get<std::string>().begin(), it->get<std::string>().end(), '/') >
                       1) {
          errs.push_back(Invalid(Child(path, k), kube::GoQuote(it->get<std::string>()),
                                 "unexpected GroupVersion string: " + it->get<std::string>()));
        }
      }
    }
    const Json* addl = Additional(*s);
    for (auto it = x.begin(); it != x.end(); ++it) {
      if (const Json* p = Prop(*s, it.key())) {
        ValidateEmbedded(it.value(), p, Child(path, it.key()), errs, depth + 1);
      } else if (addl) {
        ValidateEmbedded(it.value(), addl, Key(path, it.key()), errs, depth + 1);
      }
    }
  } else if (x.is_array()) {
    const Json* items = Items(*s);
    for (size_t i = 0; i < x.size(); ++i) {
      ValidateEmbedded(x[i], items, Index(path, i), errs, depth + 1);
    }
  }
}

std::vector<std::string> MapKeys(const Json& s) {
  std::vector<std::string> keys;
  if (const Json* k = Get(s, "x-kubernetes-list-map-keys"); k && k->is_array()) {
    for (const auto& e : *k) {
      if (e.is_string()) keys.push_back(e.get<std::string>());
    }
  }
  return keys;
}

void ValidateListTypes(const Json& x, const Json* s, const std::string& path,
                       std::vector<kube::Cause>& errs, int depth) {
  if (!s || depth > kMaxDepth) return;
  if (x.is_object()) {
    const Json* addl = Additional(*s);
    for (auto it = x.begin(); it != x.end(); ++it) {
      if (const Json* p = Prop(*s, it.key())) {
        ValidateListTypes(it.value(), p, Child(path, it.key()), errs, depth + 1);
      } else if (addl) {
        ValidateListTypes(it.value(), addl, Key(path, it.key()), errs, depth + 1);
      }
    }
    return;
  }
  if (!x.is_array()) return;
  std::string list_type = Str(*s, "x-kubernetes-list-type");
  if (list_type == "set") {
    std::map<std::string, int> seen;
    for (size_t i = 0; i < x.size(); ++i) {
      if (++seen[x[i].dump()] == 2) {
        errs.push_back(Duplicate(Index(path, i), gofmt::ErrorValue(x[i])));
      }
    }
  } else if (list_type == "map") {
    bool ok = true;
    for (size_t i = 0; i < x.size(); ++i) {
      if (!x[i].is_null() && !x[i].is_object()) {
        errs.push_back(Invalid(Index(path, i), gofmt::ErrorValue(x[i]),
                               "must be an object for an array of list-type map"));
        ok = false;
        break;
      }
    }
    if (ok && x.size() > 1) {
      std::vector<std::string> keys = MapKeys(*s);
      const Json* items = Items(*s);
      std::map<std::string, int> seen;
      for (size_t i = 0; i < x.size(); ++i) {
        if (x[i].is_null()) continue;
        Json key = Json::object();
        for (const auto& k : keys) {
          auto it = x[i].find(k);
          if (it != x[i].end()) {
            key[k] = *it;
          } else if (const Json* p = items ? Prop(*items, k) : nullptr; p && Default(*p)) {
            key[k] = *Default(*p);
          }
        }
        if (++seen[key.dump()] == 2) {
          errs.push_back(Duplicate(Index(path, i), gofmt::ErrorValue(key)));
        }
      }
    }
  }
  const Json* items = Items(*s);
  for (size_t i = 0; i < x.size(); ++i) {
    ValidateListTypes(x[i], items, Index(path, i), errs, depth + 1);
  }
}

// ---- CheckStructural ----

enum class Level { kRoot, kItem, kField };

class StructuralChecker {
 public:
  std::vector<kube::Cause> schema_errs;      // openapi-level problems (reported first, alone)
  std::vector<kube::Cause> structural_errs;  // structural invariants (sorted)

  void CheckSchema(const Json& s, const std::string& path, int depth) {
    if (depth > kMaxDepth) {
      TooDeep(path);
      return;
    }
    if (!s.is_object()) {
      schema_errs.push_back(Invalid(path, gofmt::ErrorValue(s), "must be an object"));
      return;
    }
    if (s.contains("$ref"))
      schema_errs.push_back(Forbidden(Child(path, "$ref"), "$ref is not supported"));
    if (const Json* t = Get(s, "type")) {
      static const std::vector<std::string> kTypes = {"array",  "boolean", "integer",
                                                      "number", "object",  "string"};
      if (!t->is_string()) {
        schema_errs.push_back(
            Invalid(Child(path, "type"), gofmt::ErrorValue(*t), "must be a string"));
      } else if (!t->get<std::string>().empty() && !Contains(kTypes, t->get<std::string>())) {
        schema_errs.push_back(
            NotSupported(Child(path, "type"), kube::GoQuote(t->get<std::string>()), kTypes));
      }
    }
    bool addl_false = false;
    const Json* a = Get(s, "additionalProperties");
    if (a) {
      Additional(s, nullptr, &addl_false);
      if (Properties(s) && !Properties(s)->empty()) {
        schema_errs.push_back(
            Forbidden(Child(path, "additionalProperties"),
                      "additionalProperties and properties are mutual exclusive"));
      } else if (addl_false) {
        schema_errs.push_back(Forbidden(Child(path, "additionalProperties"),
                                        "additionalProperties cannot be set to false"));
      }
      if (!a->is_object() && !a->is_boolean()) {
        schema_errs.push_back(Invalid(Child(path, "additionalProperties"), gofmt::ErrorValue(*a),
                                      "must be a schema or a boolean"));
      }
    }
    if (Flag(s, "uniqueItems")) {
      schema_errs.push_back(Forbidden(Child(path, "uniqueItems"),
                                      "uniqueItems cannot be set to true since the runtime "
                                      "complexity becomes quadratic"));
    }
    if (const Json* p = Get(s, "x-kubernetes-preserve-unknown-fields");
        p && p->is_boolean() && !p->get<bool>()) {
      schema_errs.push_back(Invalid(Child(path, "x-kubernetes-preserve-unknown-fields"), "false",
                                    "must be true or undefined"));
    }
    if (const Json* lt = Get(s, "x-kubernetes-list-type")) {
      std::string v = lt->is_string() ? lt->get<std::string>() : lt->dump();
      if (v != "atomic" && v != "set" && v != "map") {
        schema_errs.push_back(NotSupported(Child(path, "x-kubernetes-list-type"), kube::GoQuote(v),
                                           {"atomic", "set", "map"}));
      } else if (v == "map" && MapKeys(s).empty()) {
        schema_errs.push_back(Required(Child(path, "x-kubernetes-list-map-keys"),
                                       "must not be empty if x-kubernetes-list-type is map"));
      }
      if (Str(s, "type") != "array") {
        schema_errs.push_back(Invalid(Child(path, "x-kubernetes-list-type"), kube::GoQuote(v),
                                      "must only be used on type \"array\""));
      }
    }
    if (s.contains("x-kubernetes-list-map-keys") && Str(s, "x-kubernetes-list-type") != "map") {
      schema_errs.push_back(Forbidden(Child(path, "x-kubernetes-list-map-keys"),
                                      "must not be set if x-kubernetes-list-type is not map"));
    }
    if (const Json* r = Get(s, "required"); r && !r->is_array()) {
      schema_errs.push_back(
          Invalid(Child(path, "required"), gofmt::ErrorValue(*r), "must be a list of strings"));
    }
    if (const Json* e = Get(s, "enum"); e && !e->is_array()) {
      schema_errs.push_back(Invalid(Child(path, "enum"), gofmt::ErrorValue(*e), "must be a list"));
    }
    if (const Json* p = Get(s, "properties"); p && !p->is_object()) {
      schema_errs.push_back(
          Invalid(Child(path, "properties"), gofmt::ErrorValue(*p), "must be an object"));
    }
    if (const Json* i = Get(s, "items"); i && !i->is_object() && !i->is_array()) {
      schema_errs.push_back(
          Invalid(Child(path, "items"), gofmt::ErrorValue(*i), "must be a schema"));
    }
    if (const Json* d = Default(s)) {
      // The default must itself be valid (after pruning) against the schema.
      Json copy = *d;
      std::vector<std::string> unknown;
      Pruner(&unknown).Prune(copy, &s, false, 0);
      std::vector<kube::Cause> errs;
      Validator(&errs).Validate(s, copy, "", 0);
      for (auto& c : errs) {
        if (c.field == "<nil>") {
          c.field = Child(path, "default");
        } else {
          c.field = Child(Child(path, "default"), c.field);
        }
        schema_errs.push_back(c);
      }
    }
    for (const char* key :
         {"patternProperties", "definitions", "dependencies", "additionalItems"}) {
      if (s.contains(key)) {
        schema_errs.push_back(Forbidden(Child(path, key), std::string(key) + " is not supported"));
      }
    }
    if (const Json* i = Get(s, "items"); i && i->is_array()) {
      schema_errs.push_back(
          Forbidden(Child(path, "items"), "items must be a schema object and not an array"));
    }
    if (const Json* props = Properties(s)) {
      for (auto it = props->begin(); it != props->end(); ++it) {
        CheckSchema(it.value(), Key(Child(path, "properties"), it.key()), depth + 1);
      }
    }
    if (const Json* i = Items(s)) CheckSchema(*i, Child(path, "items"), depth + 1);
    if (a && a->is_object()) CheckSchema(*a, Child(path, "additionalProperties"), depth + 1);
    for (const char* key : {"allOf", "anyOf", "oneOf"}) {
      const Json* arr = Get(s, key);
      if (!arr) continue;
      if (!arr->is_array()) {
        schema_errs.push_back(Invalid(Child(path, key), gofmt::ErrorValue(*arr), "must be a list"));
        continue;
      }
      for (size_t i = 0; i < arr->size(); ++i) {
        CheckSchema((*arr)[i], Index(Child(path, key), i), depth + 1);
      }
    }
    if (const Json* n = Get(s, "not")) CheckSchema(*n, Child(path, "not"), depth + 1);
  }

  void Invariants(const Json& s, Level lvl, const std::string& path, int depth) {
    if (depth > kMaxDepth || !s.is_object()) return;
    std::string type = Str(s, "type");
    if (type == "array" && !Items(s)) {
      structural_errs.push_back(Required(Child(path, "items"), "must be specified"));
    }
    if (const Json* items = Items(s))
      Invariants(*items, Level::kItem, Child(path, "items"), depth + 1);
    if (const Json* props = Properties(s)) {
      for (auto it = props->begin(); it != props->end(); ++it) {
        Invariants(it.value(), Level::kField, Key(Child(path, "properties"), it.key()), depth + 1);
      }
    }
    if (Get(s, "additionalProperties")) {
      if (lvl == Level::kRoot) {
        structural_errs.push_back(
            Forbidden(Child(path, "additionalProperties"), "must not be used at the root"));
      }
      if (const Json* a = Additional(s)) {
        Invariants(*a, Level::kField, Child(path, "additionalProperties"), depth + 1);
      }
    }
    if (IntOrString(s) && Preserve(s)) {
      structural_errs.push_back(Invalid(Child(path, "x-kubernetes-preserve-unknown-fields"), "true",
                                        "must be false if x-kubernetes-int-or-string is true"));
    }
    if (IntOrString(s) && Embedded(s)) {
      structural_errs.push_back(Invalid(Child(path, "x-kubernetes-embedded-resource"), "true",
                                        "must be false if x-kubernetes-int-or-string is true"));
    }
    ValueValidation(s, IntOrStringAnyOf(s), IntOrStringAllOf(s), path, depth);
    bool check_metadata = lvl == Level::kRoot || Embedded(s);
    if (Embedded(s) && type != "object") {
      if (type.empty()) {
        structural_errs.push_back(Required(
            Child(path, "type"), "must be object if x-kubernetes-embedded-resource is true"));
      } else {
        structural_errs.push_back(
            Invalid(Child(path, "type"), kube::GoQuote(type),
                    "must be object if x-kubernetes-embedded-resource is true"));
      }
    } else if (type.empty() && !IntOrString(s) && !Preserve(s)) {
      const char* detail = lvl == Level::kRoot   ? "must not be empty at the root"
                           : lvl == Level::kItem ? "must not be empty for specified array items"
                                                 : "must not be empty for specified object fields";
      structural_errs.push_back(Required(Child(path, "type"), detail));
    }
    if (Embedded(s) && Get(s, "additionalProperties")) {
      structural_errs.push_back(
          Forbidden(Child(path, "additionalProperties"),
                    "must not be used if x-kubernetes-embedded-resource is set"));
    }
    if (lvl == Level::kRoot && !type.empty() && type != "object") {
      structural_errs.push_back(
          Invalid(Child(path, "type"), kube::GoQuote(type), "must be object at the root"));
    }
    if (check_metadata) {
      for (const char* k : {"kind", "apiVersion"}) {
        if (const Json* p = Prop(s, k); p && Str(*p, "type") != "string") {
          structural_errs.push_back(Invalid(Child(Key(Child(path, "properties"), k), "type"),
                                            kube::GoQuote(Str(*p, "type")), "must be string"));
        }
      }
      if (const Json* p = Prop(s, "metadata"); p && Str(*p, "type") != "object") {
        structural_errs.push_back(Invalid(Child(Key(Child(path, "properties"), "metadata"), "type"),
                                          kube::GoQuote(Str(*p, "type")), "must be object"));
      }
    }
    if (lvl == Level::kRoot) {
      if (const Json* m = Prop(s, "metadata")) {
        bool ok = true;
        for (auto it = m->begin(); it != m->end(); ++it) {
          const std::string& k = it.key();
          if (k == "type" || k == "description" || k == "title" || k == "default") continue;
          if (k == "properties" && it->is_object()) {
            for (auto p = it->begin(); p != it->end(); ++p) {
              if (p.key() != "name" && p.key() != "generateName") ok = false;
            }
            continue;
          }
          ok = false;
        }
        if (!ok) {
          structural_errs.push_back(
              Forbidden(Key(Child(path, "properties"), "metadata"),
                        "must not specify anything other than name and "
                        "generateName, but metadata is implicitly specified"));
        }
      }
    }
    if (Embedded(s) && !Preserve(s) && (!Properties(s) || Properties(s)->empty())) {
      structural_errs.push_back(Required(Child(path, "properties"),
                                         "must not be empty if x-kubernetes-embedded-resource is "
                                         "true without x-kubernetes-preserve-unknown-fields"));
    }
    Completeness(s, s, path, path, depth);
  }

 private:
  void TooDeep(const std::string& path) {
    if (too_deep_) return;
    too_deep_ = true;
    schema_errs.push_back(Forbidden(
        path, "must not be nested more than " + std::to_string(kMaxDepth) + " levels deep"));
  }

  static bool IsIntOrStringPair(const Json* any) {
    if (!any || !any->is_array() || any->size() != 2) return false;
    auto only_type = [](const Json& b, const char* t) {
      return b.is_object() && b.size() == 1 && b.contains("type") && b["type"] == t;
    };
    return only_type((*any)[0], "integer") && only_type((*any)[1], "string");
  }
  static bool IntOrStringAnyOf(const Json& s) { return IsIntOrStringPair(Get(s, "anyOf")); }
  static bool IntOrStringAllOf(const Json& s) {
    const Json* all = Get(s, "allOf");
    return all && all->is_array() && !all->empty() && (*all)[0].is_object() &&
           IsIntOrStringPair(Get((*all)[0], "anyOf"));
  }

  void ValueValidation(const Json& v, bool skip_any_of, bool skip_first_all_of_any_of,
                       const std::string& path, int depth) {
    if (depth > kMaxDepth) return;
    auto each = [&](const char* key, auto&& fn) {
      const Json* arr = Get(v, key);
      if (!arr || !arr->is_array()) return;
      for (size_t i = 0; i < arr->size(); ++i) fn((*arr)[i], Index(Child(path, key), i), i);
    };
    if (!skip_any_of) {
      each("anyOf",
           [&](const Json& n, const std::string& p, size_t) { Nested(n, false, p, depth + 1); });
    }
    each("allOf", [&](const Json& n, const std::string& p, size_t i) {
      Nested(n, skip_first_all_of_any_of && i == 0, p, depth + 1);
    });
    each("oneOf",
         [&](const Json& n, const std::string& p, size_t) { Nested(n, false, p, depth + 1); });
    if (const Json* n = Get(v, "not")) Nested(*n, false, Child(path, "not"), depth + 1);
    std::string pattern = Str(v, "pattern");
    if (!pattern.empty()) {
      auto re = CompileRegex(pattern);
      if (!re->ok()) {
        structural_errs.push_back(
            Invalid(Child(path, "pattern"), kube::GoQuote(pattern),
                    "must be a valid regular expression, but isn't: " + RegexErrorText(*re)));
      }
    }
  }

  void Nested(const Json& v, bool skip_any_of, const std::string& path, int depth) {
    if (depth > kMaxDepth || !v.is_object()) return;
    ValueValidation(v, skip_any_of, false, path, depth);
    if (const Json* items = Items(v)) Nested(*items, false, Child(path, "items"), depth + 1);
    if (const Json* props = Properties(v)) {
      for (auto it = props->begin(); it != props->end(); ++it) {
        Nested(it.value(), false, Key(Child(path, "properties"), it.key()), depth + 1);
      }
      if (props->contains("metadata")) {
        structural_errs.push_back(Forbidden(Key(Child(path, "properties"), "metadata"),
                                            "must not be specified in a nested context"));
      }
    }
    auto forbid = [&](const char* key, const char* detail) {
      structural_errs.push_back(Forbidden(Child(path, key), detail));
    };
    if (!Str(v, "type").empty()) forbid("type", "must be empty to be structural");
    if (v.contains("additionalProperties"))
      forbid("additionalProperties", "must be undefined to be structural");
    if (v.contains("default")) forbid("default", "must be undefined to be structural");
    if (!Str(v, "title").empty()) forbid("title", "must be empty to be structural");
    if (!Str(v, "description").empty()) forbid("description", "must be empty to be structural");
    if (Nullable(v)) forbid("nullable", "must be false to be structural");
    if (Preserve(v))
      forbid("x-kubernetes-preserve-unknown-fields", "must be false to be structural");
    if (Embedded(v)) forbid("x-kubernetes-embedded-resource", "must be false to be structural");
    if (IntOrString(v)) forbid("x-kubernetes-int-or-string", "must be false to be structural");
    if (!MapKeys(v).empty()) forbid("x-kubernetes-list-map-keys", "must be empty to be structural");
    if (v.contains("x-kubernetes-list-type"))
      forbid("x-kubernetes-list-type", "must be undefined to be structural");
  }

  // Every property or items named under a logic junctor must exist in the structural part.
  void Completeness(const Json& v, const Json& s, const std::string& s_path,
                    const std::string& v_path, int depth) {
    if (depth > kMaxDepth) return;
    for (const char* key : {"not", "allOf", "anyOf", "oneOf"}) {
      const Json* j = Get(v, key);
      if (!j) continue;
      if (std::string(key) == "not") {
        NestedCompleteness(*j, &s, s_path, Child(v_path, "not"), depth + 1);
      } else if (j->is_array()) {
        for (size_t i = 0; i < j->size(); ++i) {
          NestedCompleteness((*j)[i], &s, s_path, Index(Child(v_path, key), i), depth + 1);
        }
      }
    }
  }
  void NestedCompleteness(const Json& v, const Json* s, const std::string& s_path,
                          const std::string& v_path, int depth) {
    if (depth > kMaxDepth || !v.is_object()) return;
    if (!s) {
      structural_errs.push_back(Required(s_path, "because it is defined in " + v_path));
      return;
    }
    Completeness(v, *s, s_path, v_path, depth);
    if (const Json* items = Items(v)) {
      NestedCompleteness(*items, Items(*s), Child(s_path, "items"), Child(v_path, "items"),
                         depth + 1);
    }
    if (const Json* props = Properties(v)) {
      for (auto it = props->begin(); it != props->end(); ++it) {
        std::string sp = Key(Child(s_path, "properties"), it.key());
        std::string vp = Key(Child(v_path, "properties"), it.key());
        const Json* sf = Prop(*s, it.key());
        if (!sf) {
          structural_errs.push_back(Required(sp, "because it is defined in " + vp));
        } else {
          NestedCompleteness(it.value(), sf, sp, vp, depth + 1);
        }
      }
    }
  }

  bool too_deep_ = false;
};

std::string CauseString(const kube::Cause& c) { return c.field + ": " + c.message; }

}  // namespace

SchemaResult ProcessObject(const Json& schema, Json& obj) {
  SchemaResult r;
  try {
    if (!obj.is_object()) {
      r.errors.push_back(
          TypeInvalid("<nil>", kube::GoQuote(SchType(obj)),
                      " in body must be of type object: " + kube::GoQuote(SchType(obj))));
      return r;
    }
    Pruner(&r.unknown_fields).Prune(obj, &schema, /*root=*/true, 0);
    std::sort(r.unknown_fields.begin(), r.unknown_fields.end());
    PruneNonNullableNullsWithoutDefaults(obj, &schema, 0);
    ApplyDefaults(obj, &schema, 0);
    Validator(&r.errors).Validate(schema, obj, "", 0);
    ValidateEmbedded(obj, &schema, "", r.errors, 0);
    ValidateListTypes(obj, &schema, "", r.errors, 0);
    NormalizeIntegralFloats(obj);
  } catch (const std::exception& e) {
    r.errors.push_back({"InternalError", std::string("Internal error: ") + e.what(), "<nil>"});
  }
  return r;
}

std::vector<kube::Cause> CheckStructural(const Json& schema, const std::string& field_prefix) {
  try {
    StructuralChecker c;
    c.CheckSchema(schema, field_prefix, 0);
    if (!c.schema_errs.empty()) return c.schema_errs;
    c.Invariants(schema, Level::kRoot, field_prefix, 0);
    std::stable_sort(
        c.structural_errs.begin(), c.structural_errs.end(),
        [](const kube::Cause& a, const kube::Cause& b) { return CauseString(a) < CauseString(b); });
    return c.structural_errs;
  } catch (const std::exception& e) {
    return {{"InternalError", std::string("Internal error: ") + e.what(), field_prefix}};
  }
}

}  // namespace kfaas::local
