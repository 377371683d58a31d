// Stand-in for schema.cc until the API-logic implementation lands (server.cmake compiles this
// file only when local/apiserver/schema.cc does not exist): no pruning, defaulting or
// validation.
#include "local/apiserver/schema.h"

namespace kfaas::local {

SchemaResult ProcessObject(const Json&, Json&) { return {}; }
std::vector<kube::Cause> CheckStructural(const Json&, const std::string&) { return {}; }

}  // namespace kfaas::local
