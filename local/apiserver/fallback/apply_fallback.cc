// Stand-in for ServerSideApply until the API-logic implementation lands (server.cmake compiles
// this only when neither patch.cc nor apply.cc exists): a merge without ownership tracking.
#include "local/apiserver/patch.h"

namespace kfaas::local {

absl::StatusOr<Json> ServerSideApply(const Json& live, const Json& applied, std::string_view, bool,
                                     std::string_view, WallTime) {
  if (live.is_null()) return applied;
  Json out = live;
  out.merge_patch(applied);
  return out;
}

}  // namespace kfaas::local
