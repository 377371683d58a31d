#include "operator/controller/compare.h"

#include <cmath>
#include <cstdlib>

namespace kfaas::op {
namespace {

bool IsEmptyValue(const Json& v) {
  return v.is_null() || (v.is_string() && v.get_ref<const std::string&>().empty()) ||
         (v.is_array() && v.empty()) || (v.is_object() && v.empty());
}

bool QuantitiesEqual(const Json& want, const Json& have) {
  if (want == have) return true;
  auto a = ParseQuantity(want), b = ParseQuantity(have);
  if (!a || !b) return false;
  long double scale = std::max(std::fabs(*a), std::fabs(*b));
  return std::fabs(*a - *b) <= scale * 1e-12L;
}

// "key" + "rest" as a dotted path ("a.b", "a[0]").
std::string Join(const std::string& head, const std::string& rest) {
  if (rest.empty()) return head;
  return head + (rest[0] == '[' ? "" : ".") + rest;
}

enum class Ctx { kNone, kResources, kQuantities };

bool Derive(const Json& want, const Json& have, Ctx ctx, std::string* path) {
  if (IsEmptyValue(want)) return true;
  if (ctx == Ctx::kQuantities && !want.is_object()) return QuantitiesEqual(want, have);
  if (want.is_object()) {
    if (!have.is_object()) return false;
    for (const auto& [k, v] : want.items()) {
      Ctx next = Ctx::kNone;
      if (k == "resources") next = Ctx::kResources;
      if (ctx == Ctx::kResources && (k == "requests" || k == "limits")) next = Ctx::kQuantities;
      if (ctx == Ctx::kQuantities) next = Ctx::kQuantities;
      auto it = have.find(k);
      if (it == have.end()) {
        if (!IsEmptyValue(v)) {
          if (path) *path = Join(k, *path);
          return false;
        }
        continue;
      }
      if (!Derive(v, *it, next, path)) {
        if (path) *path = Join(k, *path);
        return false;
      }
    }
    return true;
  }
  if (want.is_array()) {
    if (!have.is_array() || have.size() != want.size()) return false;
    for (size_t i = 0; i < want.size(); ++i) {
      if (!Derive(want[i], have[i], Ctx::kNone, path)) {
        if (path) *path = Join("[" + std::to_string(i) + "]", *path);
        return false;
      }
    }
    return true;
  }
  return want == have;  // nlohmann compares integers and floats by value
}

}  // namespace

bool IsDerivative(const Json& want, const Json& have, std::string* diff) {
  std::string path;
  bool ok = Derive(want, have, Ctx::kNone, diff ? &path : nullptr);
  if (diff) *diff = path;
  return ok;
}

std::optional<long double> ParseQuantity(const Json& q) {
  if (q.is_number()) return q.get<long double>();
  if (!q.is_string()) return std::nullopt;
  const std::string& s = q.get_ref<const std::string&>();
  if (s.empty()) return std::nullopt;
  const char* begin = s.c_str();
  char* end = nullptr;
  // strtold also reads exponents ("2e3"); suffixes follow.
  long double v = std::strtold(begin, &end);
  if (end == begin) return std::nullopt;
  std::string suffix(end);
  static const std::pair<const char*, long double> kSuffixes[] = {{"", 1},
                                                                  {"n", 1e-9L},
                                                                  {"u", 1e-6L},
                                                                  {"m", 1e-3L},
                                                                  {"k", 1e3L},
                                                                  {"M", 1e6L},
                                                                  {"G", 1e9L},
                                                                  {"T", 1e12L},
                                                                  {"P", 1e15L},
                                                                  {"E", 1e18L},
                                                                  {"Ki", 1024.0L},
                                                                  {"Mi", 1048576.0L},
                                                                  {"Gi", 1073741824.0L},
                                                                  {"Ti", 1099511627776.0L},
                                                                  {"Pi", 1125899906842624.0L},
                                                                  {"Ei", 1152921504606846976.0L}};
  for (const auto& [name, mult] : kSuffixes) {
    if (suffix == name) return v * mult;
  }
  return std::nullopt;
}

}  // namespace kfaas::op
