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
//
// Details that match the real server:
// - The 409 message is "Apply failed with 1 conflict: conflict with \"m\" using apps/v1:
//   .spec.replicas" ("Apply failed with N conflicts: conflicts with \"m\":\n- .a\n- .b" for
//   several); causes have type FieldManagerConflict and fields like
//   .spec.template.spec.containers[name="web"].image.
// - apiVersion, kind and metadata.name/namespace/uid/resourceVersion/generation/
//   creationTimestamp/managedFields are never owned; an applied object that carries
//   metadata.managedFields is a 400 ("metadata.managedFields must be nil").
// - A list-map element without its key fields is a 400 ("failed to create typed patch object
//   (apps/v1, Kind=Deployment): .spec.template.spec.containers: element 0: associative list
//   with keys has an element that omits key field \"name\" (and doesn't have default value)").
// - With manager "kubectl", an existing kubectl.kubernetes.io/last-applied-configuration
//   annotation is rewritten to the applied object, as the real server does.
// `schema` (a CRD version's openAPIV3Schema, or null) gives the list semantics of custom
// resources; without it unknown kinds have atomic lists. The caller removes fields it resets
// (e.g. status when applying to a resource with a status subresource) from `applied` first.
absl::StatusOr<Json> ServerSideApply(const Json& live, const Json& applied,
                                     std::string_view manager, bool force, std::string_view kind,
                                     WallTime now, const Json& schema = Json());

// Records an Update-operation managedFields entry for `manager` covering the fields that
// changed between `before` and `after` (called by the server on create/update/patch), so a
// later apply can detect conflicts with non-apply writers as the real server does.
// `before` is null on create. As the real server, the changed fields are taken from other
// managers (updates never conflict), removed fields are dropped from every manager, and when
// `after` carries managedFields that decode they are the base (a client may rewrite them, as
// kubectl's client-side-apply -> server-side-apply migration does); otherwise `before`'s are.
// The list semantics come from after's "kind" (built-in tables) or `schema`. `subresource` is
// recorded in the entry ("status", "scale") and is part of the manager's identity.
void RecordUpdateManager(const Json& before, Json& after, std::string_view manager,
                         std::string_view api_version, WallTime now,
                         std::string_view subresource = "", const Json& schema = Json());
// The same, decoding and re-encoding every entry: the reference RecordUpdateManager, which
// leaves the entries a write does not touch as stored, must agree with (tests).
void RecordUpdateManagerReference(const Json& before, Json& after, std::string_view manager,
                                  std::string_view api_version, WallTime now,
                                  std::string_view subresource = "", const Json& schema = Json());

}  // namespace kfaas::local
