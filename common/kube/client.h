// kube::Client: the one interface through which kfaas components talk to a Kubernetes API.
//
// Implementations:
//   - RestClient (common/kube/rest_client.h): HTTP(S) to a real cluster or to kfaas-local's API
//     server, over cpprestsdk.
//   - The local API server's in-process client (local/apiserver): the same semantics with no
//     HTTP, used by kfaas-local's own controllers.
//   - FakeClient (tests/testutil/fake_client.h): in-memory, for unit tests of logic.
//
// Objects are plain JSON (nlohmann::json) exactly as the API serves them. Errors are
// absl::Status values built by common/kube/errors.h (IsNotFound, IsConflict, ...).
// All methods are thread-safe.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "common/kube/errors.h"
#include "common/kube/resource.h"

namespace kfaas::kube {

using Json = nlohmann::json;

struct ListOptions {
  std::string label_selector;          // "app=hello,tier!=db"
  std::string field_selector;          // "metadata.name=hello"
  int64_t limit = 0;                   // 0: no paging
  std::string continue_token;          // from a previous page's metadata.continue
  std::string resource_version;        // "" (most recent), "0" (any), or a version
  std::string resource_version_match;  // "", "NotOlderThan", "Exact"
};

struct WatchOptions {
  std::string label_selector;
  std::string field_selector;
  std::string resource_version;  // "" or "0": synthetic ADDED for all, then changes
  bool allow_bookmarks = true;
  int timeout_seconds = 0;  // 0: the server's default
};

enum class PatchType {
  kMerge,           // application/merge-patch+json (RFC 7386)
  kJson,            // application/json-patch+json (RFC 6902)
  kStrategicMerge,  // application/strategic-merge-patch+json (built-in kinds only)
  kApply,           // application/apply-patch+yaml (server-side apply)
};
std::string_view ContentTypeFor(PatchType t);

struct WriteOptions {
  std::string field_manager;  // defaults to the client's user agent
  bool dry_run = false;
};

struct PatchOptions {
  std::string field_manager;
  bool force = false;  // server-side apply: take ownership of conflicting fields
  bool dry_run = false;
};

struct DeleteOptions {
  std::string propagation_policy;  // "", "Background", "Foreground", "Orphan"
  std::optional<int64_t> grace_period_seconds;
  std::string precondition_uid;
  std::string precondition_resource_version;
};

struct WatchEvent {
  enum class Type { kAdded, kModified, kDeleted, kBookmark, kError };
  Type type = Type::kAdded;
  // The object; for kBookmark only metadata.resourceVersion is meaningful; for kError it is a
  // meta/v1 Status (code 410 "Expired" when the requested version is too old).
  Json object;
  // Set instead of `object` (which is then null) for added/modified/deleted events by a stream
  // asked to ShareObjects(): the object, immutable and shared with its producer.
  std::shared_ptr<const Json> shared;
};
std::string_view WatchEventTypeName(WatchEvent::Type t);

// A single watch connection. Not restartable: informers open a new one from the last version.
class WatchStream {
 public:
  virtual ~WatchStream() = default;
  // Blocks until the next event. Returns false when the stream has ended (server closed it,
  // timeout, network error or Stop()); status() then says why (OK for a clean close).
  virtual bool Next(WatchEvent* event) = 0;
  // Asks for objects in WatchEvent::shared rather than copied into WatchEvent::object, where
  // the stream can (an in-process API server's stream shares its stored objects); a stream may
  // ignore it. For consumers that keep objects immutable, such as informer caches.
  virtual void ShareObjects() {}
  // Ends the stream; a blocked Next() returns false promptly. Thread-safe, idempotent.
  virtual void Stop() = 0;
  virtual absl::Status status() const = 0;
};

class Client {
 public:
  virtual ~Client() = default;

  // `ns` is ignored for cluster-scoped resources; "" lists across all namespaces.
  // `subresource` is "", "status" or "scale" (scale objects are autoscaling/v1 Scale).
  virtual absl::StatusOr<Json> Get(const Resource& r, std::string_view ns, std::string_view name,
                                   std::string_view subresource = {}) = 0;
  // Returns the List object: {"kind": "<Kind>List", "metadata": {"resourceVersion",
  // "continue"?}, "items": [...]}.
  virtual absl::StatusOr<Json> List(const Resource& r, std::string_view ns,
                                    const ListOptions& opts = {}) = 0;
  virtual absl::StatusOr<Json> Create(const Resource& r, std::string_view ns, const Json& obj,
                                      const WriteOptions& opts = {}) = 0;
  // PUT. The object's metadata.name names it; a metadata.resourceVersion makes it conditional
  // (409 Conflict when stale).
  virtual absl::StatusOr<Json> Update(const Resource& r, std::string_view ns, const Json& obj,
                                      std::string_view subresource = {},
                                      const WriteOptions& opts = {}) = 0;
  virtual absl::StatusOr<Json> Patch(const Resource& r, std::string_view ns, std::string_view name,
                                     PatchType type, const Json& patch,
                                     std::string_view subresource = {},
                                     const PatchOptions& opts = {}) = 0;
  // Returns the deleted object, or (with finalizers) the object now carrying a
  // deletionTimestamp, or a Success Status.
  virtual absl::StatusOr<Json> Delete(const Resource& r, std::string_view ns, std::string_view name,
                                      const DeleteOptions& opts = {}) = 0;
  virtual absl::StatusOr<std::unique_ptr<WatchStream>> Watch(const Resource& r, std::string_view ns,
                                                             const WatchOptions& opts = {}) = 0;
};

}  // namespace kfaas::kube
