// Stand-in for StrategicMergePatch until the API-logic implementation lands (server.cmake
// compiles this only when neither patch.cc nor strategic_merge.cc exists): RFC 7386 merge.
#include "local/apiserver/patch.h"

namespace kfaas::local {

absl::StatusOr<Json> StrategicMergePatch(const Json& original, const Json& patch,
                                         std::string_view) {
  Json out = original;
  out.merge_patch(patch);
  return out;
}

}  // namespace kfaas::local
