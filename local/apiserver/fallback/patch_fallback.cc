// Stand-in for patch.cc until the API-logic implementation lands (server.cmake compiles this
// file only when local/apiserver/patch.cc does not exist): RFC 7386 merge semantics, no
// ownership tracking.
#include "local/apiserver/patch.h"

namespace kfaas::local {

absl::StatusOr<Json> StrategicMergePatch(const Json& original, const Json& patch,
                                         std::string_view) {
  Json out = original;
  out.merge_patch(patch);
  return out;
}

absl::StatusOr<Json> ServerSideApply(const Json& live, const Json& applied, std::string_view, bool,
                                     std::string_view, WallTime) {
  if (live.is_null()) return applied;
  Json out = live;
  out.merge_patch(applied);
  return out;
}

void RecordUpdateManager(const Json&, Json&, std::string_view, std::string_view, WallTime) {}

}  // namespace kfaas::local
