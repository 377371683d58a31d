// Stand-in for RecordUpdateManager until the API-logic implementation lands (server.cmake
// compiles this only when neither patch.cc nor managed_fields.cc exists): records nothing.
#include "local/apiserver/patch.h"

namespace kfaas::local {

void RecordUpdateManager(const Json&, Json&, std::string_view, std::string_view, WallTime) {}

}  // namespace kfaas::local
