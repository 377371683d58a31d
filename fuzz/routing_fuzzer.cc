// Fuzzes the activator's routing (activator/core/routing.h): arbitrary request targets and
// Host headers. Invariants: a /fn/ match has DNS-label namespace and name and a rewritten target
// that starts with '/', and the forwarded path, percent-decoded once as a backend would, holds no
// "." or ".." segment, backslash or NUL (one function cannot reach another's routes or escape
// its prefix).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "activator/core/routing.h"

namespace {

int Hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string DecodeOnce(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && Hex(s[i + 1]) >= 0 && Hex(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(Hex(s[i + 1]) * 16 + Hex(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using kfaas::activator::PathRoute;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  // "host\ntarget" or just a target.
  std::string_view host, target = in;
  if (auto nl = in.find('\n'); nl != std::string_view::npos) {
    host = in.substr(0, nl);
    target = in.substr(nl + 1);
  }
  std::string h = kfaas::activator::NormalizeHost(host);
  (void)kfaas::activator::IsDnsLabel(h);
  (void)kfaas::activator::CheckPathSafety(target);

  PathRoute r = kfaas::activator::ParseFnPath(target);
  if (r.result == PathRoute::Result::kBad && r.error.empty()) abort();
  if (r.result != PathRoute::Result::kMatch) return 0;
  if (!kfaas::activator::IsDnsLabel(r.ns) || !kfaas::activator::IsDnsLabel(r.name)) abort();
  if (r.target.empty() || r.target[0] != '/') abort();
  std::string_view path(r.target);
  path = path.substr(0, path.find('?'));
  if (!kfaas::activator::CheckPathSafety(path).empty()) abort();
  std::string decoded = DecodeOnce(path);
  if (decoded.find('\\') != std::string::npos || decoded.find('\0') != std::string::npos) {
    abort();
  }
  size_t start = 0;
  while (start <= decoded.size()) {
    size_t slash = decoded.find('/', start);
    if (slash == std::string::npos) slash = decoded.size();
    std::string_view seg = std::string_view(decoded).substr(start, slash - start);
    if (seg == "." || seg == "..") abort();
    start = slash + 1;
  }
  return 0;
}
