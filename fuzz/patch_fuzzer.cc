// Fuzzes the API server's patch logic (local/apiserver/patch.h and RFC 7386 as the server
// applies it). Input: the first byte picks a kind, then two JSON documents separated by a NUL:
// the original object and the patch. Invariants: strategic merge patch, JSON merge patch and
// server-side apply return a result or an error, never crash; a strategic merge patch of an
// object with an empty patch returns the object.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <nlohmann/json.hpp>

#include "local/apiserver/patch.h"

using Json = nlohmann::json;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const char* kKinds[] = {"Pod",           "Deployment", "Service",  "Endpoints",
                                 "EndpointSlice", "ConfigMap",  "Secret",   "Namespace",
                                 "Event",         "Lease",      "Function", "Scale"};
  if (size < 2) return 0;
  std::string_view kind = kKinds[data[0] % (sizeof(kKinds) / sizeof(kKinds[0]))];
  std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  size_t nul = rest.find('\0');
  if (nul == std::string_view::npos) return 0;
  Json original = Json::parse(rest.substr(0, nul), nullptr, false);
  Json patch = Json::parse(rest.substr(nul + 1), nullptr, false);
  if (original.is_discarded() || patch.is_discarded()) return 0;

  auto smp = kfaas::local::StrategicMergePatch(original, patch, kind);
  if (smp.ok()) (void)smp->dump();
  if (original.is_object()) {
    auto same = kfaas::local::StrategicMergePatch(original, Json::object(), kind);
    if (!same.ok() || *same != original) abort();
  }
  Json merged = original;
  merged.merge_patch(patch);

  kfaas::WallTime now{};
  Json live = original.is_object() ? original : Json();
  if (patch.is_object()) {
    auto applied = kfaas::local::ServerSideApply(live, patch, "fuzz", data[0] & 1, kind, now);
    if (applied.ok()) {
      Json after = *applied;
      kfaas::local::RecordUpdateManager(live, after, "fuzz-update", "v1", now);
    }
  }
  return 0;
}
