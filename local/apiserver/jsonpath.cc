// A kubectl-compatible JSONPath evaluator (the subset of client-go util/jsonpath that printer
// columns and `kubectl -o jsonpath` templates use).
#include <memory>
#include <optional>
#include <variant>

#include "absl/status/status.h"
#include "local/apiserver/go_format.h"
#include "local/apiserver/table.h"

namespace kfaas::local {
namespace {

constexpr int kMaxNesting = 16;         // filters within filters, ranges within ranges
constexpr size_t kMaxResults = 100000;  // bounds work on hostile paths such as "..*..*..*"

struct Step;
using Path = std::vector<Step>;

struct Operand {
  bool is_path = false;
  bool absolute = false;  // $... (else relative to the filtered element, @...)
  std::shared_ptr<Path> path;
  Json literal;
};

struct Step {
  enum class Kind { kField, kWildcard, kRecursive, kSlice, kFieldUnion, kIndexUnion, kFilter };
  Kind kind = Kind::kField;
  std::string name;                  // kField
  std::vector<std::string> names;    // kFieldUnion
  std::vector<long long> indexes;    // kIndexUnion
  std::optional<long long> start, end, step;  // kSlice
  bool single_index = false;         // kSlice written as [n]
  std::string op;                    // kFilter: "exists", "==", ...
  Operand left, right;               // kFilter
};

struct Segment {
  enum class Kind { kText, kExpr, kRange, kEnd };
  Kind kind = Kind::kText;
  std::string text;   // kText (also string literals inside {})
  bool root = false;  // kExpr/kRange: $ (the root); otherwise the current range element
  Path path;
};

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
bool IsTerminator(char c) {
  return IsSpace(c) || c == '.' || c == ',' || c == '[' || c == ']' || c == '$' || c == '@' ||
         c == '{' || c == '}';
}

class Parser {
 public:
  Parser(const std::string& s, int nesting) : s_(s), nesting_(nesting) {}

  absl::StatusOr<std::vector<Segment>> ParseTemplate() {
    std::vector<Segment> out;
    std::string text;
    while (pos_ < s_.size()) {
      if (s_[pos_] != '{') {
        text.push_back(s_[pos_++]);
        continue;
      }
      if (!text.empty()) out.push_back({Segment::Kind::kText, std::move(text), false, {}});
      text.clear();
      ++pos_;
      auto seg = ParseAction();
      if (!seg.ok()) return seg.status();
      out.push_back(*std::move(seg));
    }
    if (!text.empty()) out.push_back({Segment::Kind::kText, std::move(text), false, {}});
    return out;
  }

  // A whole string that is one operand of a filter: a path, a quoted string, a number or a
  // boolean.
  absl::StatusOr<Operand> ParseOperand() {
    SkipSpaces();
    Operand op;
    if (pos_ < s_.size() && (s_[pos_] == '\'' || s_[pos_] == '"')) {
      auto str = ParseQuoted();
      if (!str.ok()) return str.status();
      op.literal = *str;
    } else if (pos_ < s_.size() && (s_[pos_] == '@' || s_[pos_] == '$' || s_[pos_] == '.')) {
      op.is_path = true;
      op.absolute = s_[pos_] == '$';
      if (s_[pos_] == '@' || s_[pos_] == '$') ++pos_;
      auto p = ParsePath();
      if (!p.ok()) return p.status();
      op.path = std::make_shared<Path>(*std::move(p));
    } else {
      size_t start = pos_;
      while (pos_ < s_.size() && !IsSpace(s_[pos_])) ++pos_;
      std::string word = s_.substr(start, pos_ - start);
      if (word == "true" || word == "false") {
        op.literal = word == "true";
      } else {
        Json n = Json::parse(word, nullptr, /*allow_exceptions=*/false);
        if (n.is_discarded() || !n.is_number()) {
          return absl::InvalidArgumentError("unrecognized character in action: " + word);
        }
        op.literal = n;
      }
    }
    SkipSpaces();
    if (pos_ != s_.size()) {
      return absl::InvalidArgumentError("unexpected text in filter: " + s_.substr(pos_));
    }
    return op;
  }

 private:
  void SkipSpaces() {
    while (pos_ < s_.size() && IsSpace(s_[pos_])) ++pos_;
  }

  absl::StatusOr<std::string> ParseQuoted() {
    char q = s_[pos_++];
    std::string out;
    while (pos_ < s_.size() && s_[pos_] != q) {
      char c = s_[pos_++];
      if (c == '\\' && pos_ < s_.size()) {
        char e = s_[pos_++];
        switch (e) {
          case 'n':
            out.push_back('\n');
            break;
          case 't':
            out.push_back('\t');
            break;
          case 'r':
            out.push_back('\r');
            break;
          default:
            out.push_back(e);
        }
        continue;
      }
      out.push_back(c);
    }
    if (pos_ >= s_.size()) return absl::InvalidArgumentError("unterminated quoted string");
    ++pos_;
    return out;
  }

  absl::StatusOr<Segment> ParseAction() {
    SkipSpaces();
    Segment seg;
    if (pos_ < s_.size() && s_[pos_] == '"') {
      auto str = ParseQuoted();
      if (!str.ok()) return str.status();
      seg.kind = Segment::Kind::kText;
      seg.text = *str;
    } else if (s_.compare(pos_, 3, "end") == 0 &&
               (pos_ + 3 == s_.size() || IsTerminator(s_[pos_ + 3]))) {
      pos_ += 3;
      seg.kind = Segment::Kind::kEnd;
    } else {
      if (s_.compare(pos_, 5, "range") == 0 && pos_ + 5 < s_.size() && IsSpace(s_[pos_ + 5])) {
        pos_ += 5;
        seg.kind = Segment::Kind::kRange;
        SkipSpaces();
      } else {
        seg.kind = Segment::Kind::kExpr;
      }
      if (pos_ < s_.size() && s_[pos_] == '@') {
        ++pos_;
      } else if (pos_ < s_.size() && s_[pos_] == '$') {
        seg.root = true;
        ++pos_;
      }
      auto p = ParsePath();
      if (!p.ok()) return p.status();
      seg.path = *std::move(p);
    }
    SkipSpaces();
    if (pos_ >= s_.size() || s_[pos_] != '}') {
      return absl::InvalidArgumentError("unclosed action");
    }
    ++pos_;
    return seg;
  }

  absl::StatusOr<std::string> ParseIdentifier() {
    size_t start = pos_;
    while (pos_ < s_.size() && !IsTerminator(s_[pos_])) ++pos_;
    return s_.substr(start, pos_ - start);
  }

  absl::StatusOr<Path> ParsePath() {
    Path path;
    while (pos_ < s_.size()) {
      char c = s_[pos_];
      if (c == '.') {
        if (pos_ + 1 < s_.size() && s_[pos_ + 1] == '.') {
          pos_ += 2;
          Step r;
          r.kind = Step::Kind::kRecursive;
          path.push_back(r);
          if (pos_ < s_.size() && s_[pos_] == '[') continue;
        } else {
          ++pos_;
        }
        if (pos_ < s_.size() && s_[pos_] == '*') {
          ++pos_;
          Step w;
          w.kind = Step::Kind::kWildcard;
          path.push_back(w);
          continue;
        }
        if (pos_ < s_.size() && s_[pos_] == '[') continue;
        auto id = ParseIdentifier();
        if (!id.ok()) return id.status();
        if (id->empty()) {
          if (path.empty() || path.back().kind == Step::Kind::kRecursive) {
            // "{.}" is the current object.
            if (!path.empty()) return absl::InvalidArgumentError("invalid recursive descent");
            continue;
          }
          return absl::InvalidArgumentError("invalid field name after '.'");
        }
        Step f;
        f.kind = Step::Kind::kField;
        f.name = *id;
        path.push_back(f);
      } else if (c == '[') {
        auto st = ParseBracket();
        if (!st.ok()) return st.status();
        path.push_back(*std::move(st));
      } else if (c == '*') {
        ++pos_;
        Step w;
        w.kind = Step::Kind::kWildcard;
        path.push_back(w);
      } else {
        break;
      }
    }
    return path;
  }

  absl::StatusOr<Step> ParseBracket() {
    ++pos_;  // '['
    size_t close = FindBracketClose();
    if (close == std::string::npos) return absl::InvalidArgumentError("unterminated array");
    std::string inner = s_.substr(pos_, close - pos_);
    pos_ = close + 1;
    Step st;
    if (inner == "*") {
      st.kind = Step::Kind::kWildcard;
      return st;
    }
    if (inner.size() >= 3 && inner[0] == '?' && inner[1] == '(' && inner.back() == ')') {
      if (nesting_ >= kMaxNesting) return absl::InvalidArgumentError("filters nested too deeply");
      std::string expr = inner.substr(2, inner.size() - 3);
      st.kind = Step::Kind::kFilter;
      // client-go splits at the first run of comparison characters outside quotes.
      size_t op_start = std::string::npos;
      char quote = 0;
      for (size_t i = 0; i < expr.size(); ++i) {
        char c = expr[i];
        if (quote) {
          if (c == quote) quote = 0;
          continue;
        }
        if (c == '\'' || c == '"') {
          quote = c;
          continue;
        }
        if (c == '!' || c == '<' || c == '>' || c == '=') {
          op_start = i;
          break;
        }
      }
      std::string left = expr, right;
      if (op_start == std::string::npos) {
        st.op = "exists";
      } else {
        size_t op_end = op_start;
        while (op_end < expr.size() && std::string("!<>=").find(expr[op_end]) != std::string::npos) {
          ++op_end;
        }
        st.op = expr.substr(op_start, op_end - op_start);
        if (st.op != "==" && st.op != "!=" && st.op != "<" && st.op != "<=" && st.op != ">" &&
            st.op != ">=") {
          return absl::InvalidArgumentError("unrecognized filter operator " + st.op);
        }
        left = expr.substr(0, op_start);
        right = expr.substr(op_end);
      }
      Parser lp(left, nesting_ + 1);
      auto l = lp.ParseOperand();
      if (!l.ok()) return l.status();
      st.left = *std::move(l);
      if (st.op != "exists") {
        Parser rp(right, nesting_ + 1);
        auto r = rp.ParseOperand();
        if (!r.ok()) return r.status();
        st.right = *std::move(r);
      }
      return st;
    }
    if (!inner.empty() && (inner[0] == '\'' || inner[0] == '"')) {
      st.kind = Step::Kind::kFieldUnion;
      size_t i = 0;
      while (i < inner.size()) {
        while (i < inner.size() && IsSpace(inner[i])) ++i;
        if (i >= inner.size() || (inner[i] != '\'' && inner[i] != '"')) {
          return absl::InvalidArgumentError("invalid array index " + inner);
        }
        char q = inner[i++];
        size_t end = inner.find(q, i);
        if (end == std::string::npos) return absl::InvalidArgumentError("unterminated quote");
        st.names.push_back(inner.substr(i, end - i));
        i = end + 1;
        while (i < inner.size() && IsSpace(inner[i])) ++i;
        if (i < inner.size()) {
          if (inner[i] != ',') return absl::InvalidArgumentError("invalid array index " + inner);
          ++i;
        }
      }
      return st;
    }
    if (inner.find(',') != std::string::npos) {
      st.kind = Step::Kind::kIndexUnion;
      size_t start = 0;
      while (true) {
        size_t comma = inner.find(',', start);
        std::string part = inner.substr(start, comma == std::string::npos ? std::string::npos
                                                                          : comma - start);
        auto n = ParseInt(part);
        if (!n) return absl::InvalidArgumentError("invalid array index " + part);
        st.indexes.push_back(*n);
        if (comma == std::string::npos) break;
        start = comma + 1;
      }
      return st;
    }
    st.kind = Step::Kind::kSlice;
    std::vector<std::string> parts;
    size_t start = 0;
    while (true) {
      size_t colon = inner.find(':', start);
      parts.push_back(inner.substr(start, colon == std::string::npos ? std::string::npos
                                                                     : colon - start));
      if (colon == std::string::npos) break;
      start = colon + 1;
    }
    if (parts.size() > 3) return absl::InvalidArgumentError("invalid array index " + inner);
    std::optional<long long>* slots[] = {&st.start, &st.end, &st.step};
    for (size_t i = 0; i < parts.size(); ++i) {
      std::string t = parts[i];
      while (!t.empty() && IsSpace(t.back())) t.pop_back();
      while (!t.empty() && IsSpace(t.front())) t.erase(0, 1);
      if (t.empty()) continue;
      auto n = ParseInt(t);
      if (!n) return absl::InvalidArgumentError("invalid array index " + t);
      *slots[i] = *n;
    }
    if (parts.size() == 1) {
      if (!st.start) return absl::InvalidArgumentError("invalid array index " + inner);
      st.single_index = true;
    }
    return st;
  }

  static std::optional<long long> ParseInt(std::string t) {
    while (!t.empty() && IsSpace(t.back())) t.pop_back();
    while (!t.empty() && IsSpace(t.front())) t.erase(0, 1);
    if (t.empty() || t.size() > 18) return std::nullopt;
    size_t i = t[0] == '-' ? 1 : 0;
    if (i == t.size()) return std::nullopt;
    for (size_t j = i; j < t.size(); ++j) {
      if (t[j] < '0' || t[j] > '9') return std::nullopt;
    }
    return std::stoll(t);
  }

  // The ']' closing the bracket opened just before pos_, skipping quotes and nested brackets.
  size_t FindBracketClose() const {
    int depth = 0;
    char quote = 0;
    for (size_t i = pos_; i < s_.size(); ++i) {
      char c = s_[i];
      if (quote) {
        if (c == quote) quote = 0;
        continue;
      }
      if (c == '\'' || c == '"') {
        quote = c;
      } else if (c == '[') {
        ++depth;
      } else if (c == ']') {
        if (depth == 0) return i;
        --depth;
      }
    }
    return std::string::npos;
  }

  const std::string& s_;
  size_t pos_ = 0;
  int nesting_;
};

// ---- evaluation ----

class Evaluator {
 public:
  explicit Evaluator(const Json& root) : root_(root) {}

  std::vector<const Json*> Eval(const Path& path, std::vector<const Json*> cur, int nesting) {
    for (const Step& st : path) {
      std::vector<const Json*> next;
      switch (st.kind) {
        case Step::Kind::kField:
          for (const Json* v : cur) {
            if (!v->is_object()) continue;
            auto it = v->find(st.name);
            if (it != v->end()) Push(next, &*it);
          }
          break;
        case Step::Kind::kWildcard:
          for (const Json* v : cur) {
            if (v->is_object() || v->is_array()) {
              for (const auto& e : *v) Push(next, &e);
            }
          }
          break;
        case Step::Kind::kRecursive:
          for (const Json* v : cur) Descendants(v, next);
          break;
        case Step::Kind::kFieldUnion:
          for (const Json* v : cur) {
            if (!v->is_object()) continue;
            for (const auto& n : st.names) {
              auto it = v->find(n);
              if (it != v->end()) Push(next, &*it);
            }
          }
          break;
        case Step::Kind::kIndexUnion:
          for (const Json* v : cur) {
            if (!v->is_array()) continue;
            long long len = static_cast<long long>(v->size());
            for (long long i : st.indexes) {
              if (i < 0) i += len;
              if (i >= 0 && i < len) Push(next, &(*v)[static_cast<size_t>(i)]);
            }
          }
          break;
        case Step::Kind::kSlice:
          for (const Json* v : cur) Slice(st, v, next);
          break;
        case Step::Kind::kFilter:
          for (const Json* v : cur) Filter(st, v, next, nesting);
          break;
      }
      cur = std::move(next);
      if (cur.empty()) break;
    }
    return cur;
  }

 private:
  void Push(std::vector<const Json*>& out, const Json* v) {
    if (out.size() < kMaxResults) out.push_back(v);
  }

  // The value itself and everything below it, in document order (iteratively).
  void Descendants(const Json* v, std::vector<const Json*>& out) {
    std::vector<const Json*> stack{v};
    while (!stack.empty() && out.size() < kMaxResults) {
      const Json* j = stack.back();
      stack.pop_back();
      out.push_back(j);
      if (j->is_object() || j->is_array()) {
        std::vector<const Json*> kids;
        for (const auto& e : *j) kids.push_back(&e);
        for (auto it = kids.rbegin(); it != kids.rend(); ++it) stack.push_back(*it);
      }
    }
  }

  void Slice(const Step& st, const Json* v, std::vector<const Json*>& out) {
    if (!v->is_array()) return;
    long long len = static_cast<long long>(v->size());
    if (st.single_index) {
      long long i = *st.start;
      if (i < 0) i += len;
      if (i >= 0 && i < len) Push(out, &(*v)[static_cast<size_t>(i)]);
      return;
    }
    long long start = st.start.value_or(0);
    long long end = st.end.value_or(len);
    long long step = st.step.value_or(1);
    if (start < 0) start += len;
    if (end < 0) end += len;
    start = std::max(0LL, std::min(start, len));
    end = std::max(0LL, std::min(end, len));
    if (step <= 0) step = 1;
    for (long long i = start; i < end; i += step) Push(out, &(*v)[static_cast<size_t>(i)]);
  }

  std::optional<Json> Resolve(const Operand& op, const Json* element, int nesting, bool* many) {
    *many = false;
    if (!op.is_path) return op.literal;
    std::vector<const Json*> start{op.absolute ? &root_ : element};
    auto res = Eval(*op.path, start, nesting + 1);
    if (res.empty()) return std::nullopt;
    if (res.size() > 1) *many = true;
    return *res[0];
  }

  static bool Compare(const Json& a, const std::string& op, const Json& b) {
    if (a.is_number() && b.is_number()) {
      double x = gofmt::AsDouble(a), y = gofmt::AsDouble(b);
      if (gofmt::IsInt(a) && gofmt::IsInt(b)) {
        long long i = gofmt::AsInt(a), j = gofmt::AsInt(b);
        if (op == "==") return i == j;
        if (op == "!=") return i != j;
        if (op == "<") return i < j;
        if (op == "<=") return i <= j;
        if (op == ">") return i > j;
        return i >= j;
      }
      if (op == "==") return x == y;
      if (op == "!=") return x != y;
      if (op == "<") return x < y;
      if (op == "<=") return x <= y;
      if (op == ">") return x > y;
      return x >= y;
    }
    if (a.is_string() && b.is_string()) {
      const auto& x = a.get_ref<const std::string&>();
      const auto& y = b.get_ref<const std::string&>();
      if (op == "==") return x == y;
      if (op == "!=") return x != y;
      if (op == "<") return x < y;
      if (op == "<=") return x <= y;
      if (op == ">") return x > y;
      return x >= y;
    }
    if (op == "==") return a == b;
    if (op == "!=") return a != b;
    return false;
  }

  void Filter(const Step& st, const Json* v, std::vector<const Json*>& out, int nesting) {
    if (!v->is_array() && !v->is_object()) return;
    for (const auto& e : *v) {
      bool many = false;
      auto left = Resolve(st.left, &e, nesting, &many);
      if (st.op == "exists") {
        if (left) Push(out, &e);
        continue;
      }
      if (!left || many) continue;
      auto right = Resolve(st.right, &e, nesting, &many);
      if (!right || many) continue;
      if (Compare(*left, st.op, *right)) Push(out, &e);
    }
  }

  const Json& root_;
};

// How client-go prints one result: strings raw, scalars with %v, objects and arrays as JSON.
std::string ResultText(const Json& v) {
  switch (v.type()) {
    case Json::value_t::string:
      return v.get<std::string>();
    case Json::value_t::null:
      return "";
    case Json::value_t::number_float:
      return gofmt::FloatV(v.get<double>());
    case Json::value_t::object:
    case Json::value_t::array:
      return v.dump();
    default:
      return gofmt::SharpV(v);
  }
}

std::string NormalizeTemplate(const std::string& path) {
  // A bare path (".status.url", as CRD printer columns write it) is one action.
  if (path.find('{') == std::string::npos) return "{" + path + "}";
  return path;
}

absl::Status RunTemplate(const std::vector<Segment>& segs, size_t begin, size_t end,
                         const Json& root, const Json* current, std::string& out, int nesting) {
  if (nesting > kMaxNesting) return absl::InvalidArgumentError("range nested too deeply");
  Evaluator ev(root);
  for (size_t i = begin; i < end; ++i) {
    const Segment& seg = segs[i];
    switch (seg.kind) {
      case Segment::Kind::kText:
        out += seg.text;
        break;
      case Segment::Kind::kEnd:
        return absl::InvalidArgumentError("not in range, nothing to end");
      case Segment::Kind::kExpr: {
        std::vector<const Json*> start{seg.root ? &root : current};
        auto res = ev.Eval(seg.path, start, 0);
        for (size_t k = 0; k < res.size(); ++k) {
          if (k) out += ",";
          out += ResultText(*res[k]);
        }
        break;
      }
      case Segment::Kind::kRange: {
        // Find the matching {end}.
        int depth = 0;
        size_t j = i + 1;
        for (; j < end; ++j) {
          if (segs[j].kind == Segment::Kind::kRange) ++depth;
          if (segs[j].kind == Segment::Kind::kEnd) {
            if (depth == 0) break;
            --depth;
          }
        }
        if (j >= end) return absl::InvalidArgumentError("range without matching end");
        std::vector<const Json*> start{seg.root ? &root : current};
        auto res = ev.Eval(seg.path, start, 0);
        for (const Json* item : res) {
          auto s = RunTemplate(segs, i + 1, j, root, item, out, nesting + 1);
          if (!s.ok()) return s;
          if (out.size() > (64u << 20)) return absl::InvalidArgumentError("output too large");
        }
        i = j;
        break;
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<Json>> EvaluateJsonPathValues(const Json& obj,
                                                         const std::string& path) {
  try {
    std::string tmpl = NormalizeTemplate(path);
    Parser p(tmpl, 0);
    auto segs = p.ParseTemplate();
    if (!segs.ok()) return segs.status();
    std::vector<Json> out;
    Evaluator ev(obj);
    for (const Segment& seg : *segs) {
      if (seg.kind != Segment::Kind::kExpr) continue;
      for (const Json* v : ev.Eval(seg.path, {&obj}, 0)) out.push_back(*v);
      break;  // the first expression, as the table convertor's results[0]
    }
    return out;
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(std::string("invalid JSONPath: ") + e.what());
  }
}

absl::StatusOr<std::string> EvaluateJsonPath(const Json& obj, const std::string& path) {
  try {
    std::string tmpl = NormalizeTemplate(path);
    Parser p(tmpl, 0);
    auto segs = p.ParseTemplate();
    if (!segs.ok()) return segs.status();
    std::string out;
    auto s = RunTemplate(*segs, 0, segs->size(), obj, &obj, out, 0);
    if (!s.ok()) return s;
    return out;
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(std::string("invalid JSONPath: ") + e.what());
  }
}

}  // namespace kfaas::local
