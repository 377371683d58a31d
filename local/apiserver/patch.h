// Patch algorithms the API server needs beyond RFC 6902/7386 (which nlohmann::json provides:
// json::patch and json::merge_patch).
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "common/base/clock.h"

namespace kfaas::local {

using Json = nlohmann::json;

// Strategic merge patch for built-in kinds (apimachinery strategicpatch), with the patch
// strategies and merge keys of the kinds the local server serves (Pod, Deployment, Service,
// Endpoints, EndpointSlice, ConfigMap, Secret, Namespace, ServiceAccount, Event, Lease):
// e.g. containers/initContainers/volumes/env/ports by name (ports of a container by
// containerPort, of a Service by port), conditions by type, finalizers as a set,
// ownerReferences by uid. Lists without a merge key are replaced. Supports the directives
// $patch: replace|delete|merge, $retainKeys, $deleteFromPrimitiveList/<field>,
// $setElementOrder/<field>. null deletes a field.
// `kind` selects the table; an unknown kind gets RFC 7386 behaviour.
absl::StatusOr<Json> StrategicMergePatch(const Json& original, const Json& patch,
                                         std::string_view kind);

// Server-side apply (simplified from structured-merge-diff, but honest about ownership).
// `live` is the current object or null (then it is a create). `applied` is the manager's full
// intent. Fields the manager owned before but no longer applies are removed (unless another
// manager also owns them). A field whose value differs and is owned by another manager is a
// conflict: 409 with reason Conflict and one cause per field
//   (`conflict with "kubectl-client-side-apply" using v1: .spec.replicas`),
// unless `force`, which transfers ownership. Records managedFields entries
// ({manager, operation: Apply, apiVersion, time, fieldsType: FieldsV1, fieldsV1}) and keeps
// entries of other managers. Lists with merge keys (as in StrategicMergePatch's tables, and
// x-kubernetes-list-map-keys when a CRD schema gives them) merge per element; other lists are
// atomic. Returns the merged object (metadata other than labels/annotations/finalizers/
// ownerReferences is the caller's to maintain).
absl::StatusOr<Json> ServerSideApply(const Json& live, const Json& applied,
                                     std::string_view manager, bool force, std::string_view kind,
                                     WallTime now);

// Records an Update-operation managedFields entry for `manager` covering the fields that
// changed between `before` and `after` (called by the server on create/update/patch), so a
// later apply can detect conflicts with non-apply writers as the real server does.
void RecordUpdateManager(const Json& before, Json& after, std::string_view manager,
                         std::string_view api_version, WallTime now);

}  // namespace kfaas::local
