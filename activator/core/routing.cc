#include "activator/core/routing.h"

#include <cctype>

namespace kfaas::activator {
namespace {

char LowerChar(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (LowerChar(a[i]) != LowerChar(b[i])) return false;
  }
  return true;
}

// A segment that decodes (percent-decoding %2e only) to "." or "..".
bool IsDotSegment(std::string_view seg) {
  int dots = 0;
  for (size_t i = 0; i < seg.size();) {
    if (seg[i] == '.') {
      ++dots;
      ++i;
    } else if (i + 3 <= seg.size() && seg[i] == '%' && IEquals(seg.substr(i, 3), "%2e")) {
      ++dots;
      i += 3;
    } else {
      return false;
    }
  }
  return dots == 1 || dots == 2;
}

}  // namespace

std::string NormalizeHost(std::string_view host) {
  std::string out;
  if (!host.empty() && host.front() == '[') {
    auto close = host.find(']');
    host = host.substr(0, close == std::string_view::npos ? host.size() : close + 1);
  } else if (auto colon = host.rfind(':'); colon != std::string_view::npos) {
    host = host.substr(0, colon);
  }
  while (!host.empty() && host.back() == '.') host.remove_suffix(1);
  out.reserve(host.size());
  for (char c : host) out.push_back(LowerChar(c));
  return out;
}

bool IsDnsLabel(std::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (!alnum && !(c == '-' && i > 0 && i + 1 < s.size())) return false;
  }
  return true;
}

std::string CheckPathSafety(std::string_view path) {
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    std::string_view seg = path.substr(start, slash - start);
    if (IsDotSegment(seg)) return "the path holds a '.' or '..' segment";
    start = slash + 1;
  }
  for (size_t i = 0; i < path.size(); ++i) {
    char c = path[i];
    if (c == '\\') return "the path holds a backslash";
    if (c == '\0') return "the path holds a NUL byte";
    if (c == '%') {
      if (i + 2 >= path.size() || !std::isxdigit(static_cast<unsigned char>(path[i + 1])) ||
          !std::isxdigit(static_cast<unsigned char>(path[i + 2]))) {
        return "the path holds a malformed percent-escape";
      }
      std::string_view esc = path.substr(i, 3);
      if (IEquals(esc, "%2f") || IEquals(esc, "%5c")) {
        return "the path holds an encoded slash or backslash";
      }
      if (esc == "%00") return "the path holds an encoded NUL";
      if (esc == "%25" && i + 4 < path.size()) {
        std::string_view next = path.substr(i + 3, 2);
        if (IEquals(next, "2e") || IEquals(next, "2f") || IEquals(next, "5c")) {
          return "the path holds a double-encoded '.', '/' or '\\'";
        }
      }
    }
  }
  return "";
}

PathRoute ParseFnPath(std::string_view target) {
  PathRoute r;
  constexpr std::string_view kPrefix = "/fn/";
  if (target.substr(0, kPrefix.size()) != kPrefix) {
    if (target == "/fn") {
      r.result = PathRoute::Result::kBad;
      r.error = "expected /fn/<namespace>/<name>/<path>";
    }
    return r;
  }
  r.result = PathRoute::Result::kBad;
  size_t q = target.find('?');
  std::string_view path = target.substr(0, q);
  std::string_view query = q == std::string_view::npos ? std::string_view() : target.substr(q);
  std::string_view rest = path.substr(kPrefix.size());
  size_t s1 = rest.find('/');
  if (s1 == std::string_view::npos) {
    r.error = "expected /fn/<namespace>/<name>/<path>";
    return r;
  }
  r.ns = rest.substr(0, s1);
  rest = rest.substr(s1 + 1);
  size_t s2 = rest.find('/');
  r.name = rest.substr(0, s2);
  rest = s2 == std::string_view::npos ? std::string_view() : rest.substr(s2);
  if (!IsDnsLabel(r.ns) || !IsDnsLabel(r.name)) {
    r.error =
        "namespace and name in /fn/<namespace>/<name>/ must be DNS-1123 labels "
        "(lower-case letters, digits and '-')";
    return r;
  }
  if (std::string why = CheckPathSafety(rest); !why.empty()) {
    r.error = why;
    return r;
  }
  r.target.reserve(rest.size() + query.size() + 1);
  if (rest.empty()) r.target = "/";
  r.target.append(rest).append(query);
  r.result = PathRoute::Result::kMatch;
  return r;
}

}  // namespace kfaas::activator
