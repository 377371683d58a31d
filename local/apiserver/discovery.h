// Discovery documents (aggregated apidiscovery.k8s.io v2/v2beta1 and the legacy APIVersions,
// APIGroupList, APIGroup, APIResourceList) and the minimal OpenAPI v3 kubectl needs for
// server-side field validation. Pure functions of the registry.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "local/apiserver/registry.h"

namespace kfaas::local {

using Json = nlohmann::json;

// `core`: /api (the core group) or /apis (every other group). `version`: "v2" or "v2beta1".
Json AggregatedDiscovery(const Registry& reg, bool core, const std::string& version);
Json LegacyApiVersions();
Json LegacyGroupList(const Registry& reg);
// null when the group is not served.
Json LegacyGroup(const Registry& reg, const std::string& group);
Json LegacyResourceList(const Registry& reg, const std::string& group, const std::string& version);

// /openapi/v3: {"paths": {"api/v1": {"serverRelativeURL": "/openapi/v3/api/v1?hash=..."}}}.
Json OpenApiRoot(const Registry& reg);
// The document for one group-version ("" group for core); null when not served.
Json OpenApiGroupVersion(const Registry& reg, const std::string& group, const std::string& version);
// A stable content hash (hex) of a document, used for ?hash=.
std::string ContentHash(const std::string& text);

}  // namespace kfaas::local
