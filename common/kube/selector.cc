#include "common/kube/selector.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <set>

#include "absl/status/status.h"

namespace kfaas::kube {
namespace {

bool IsAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}
bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// ^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$
bool MatchesQualifiedName(std::string_view s) {
  if (s.empty() || !IsAlnum(s.front()) || !IsAlnum(s.back())) return false;
  for (char c : s) {
    if (!IsAlnum(c) && c != '-' && c != '_' && c != '.') return false;
  }
  return true;
}

// ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$
bool MatchesDns1123Label(std::string_view s) {
  if (s.empty() || !IsLowerAlnum(s.front()) || !IsLowerAlnum(s.back())) return false;
  for (char c : s) {
    if (!IsLowerAlnum(c) && c != '-') return false;
  }
  return true;
}

// Labels separated by single dots.
bool MatchesDns1123Subdomain(std::string_view s) {
  if (s.empty()) return false;
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    std::string_view part =
        s.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (!MatchesDns1123Label(part)) return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

std::string RegexError(const std::string& msg, const std::string& fmt,
                       const std::vector<std::string>& examples) {
  if (examples.empty()) return msg + " (regex used for validation is '" + fmt + "')";
  std::string out = msg + " (e.g. ";
  for (size_t i = 0; i < examples.size(); ++i) {
    if (i > 0) out += " or ";
    out += "'" + examples[i] + "', ";
  }
  out += "regex used for validation is '" + fmt + "')";
  return out;
}

std::string MaxLenError(int n) {
  return "must be no more than " + std::to_string(n) + " characters";
}

constexpr char kQualifiedNameFmt[] = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
constexpr char kQualifiedNameErrMsg[] =
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character";
constexpr char kLabelValueFmt[] = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
constexpr char kLabelValueErrMsg[] =
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character";
constexpr char kDns1123LabelFmt[] = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
constexpr char kDns1123LabelErrMsg[] =
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character";
constexpr char kDns1123SubdomainFmt[] =
    "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
constexpr char kDns1123SubdomainErrMsg[] =
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character";

// field.Error rendering: "<field>: Invalid value: <value>: <detail>".
std::string InvalidValue(const std::string& field, const std::string& quoted_value,
                         const std::string& detail) {
  std::string s = field + ": Invalid value: " + quoted_value;
  if (!detail.empty()) s += ": " + detail;
  return s;
}

std::string Join(const std::vector<std::string>& v, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) out += sep;
    out += v[i];
  }
  return out;
}

// utilerrors.NewAggregate(...).Error(): one message as is, several de-duplicated in brackets.
std::string AggregateMessage(const std::vector<std::string>& errs) {
  std::vector<std::string> uniq;
  for (const auto& e : errs) {
    if (std::find(uniq.begin(), uniq.end(), e) == uniq.end()) uniq.push_back(e);
  }
  if (uniq.size() == 1) return uniq[0];
  return "[" + Join(uniq, ", ") + "]";
}

std::string GoStringSlice(const std::vector<std::string>& v) {
  if (v.empty()) return "[]string(nil)";
  std::string out = "[]string{";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) out += ", ";
    out += GoQuote(v[i]);
  }
  return out + "}";
}

bool ParseInt64(const std::string& s, long long* out) {
  if (s.empty() || s.size() > 20) return false;
  size_t i = 0;
  if (s[0] == '+' || s[0] == '-') i = 1;
  if (i == s.size()) return false;
  for (size_t j = i; j < s.size(); ++j) {
    if (s[j] < '0' || s[j] > '9') return false;
  }
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (errno == ERANGE || end != s.c_str() + s.size()) return false;
  *out = v;
  return true;
}

// labels.NewRequirement's validation. `path` is the field path prefix ("" for none).
std::vector<std::string> ValidateRequirement(const Requirement& r) {
  std::vector<std::string> errs;
  if (auto e = IsQualifiedName(r.key); !e.empty()) {
    errs.push_back(InvalidValue("key", GoQuote(r.key), Join(e, "; ")));
  }
  switch (r.op) {
    case Requirement::Op::kIn:
    case Requirement::Op::kNotIn:
      if (r.values.empty()) {
        errs.push_back(InvalidValue("values", GoStringSlice(r.values),
                                    "for 'in', 'notin' operators, values set can't be empty"));
      }
      break;
    case Requirement::Op::kEquals:
    case Requirement::Op::kNotEquals:
      if (r.values.size() != 1) {
        errs.push_back(InvalidValue("values", GoStringSlice(r.values),
                                    "exact-match compatibility requires one single value"));
      }
      break;
    case Requirement::Op::kExists:
    case Requirement::Op::kDoesNotExist:
      if (!r.values.empty()) {
        errs.push_back(InvalidValue("values", GoStringSlice(r.values),
                                    "values set must be empty for exists and does not exist"));
      }
      break;
    case Requirement::Op::kGreaterThan:
    case Requirement::Op::kLessThan:
      if (r.values.size() != 1) {
        errs.push_back(InvalidValue("values", GoStringSlice(r.values),
                                    "for 'Gt', 'Lt' operators, exactly one value is required"));
      }
      for (size_t i = 0; i < r.values.size(); ++i) {
        long long v;
        if (!ParseInt64(r.values[i], &v)) {
          errs.push_back(InvalidValue("values[" + std::to_string(i) + "]", GoQuote(r.values[i]),
                                      "for 'Gt', 'Lt' operators, the value must be an integer"));
        }
      }
      break;
  }
  for (size_t i = 0; i < r.values.size(); ++i) {
    if (auto e = IsValidLabelValue(r.values[i]); !e.empty()) {
      errs.push_back(InvalidValue("values[" + std::to_string(i) + "][" + r.key + "]",
                                  GoQuote(r.values[i]), Join(e, "; ")));
    }
  }
  return errs;
}

void SortUnique(std::vector<std::string>& v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
}

// ---- label selector lexer/parser (apimachinery labels/selector.go) ----

enum class Tok {
  kError,
  kEnd,
  kClosedPar,
  kComma,
  kDoesNotExist,
  kDoubleEquals,
  kEquals,
  kGreaterThan,
  kIdentifier,
  kIn,
  kLessThan,
  kNotEquals,
  kNotIn,
  kOpenPar,
};

struct Item {
  Tok tok;
  std::string lit;
};

bool IsWhitespace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
bool IsSpecial(char c) {
  switch (c) {
    case '=':
    case '!':
    case '(':
    case ')':
    case ',':
    case '>':
    case '<':
      return true;
    default:
      return false;
  }
}

bool SymbolToken(std::string_view s, Tok* out) {
  static const std::pair<std::string_view, Tok> kTable[] = {
      {")", Tok::kClosedPar},     {",", Tok::kComma},    {"!", Tok::kDoesNotExist},
      {"==", Tok::kDoubleEquals}, {"=", Tok::kEquals},   {">", Tok::kGreaterThan},
      {"in", Tok::kIn},           {"<", Tok::kLessThan}, {"!=", Tok::kNotEquals},
      {"notin", Tok::kNotIn},     {"(", Tok::kOpenPar},
  };
  for (const auto& [k, t] : kTable) {
    if (k == s) {
      *out = t;
      return true;
    }
  }
  return false;
}

std::vector<Item> Lex(std::string_view s) {
  std::vector<Item> items;
  size_t pos = 0;
  // A NUL byte ends the input, as in the Go lexer (read() returns 0 at the end).
  auto read = [&]() -> char { return pos < s.size() ? s[pos++] : '\0'; };
  while (true) {
    char ch = read();
    while (ch != '\0' && IsWhitespace(ch)) ch = read();
    if (ch == '\0') {
      items.push_back({Tok::kEnd, ""});
      return items;
    }
    if (IsSpecial(ch)) {
      std::string buf(1, ch);
      bool have = false;
      Item last{Tok::kError, ""};
      Tok t;
      if (SymbolToken(buf, &t)) {
        have = true;
        last = {t, buf};
      }
      while (true) {
        char c = read();
        if (c == '\0') break;
        if (!IsSpecial(c)) {
          --pos;
          break;
        }
        buf.push_back(c);
        if (SymbolToken(buf, &t)) {
          have = true;
          last = {t, buf};
        } else if (have) {
          --pos;
          break;
        }
      }
      if (!have) {
        items.push_back({Tok::kError, "error expected: keyword found '" + buf + "'"});
      } else {
        items.push_back(last);
      }
      continue;
    }
    std::string buf(1, ch);
    while (true) {
      char c = read();
      if (c == '\0') break;
      if (IsSpecial(c) || IsWhitespace(c)) {
        --pos;
        break;
      }
      buf.push_back(c);
    }
    Tok t;
    if (SymbolToken(buf, &t)) {
      items.push_back({t, buf});
    } else {
      items.push_back({Tok::kIdentifier, buf});
    }
  }
}

class Parser {
 public:
  explicit Parser(std::string_view s) : items_(Lex(s)) {}

  absl::StatusOr<std::vector<Requirement>> Parse() {
    std::vector<Requirement> reqs;
    while (true) {
      auto [tok, lit] = Lookahead(true);
      switch (tok) {
        case Tok::kIdentifier:
        case Tok::kDoesNotExist: {
          auto r = ParseRequirement();
          if (!r.ok()) {
            return absl::InvalidArgumentError("unable to parse requirement: " +
                                              std::string(r.status().message()));
          }
          reqs.push_back(*std::move(r));
          auto [t, l] = Consume(true);
          if (t == Tok::kEnd) return reqs;
          if (t == Tok::kComma) {
            auto [t2, l2] = Lookahead(true);
            if (t2 != Tok::kIdentifier && t2 != Tok::kDoesNotExist) {
              return absl::InvalidArgumentError("found '" + l2 +
                                                "', expected: identifier after ','");
            }
          } else {
            return absl::InvalidArgumentError("found '" + l +
                                              "', expected: ',' or 'end of string'");
          }
          break;
        }
        case Tok::kEnd:
          return reqs;
        default:
          return absl::InvalidArgumentError("found '" + lit +
                                            "', expected: !, identifier, or 'end of string'");
      }
    }
  }

 private:
  // In the Values context "in"/"notin" are plain identifiers.
  std::pair<Tok, std::string> Lookahead(bool values) const {
    const Item& it = items_[std::min(pos_, items_.size() - 1)];
    Tok t = it.tok;
    if (values && (t == Tok::kIn || t == Tok::kNotIn)) t = Tok::kIdentifier;
    return {t, it.lit};
  }
  std::pair<Tok, std::string> Consume(bool values) {
    auto r = Lookahead(values);
    if (pos_ < items_.size() - 1) ++pos_;  // never move past the end token
    return r;
  }

  absl::StatusOr<Requirement> ParseRequirement() {
    Requirement r;
    bool does_not_exist = false;
    auto [tok, lit] = Consume(true);
    if (tok == Tok::kDoesNotExist) {
      does_not_exist = true;
      std::tie(tok, lit) = Consume(true);
    }
    if (tok != Tok::kIdentifier) {
      return absl::InvalidArgumentError("found '" + lit + "', expected: identifier");
    }
    if (auto e = IsQualifiedName(lit); !e.empty()) {
      return absl::InvalidArgumentError(InvalidValue("<nil>", GoQuote(lit), Join(e, "; ")));
    }
    r.key = lit;
    auto [next, unused] = Lookahead(true);
    (void)unused;
    if (does_not_exist || next == Tok::kEnd || next == Tok::kComma) {
      // "!key" followed by anything else still parses as DoesNotExist; the caller then
      // reports the unexpected token.
      r.op = does_not_exist ? Requirement::Op::kDoesNotExist : Requirement::Op::kExists;
      return Finish(std::move(r));
    }
    auto [op_tok, op_lit] = Consume(false);
    switch (op_tok) {
      case Tok::kIn:
        r.op = Requirement::Op::kIn;
        break;
      case Tok::kNotIn:
        r.op = Requirement::Op::kNotIn;
        break;
      case Tok::kEquals:
      case Tok::kDoubleEquals:
        r.op = Requirement::Op::kEquals;
        break;
      case Tok::kNotEquals:
        r.op = Requirement::Op::kNotEquals;
        break;
      case Tok::kGreaterThan:
        r.op = Requirement::Op::kGreaterThan;
        break;
      case Tok::kLessThan:
        r.op = Requirement::Op::kLessThan;
        break;
      default:
        return absl::InvalidArgumentError("found '" + op_lit +
                                          "', expected: in, notin, =, ==, !=, gt, lt");
    }
    if (r.op == Requirement::Op::kIn || r.op == Requirement::Op::kNotIn) {
      auto v = ParseValues();
      if (!v.ok()) return v.status();
      r.values = *std::move(v);
    } else {
      auto v = ParseExactValue();
      if (!v.ok()) return v.status();
      r.values = {*std::move(v)};
    }
    return Finish(std::move(r));
  }

  static absl::StatusOr<Requirement> Finish(Requirement r) {
    auto errs = ValidateRequirement(r);
    if (!errs.empty()) return absl::InvalidArgumentError(AggregateMessage(errs));
    return r;
  }

  absl::StatusOr<std::vector<std::string>> ParseValues() {
    auto [tok, lit] = Consume(true);
    if (tok != Tok::kOpenPar) {
      return absl::InvalidArgumentError("found '" + lit + "' expected: '('");
    }
    std::tie(tok, lit) = Lookahead(true);
    switch (tok) {
      case Tok::kIdentifier:
      case Tok::kComma: {
        auto s = ParseIdentifiersList();
        if (!s.ok()) return s.status();
        if (Consume(true).first != Tok::kClosedPar) {
          return absl::InvalidArgumentError("found '" + lit + "', expected: ')'");
        }
        return s;
      }
      case Tok::kClosedPar:
        Consume(true);
        return std::vector<std::string>{""};
      default:
        return absl::InvalidArgumentError("found '" + lit + "', expected: ',', ')' or identifier");
    }
  }

  absl::StatusOr<std::vector<std::string>> ParseIdentifiersList() {
    std::vector<std::string> s;
    while (true) {
      auto [tok, lit] = Consume(true);
      switch (tok) {
        case Tok::kIdentifier: {
          s.push_back(lit);
          auto [tok2, lit2] = Lookahead(true);
          if (tok2 == Tok::kComma) continue;
          if (tok2 == Tok::kClosedPar) {
            SortUnique(s);
            return s;
          }
          return absl::InvalidArgumentError("found '" + lit2 + "', expected: ',' or ')'");
        }
        case Tok::kComma: {
          if (s.empty()) s.push_back("");
          auto tok2 = Lookahead(true).first;
          if (tok2 == Tok::kClosedPar) {
            s.push_back("");
            SortUnique(s);
            return s;
          }
          if (tok2 == Tok::kComma) {
            Consume(true);
            s.push_back("");
          }
          break;
        }
        default:
          return absl::InvalidArgumentError("found '" + lit + "', expected: ',', or identifier");
      }
    }
  }

  absl::StatusOr<std::string> ParseExactValue() {
    auto tok = Lookahead(true).first;
    if (tok == Tok::kEnd || tok == Tok::kComma) return std::string();
    auto [t, lit] = Consume(true);
    if (t == Tok::kIdentifier) return lit;
    return absl::InvalidArgumentError("found '" + lit + "', expected: identifier");
  }

  std::vector<Item> items_;
  size_t pos_ = 0;
};

void SortByKey(std::vector<Requirement>& reqs) {
  std::stable_sort(reqs.begin(), reqs.end(),
                   [](const Requirement& a, const Requirement& b) { return a.key < b.key; });
}

std::string RequirementString(const Requirement& r) {
  std::string s;
  if (r.op == Requirement::Op::kDoesNotExist) s += "!";
  s += r.key;
  switch (r.op) {
    case Requirement::Op::kEquals:
      s += "=";
      break;
    case Requirement::Op::kNotEquals:
      s += "!=";
      break;
    case Requirement::Op::kIn:
      s += " in ";
      break;
    case Requirement::Op::kNotIn:
      s += " notin ";
      break;
    case Requirement::Op::kGreaterThan:
      s += ">";
      break;
    case Requirement::Op::kLessThan:
      s += "<";
      break;
    case Requirement::Op::kExists:
    case Requirement::Op::kDoesNotExist:
      return s;
  }
  bool set = r.op == Requirement::Op::kIn || r.op == Requirement::Op::kNotIn;
  if (set) s += "(";
  std::vector<std::string> v = r.values;
  std::sort(v.begin(), v.end());
  s += Join(v, ",");
  if (set) s += ")";
  return s;
}

// Label value for `key` in a labels object, if present as a string.
const Json* LabelValue(const Json& labels, const std::string& key) {
  if (!labels.is_object()) return nullptr;
  auto it = labels.find(key);
  if (it == labels.end()) return nullptr;
  return &*it;
}

std::string ScalarText(const Json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "";
  return v.dump();
}

bool HasValue(const Requirement& r, const std::string& v) {
  return std::find(r.values.begin(), r.values.end(), v) != r.values.end();
}

// ---- field selectors (apimachinery fields/selector.go) ----

std::vector<std::string> SplitTerms(std::string_view s) {
  std::vector<std::string> terms;
  if (s.empty()) return terms;
  size_t start = 0;
  bool in_slash = false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (in_slash) {
      in_slash = false;
    } else if (c == '\\') {
      in_slash = true;
    } else if (c == ',') {
      terms.emplace_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  terms.emplace_back(s.substr(start));
  return terms;
}

bool SplitTerm(const std::string& term, std::string* lhs, std::string* op, std::string* rhs) {
  static const char* kOps[] = {"!=", "==", "="};
  for (size_t i = 0; i < term.size(); ++i) {
    for (const char* o : kOps) {
      if (term.compare(i, std::char_traits<char>::length(o), o) == 0) {
        *lhs = term.substr(0, i);
        *op = o;
        *rhs = term.substr(i + std::char_traits<char>::length(o));
        return true;
      }
    }
  }
  return false;
}

absl::StatusOr<std::string> UnescapeValue(const std::string& s) {
  if (s.find_first_of("\\,=") == std::string::npos) return s;
  std::string v;
  bool in_slash = false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (in_slash) {
      if (c == '\\' || c == ',' || c == '=') {
        v.push_back(c);
      } else {
        // Go reports the escaped rune; for multi-byte UTF-8 take the whole sequence.
        std::string seq = "\\";
        seq.push_back(c);
        unsigned char uc = static_cast<unsigned char>(c);
        size_t extra = uc >= 0xF0 ? 3 : uc >= 0xE0 ? 2 : uc >= 0xC0 ? 1 : 0;
        for (size_t k = 0; k < extra && i + 1 < s.size(); ++k) seq.push_back(s[++i]);
        return absl::InvalidArgumentError("invalid field selector: invalid escape sequence: " +
                                          seq);
      }
      in_slash = false;
      continue;
    }
    if (c == '\\') {
      in_slash = true;
    } else if (c == ',' || c == '=') {
      return absl::InvalidArgumentError("invalid field selector: unescaped character in value: " +
                                        std::to_string(static_cast<int>(c)));
    } else {
      v.push_back(c);
    }
  }
  if (in_slash) {
    return absl::InvalidArgumentError("invalid field selector: invalid escape sequence: \\");
  }
  return v;
}

std::string EscapeValue(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\\' || c == ',' || c == '=') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

// Walks a dotted path ("metadata.name") into `obj`; nullptr when absent.
const Json* FieldByPath(const Json& obj, const std::string& path) {
  const Json* cur = &obj;
  size_t start = 0;
  while (true) {
    if (!cur->is_object()) return nullptr;
    size_t dot = path.find('.', start);
    std::string part =
        path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    auto it = cur->find(part);
    if (it == cur->end()) return nullptr;
    cur = &*it;
    if (dot == std::string::npos) return cur;
    start = dot + 1;
  }
}

}  // namespace

std::string GoQuote(std::string_view s) {
  static const char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    switch (c) {
      case '"':
        out += "\\\"";
        continue;
      case '\\':
        out += "\\\\";
        continue;
      case '\a':
        out += "\\a";
        continue;
      case '\b':
        out += "\\b";
        continue;
      case '\f':
        out += "\\f";
        continue;
      case '\n':
        out += "\\n";
        continue;
      case '\r':
        out += "\\r";
        continue;
      case '\t':
        out += "\\t";
        continue;
      case '\v':
        out += "\\v";
        continue;
      default:
        break;
    }
    if (c < 0x20 || c == 0x7f) {
      out += "\\x";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
      continue;
    }
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
      continue;
    }
    // Multi-byte UTF-8: keep a well-formed sequence, escape stray bytes.
    size_t len = (c >= 0xC2 && c <= 0xDF)   ? 2
                 : (c >= 0xE0 && c <= 0xEF) ? 3
                 : (c >= 0xF0 && c <= 0xF4) ? 4
                                            : 0;
    bool ok = len > 0 && i + len <= s.size();
    for (size_t k = 1; ok && k < len; ++k) {
      unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) ok = false;
    }
    if (ok) {
      out.append(s.substr(i, len));
      i += len - 1;
    } else {
      out += "\\x";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  out += "\"";
  return out;
}

std::vector<std::string> IsQualifiedName(std::string_view value) {
  std::vector<std::string> errs;
  std::string_view name = value;
  size_t slashes = std::count(value.begin(), value.end(), '/');
  if (slashes > 1) {
    errs.push_back(
        "a qualified name " +
        RegexError(kQualifiedNameErrMsg, kQualifiedNameFmt, {"MyName", "my.name", "123-abc"}) +
        " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')");
    return errs;
  }
  if (slashes == 1) {
    size_t slash = value.find('/');
    std::string_view prefix = value.substr(0, slash);
    name = value.substr(slash + 1);
    if (prefix.empty()) {
      errs.push_back("prefix part must be non-empty");
    } else {
      for (const auto& e : IsDNS1123Subdomain(prefix)) errs.push_back("prefix part " + e);
    }
  }
  if (name.empty()) {
    errs.push_back("name part must be non-empty");
  } else if (name.size() > 63) {
    errs.push_back("name part " + MaxLenError(63));
  }
  if (!MatchesQualifiedName(name)) {
    errs.push_back("name part " + RegexError(kQualifiedNameErrMsg, kQualifiedNameFmt,
                                             {"MyName", "my.name", "123-abc"}));
  }
  return errs;
}

std::vector<std::string> IsValidLabelValue(std::string_view value) {
  std::vector<std::string> errs;
  if (value.size() > 63) errs.push_back(MaxLenError(63));
  if (!value.empty() && !MatchesQualifiedName(value)) {
    errs.push_back(RegexError(kLabelValueErrMsg, kLabelValueFmt, {"MyValue", "my_value", "12345"}));
  }
  return errs;
}

std::vector<std::string> IsDNS1123Subdomain(std::string_view value) {
  std::vector<std::string> errs;
  if (value.size() > 253) errs.push_back(MaxLenError(253));
  if (!MatchesDns1123Subdomain(value)) {
    errs.push_back(RegexError(kDns1123SubdomainErrMsg, kDns1123SubdomainFmt, {"example.com"}));
  }
  return errs;
}

std::vector<std::string> IsDNS1123Label(std::string_view value) {
  std::vector<std::string> errs;
  if (value.size() > 63) errs.push_back(MaxLenError(63));
  if (!MatchesDns1123Label(value)) {
    errs.push_back(RegexError(kDns1123LabelErrMsg, kDns1123LabelFmt, {"my-name", "123-abc"}));
  }
  return errs;
}

absl::StatusOr<LabelSelector> LabelSelector::Parse(std::string_view selector) {
  Parser p(selector);
  auto reqs = p.Parse();
  if (!reqs.ok()) return reqs.status();
  LabelSelector sel;
  sel.requirements_ = *std::move(reqs);
  SortByKey(sel.requirements_);
  return sel;
}

LabelSelector LabelSelector::Nothing() {
  LabelSelector sel;
  sel.nothing_ = true;
  return sel;
}

absl::StatusOr<LabelSelector> LabelSelector::FromJson(const Json& selector) {
  if (selector.is_null()) return Nothing();
  if (!selector.is_object()) {
    return absl::InvalidArgumentError("label selector must be an object");
  }
  LabelSelector sel;
  auto ml = selector.find("matchLabels");
  if (ml != selector.end() && !ml->is_null()) {
    if (!ml->is_object()) return absl::InvalidArgumentError("matchLabels must be an object");
    for (auto it = ml->begin(); it != ml->end(); ++it) {
      if (!it.value().is_string()) {
        return absl::InvalidArgumentError("matchLabels values must be strings");
      }
      Requirement r{it.key(), Requirement::Op::kEquals, {it.value().get<std::string>()}};
      auto errs = ValidateRequirement(r);
      if (!errs.empty()) return absl::InvalidArgumentError(AggregateMessage(errs));
      sel.requirements_.push_back(std::move(r));
    }
  }
  auto me = selector.find("matchExpressions");
  if (me != selector.end() && !me->is_null()) {
    if (!me->is_array()) return absl::InvalidArgumentError("matchExpressions must be an array");
    for (const Json& expr : *me) {
      if (!expr.is_object()) {
        return absl::InvalidArgumentError("matchExpressions items must be objects");
      }
      Requirement r;
      auto k = expr.find("key");
      if (k != expr.end() && k->is_string()) r.key = k->get<std::string>();
      std::string op;
      auto o = expr.find("operator");
      if (o != expr.end() && o->is_string()) op = o->get<std::string>();
      if (op == "In") {
        r.op = Requirement::Op::kIn;
      } else if (op == "NotIn") {
        r.op = Requirement::Op::kNotIn;
      } else if (op == "Exists") {
        r.op = Requirement::Op::kExists;
      } else if (op == "DoesNotExist") {
        r.op = Requirement::Op::kDoesNotExist;
      } else {
        return absl::InvalidArgumentError(GoQuote(op) + " is not a valid label selector operator");
      }
      auto v = expr.find("values");
      if (v != expr.end() && !v->is_null()) {
        if (!v->is_array()) return absl::InvalidArgumentError("values must be an array");
        for (const Json& s : *v) {
          if (!s.is_string()) return absl::InvalidArgumentError("values must be strings");
          r.values.push_back(s.get<std::string>());
        }
      }
      auto errs = ValidateRequirement(r);
      if (!errs.empty()) return absl::InvalidArgumentError(AggregateMessage(errs));
      if (r.op == Requirement::Op::kIn || r.op == Requirement::Op::kNotIn) SortUnique(r.values);
      sel.requirements_.push_back(std::move(r));
    }
  }
  SortByKey(sel.requirements_);
  return sel;
}

bool LabelSelector::Matches(const Json& labels) const {
  if (nothing_) return false;
  for (const Requirement& r : requirements_) {
    const Json* v = LabelValue(labels, r.key);
    std::string value = v ? ScalarText(*v) : "";
    switch (r.op) {
      case Requirement::Op::kEquals:
      case Requirement::Op::kIn:
        if (!v || !HasValue(r, value)) return false;
        break;
      case Requirement::Op::kNotEquals:
      case Requirement::Op::kNotIn:
        if (v && HasValue(r, value)) return false;
        break;
      case Requirement::Op::kExists:
        if (!v) return false;
        break;
      case Requirement::Op::kDoesNotExist:
        if (v) return false;
        break;
      case Requirement::Op::kGreaterThan:
      case Requirement::Op::kLessThan: {
        long long have, want;
        if (!v || r.values.size() != 1 || !ParseInt64(value, &have) ||
            !ParseInt64(r.values[0], &want)) {
          return false;
        }
        if (r.op == Requirement::Op::kGreaterThan ? !(have > want) : !(have < want)) {
          return false;
        }
        break;
      }
    }
  }
  return true;
}

std::string LabelSelector::String() const {
  std::vector<std::string> parts;
  for (const auto& r : requirements_) parts.push_back(RequirementString(r));
  return Join(parts, ",");
}

absl::StatusOr<FieldSelector> FieldSelector::Parse(std::string_view selector) {
  std::vector<std::string> parts = SplitTerms(selector);
  std::sort(parts.begin(), parts.end());
  FieldSelector sel;
  for (const auto& part : parts) {
    if (part.empty()) continue;
    std::string lhs, op, rhs;
    if (!SplitTerm(part, &lhs, &op, &rhs)) {
      return absl::InvalidArgumentError("invalid selector: '" + std::string(selector) +
                                        "'; can't understand '" + part + "'");
    }
    auto value = UnescapeValue(rhs);
    if (!value.ok()) return value.status();
    Requirement r;
    r.key = lhs;
    r.op = op == "!=" ? Requirement::Op::kNotEquals : Requirement::Op::kEquals;
    r.values = {*std::move(value)};
    sel.requirements_.push_back(std::move(r));
  }
  return sel;
}

bool FieldSelector::Matches(const Json& object) const {
  for (const Requirement& r : requirements_) {
    const Json* v = FieldByPath(object, r.key);
    std::string value = v ? ScalarText(*v) : "";
    bool eq = !r.values.empty() && value == r.values[0];
    if (r.op == Requirement::Op::kEquals ? !eq : eq) return false;
  }
  return true;
}

const std::string* FieldSelector::RequiredValue(std::string_view field) const {
  for (const Requirement& r : requirements_) {
    if (r.op == Requirement::Op::kEquals && r.key == field && !r.values.empty()) {
      return &r.values[0];
    }
  }
  return nullptr;
}

std::string FieldSelector::String() const {
  std::vector<std::string> parts;
  for (const auto& r : requirements_) {
    parts.push_back(r.key + (r.op == Requirement::Op::kNotEquals ? "!=" : "=") +
                    EscapeValue(r.values.empty() ? "" : r.values[0]));
  }
  return Join(parts, ",");
}

absl::Status FieldSelector::CheckFields(const std::vector<std::string>& supported) const {
  for (const Requirement& r : requirements_) {
    if (std::find(supported.begin(), supported.end(), r.key) == supported.end()) {
      return absl::InvalidArgumentError("field label not supported: " + r.key);
    }
  }
  return absl::OkStatus();
}

}  // namespace kfaas::kube
