// Api: the verbs of the local API server with the real server's semantics (metadata,
// validation, defaults, subresources, patch types, server-side apply, deletion with
// finalizers). Both the HTTP front end and the in-process LocalClient call it, so the two
// behave identically. Thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "common/base/clock.h"
#include "common/kube/client.h"
#include "local/apiserver/faults.h"
#include "local/apiserver/registry.h"
#include "local/apiserver/store.h"

namespace kfaas::local {

using Json = nlohmann::json;

enum class FieldValidation { kIgnore, kWarn, kStrict };

struct Caller {
  std::string user = "system:admin";
  std::string user_agent;  // the default field manager is its part before the first '/'
  bool internal = false;   // the server's own controllers: never subject to injected faults
};

struct WriteOpts {
  bool dry_run = false;
  std::string field_manager;
  FieldValidation validation = FieldValidation::kWarn;
  bool force = false;  // apply only
};

struct DeleteOpts {
  std::string propagation;  // "", Background, Foreground, Orphan
  std::optional<int64_t> grace_period_seconds;
  std::string precondition_uid;
  std::string precondition_rv;
  bool dry_run = false;
};

struct WatchOpts {
  std::string label_selector;
  std::string field_selector;
  std::string resource_version;
  std::string resource_version_match;
  bool allow_bookmarks = false;
  bool send_initial_events = false;
  std::string name;  // watch of a single object (path with a name)
};

struct WriteResult {
  Json object;
  int code = 200;  // 200, or 201 for creates
  std::vector<std::string> warnings;
};

struct ListResult {
  uint64_t rv = 0;
  std::vector<ObjectPtr> items;
  std::string continue_token;
  std::optional<int64_t> remaining;
};

struct ApiOptions {
  std::string log_dir;  // pod logs: <log_dir>/<namespace>_<pod>_<container>.log
};

class Api {
 public:
  Api(Registry& registry, Store& store, Faults& faults, Clock& clock, ApiOptions opts);

  Registry& registry() { return registry_; }
  Store& store() { return store_; }
  Faults& faults() { return faults_; }
  Clock& clock() { return clock_; }
  const ApiOptions& options() const { return opts_; }

  // 404 NotFound ("the server could not find the requested resource") when not served.
  absl::StatusOr<ResourcePtr> Resolve(const std::string& group, const std::string& version,
                                      const std::string& resource) const;

  absl::StatusOr<Json> Get(const ResourceInfo& r, const std::string& ns, const std::string& name,
                           const std::string& subresource, const std::string& resource_version);
  absl::StatusOr<ListResult> List(const ResourceInfo& r, const std::string& ns,
                                  const kube::ListOptions& opts);
  absl::StatusOr<WriteResult> Create(const ResourceInfo& r, const std::string& ns, Json obj,
                                     const WriteOpts& opts, const Caller& caller);
  absl::StatusOr<WriteResult> Update(const ResourceInfo& r, const std::string& ns,
                                     const std::string& name, Json obj,
                                     const std::string& subresource, const WriteOpts& opts,
                                     const Caller& caller);
  absl::StatusOr<WriteResult> Patch(const ResourceInfo& r, const std::string& ns,
                                    const std::string& name, kube::PatchType type,
                                    const Json& patch, const std::string& subresource,
                                    const WriteOpts& opts, const Caller& caller);
  absl::StatusOr<WriteResult> Delete(const ResourceInfo& r, const std::string& ns,
                                     const std::string& name, const DeleteOpts& opts,
                                     const Caller& caller);
  absl::StatusOr<Json> DeleteCollection(const ResourceInfo& r, const std::string& ns,
                                        const kube::ListOptions& list, const DeleteOpts& opts,
                                        const Caller& caller);
  // A registered watcher; the caller drains it and calls store().Unwatch() when done.
  // A too-old version yields a watcher holding one ERROR event (410 Expired) and closed.
  absl::StatusOr<WatcherPtr> Watch(const ResourceInfo& r, const std::string& ns,
                                   const WatchOpts& opts);

  // The object as served at `r`'s version (apiVersion rewritten when it differs from the
  // stored one). Returns nullptr-equivalent (the same pointer) when no rewrite is needed.
  ObjectPtr AtVersion(const ResourceInfo& r, const ObjectPtr& o) const;

  // For controllers: read-modify-write with retries on conflicts. `mutate` returns false to
  // leave the object unchanged. Deletes the object when it ends up deleting with no
  // finalizers.
  absl::StatusOr<ObjectPtr> Mutate(const ResourceInfo& r, const ObjectKey& key,
                                   const std::function<bool(Json&)>& mutate,
                                   const std::string& manager);

  // Pod log file path.
  std::string LogPath(const std::string& ns, const std::string& pod,
                      const std::string& container) const;
  // Validates a pod log request and returns the log file's path (400 when the container is
  // ambiguous or unknown, 404 for a missing pod).
  absl::StatusOr<std::string> ResolvePodLog(const std::string& ns, const std::string& pod,
                                            std::string container);

  // Creates every object in a YAML/JSON manifest stream (CRDs and namespaces first).
  absl::Status Preload(const std::string& text, const std::string& source);

 private:
  struct Prepared;
  absl::Status PrepareCreate(const ResourceInfo& r, const std::string& ns, Json& obj,
                             const WriteOpts& opts, const Caller& caller, bool record_manager,
                             std::vector<std::string>* warnings);
  absl::Status PrepareUpdate(const ResourceInfo& r, const Json& old, Json& obj,
                             const std::string& subresource, const WriteOpts& opts,
                             const Caller& caller, bool record_manager,
                             std::vector<std::string>* warnings);
  absl::Status ValidateAndDefault(const ResourceInfo& r, Json& obj, const Json* old,
                                  const WriteOpts& opts, std::vector<std::string>* warnings);
  absl::StatusOr<WriteResult> CommitUpdate(const ResourceInfo& r, const ObjectKey& key,
                                           const ObjectPtr& cur, Json obj, bool dry_run);
  absl::StatusOr<WriteResult> UpdateLoop(
      const ResourceInfo& r, const std::string& ns, const std::string& name,
      const std::string& subresource, const WriteOpts& opts, const Caller& caller,
      const std::function<absl::StatusOr<Json>(const ObjectPtr& cur, bool* precondition)>& compute,
      bool record_manager);
  absl::StatusOr<WriteResult> DeleteOnce(const ResourceInfo& r, const ObjectKey& key,
                                         const DeleteOpts& opts);
  absl::Status AfterCommit(const ResourceInfo& r, const ObjectPtr& before, const ObjectPtr& after);
  Json ToScale(const ResourceInfo& r, const Json& obj) const;
  absl::StatusOr<Json> ApplyScale(const ResourceInfo& r, const Json& obj, const Json& scale) const;
  std::string FieldManager(const WriteOpts& opts, const Caller& caller) const;
  absl::Status CheckFault(const ResourceInfo& r, const std::string& subresource, const char* verb,
                          const Caller& caller);
  std::string AllocateClusterIp();
  ObjectKey KeyFor(const ResourceInfo& r, const std::string& ns, const std::string& name) const {
    return {r.StorageKey(), r.namespaced ? ns : "", name};
  }

  Registry& registry_;
  Store& store_;
  Faults& faults_;
  Clock& clock_;
  const ApiOptions opts_;
  std::mutex ip_mu_;
  uint32_t next_ip_ = 10;
};

// Helpers shared with the HTTP layer.
absl::StatusOr<FieldValidation> ParseFieldValidation(const std::string& v);
std::string NewUid();
std::string QualifiedKind(const ResourceInfo& r);  // "Deployment.apps", "ConfigMap"

}  // namespace kfaas::local
