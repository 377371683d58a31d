// Routing: which function a request is for, by Host header or by path.
//
//   Host  <name>.<namespace>.<domain>, or any of the function's spec.hosts: the path is
//         forwarded unchanged.
//   Path  /fn/<namespace>/<name>/<rest...>?<query>: forwarded as /<rest...>?<query>.
//
// Host routing wins when the Host names a function. A path route's namespace and name must be
// DNS-1123 labels (so no percent-encoding, dots or slashes can smuggle another function's name
// in), and its rest may not hold dot segments (raw or percent-encoded), encoded slashes or
// backslashes, backslashes or NULs: such a request is refused with 400 rather than forwarded.
//
// RouteTable is an immutable snapshot; the registry builds a new one on every Function change
// and swaps it in atomically, so lookups never lock.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace kfaas::activator {

// "Example.COM:8080." -> "example.com"; "[::1]:80" -> "[::1]".
std::string NormalizeHost(std::string_view host);

// True for a DNS-1123 label: [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63 characters.
bool IsDnsLabel(std::string_view s);

struct PathRoute {
  enum class Result { kNoMatch, kMatch, kBad };
  Result result = Result::kNoMatch;
  std::string_view ns;    // into the target
  std::string_view name;  // into the target
  std::string target;     // the rewritten target: "/rest?query" ("/" when empty)
  std::string error;      // for kBad: why
};

// Parses an origin-form target for the /fn/ prefix. kNoMatch when it does not start with
// "/fn/"; kBad when it does but is malformed or tries a traversal trick.
PathRoute ParseFnPath(std::string_view target);

// Checks a forwarded path (no query) for traversal tricks; "" when fine, else the reason.
std::string CheckPathSafety(std::string_view path);

// Host and path lookup tables to per-function values (the registry uses its FunctionState).
template <typename T>
class RouteTable {
 public:
  struct Entry {
    std::string ns, name;
    std::vector<std::string> hosts;  // extra hosts (already normalized)
    std::shared_ptr<T> value;
  };
  RouteTable() = default;
  // Entries oldest claim first. A function's generated host <name>.<namespace>.<domain> is
  // always its own: no other function's spec.hosts can take it, whatever the order. Of the
  // spec.hosts, the first claim wins. `domain` e.g. "kfaas.local".
  RouteTable(const std::vector<Entry>& entries, std::string_view domain,
             std::vector<std::string>* conflicts = nullptr) {
    for (const auto& e : entries) {
      by_key_.emplace(e.ns + "/" + e.name, e.value);
      by_host_.emplace(e.name + "." + e.ns + "." + std::string(domain), e.value);
    }
    for (const auto& e : entries) {
      for (const auto& h : e.hosts) {
        auto [it, inserted] = by_host_.emplace(h, e.value);
        if (!inserted && it->second != e.value && conflicts) {
          conflicts->push_back(h + " claimed by " + e.ns + "/" + e.name + " is already routed");
        }
      }
    }
  }
  // `host` normalized.
  std::shared_ptr<T> ByHost(std::string_view host) const {
    auto it = by_host_.find(host);
    return it == by_host_.end() ? nullptr : it->second;
  }
  std::shared_ptr<T> ByName(std::string_view ns, std::string_view name) const {
    std::string key;
    key.reserve(ns.size() + name.size() + 1);
    key.append(ns).append("/").append(name);
    auto it = by_key_.find(std::string_view(key));
    return it == by_key_.end() ? nullptr : it->second;
  }
  size_t size() const { return by_key_.size(); }

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using Map = std::unordered_map<std::string, std::shared_ptr<T>, Hash, std::equal_to<>>;
  Map by_host_;
  Map by_key_;
};

}  // namespace kfaas::activator
