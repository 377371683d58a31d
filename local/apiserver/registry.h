// The resources the local API server serves: built-in kinds and the ones custom resource
// definitions add. Thread-safe; lookups return immutable snapshots (shared_ptr<const>).
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "common/kube/errors.h"
#include "common/kube/resource.h"

namespace kfaas::local {

using Json = nlohmann::json;

struct ResourceInfo {
  std::string group;     // "" for core
  std::string version;   // served version
  std::string resource;  // plural
  std::string kind;
  std::string list_kind;
  std::string singular;
  bool namespaced = true;
  std::vector<std::string> short_names;
  std::vector<std::string> categories;
  std::vector<std::string> verbs;
  bool status_subresource = false;
  bool scale_subresource = false;
  bool log_subresource = false;  // pods
  // Scale paths (CRs; deployments use the defaults).
  std::string spec_replicas_path = ".spec.replicas";
  std::string status_replicas_path = ".status.replicas";
  std::string label_selector_path;
  bool custom = false;                         // served from a CRD
  Json schema;                                 // CR: the version's openAPIV3Schema (null: none)
  Json printer_columns = Json::array();        // CR: additionalPrinterColumns
  std::vector<std::string> selectable_fields;  // extra field selectors (CR selectableFields)
  std::string storage_version;                 // the version objects are stored with
  bool return_deleted_object = false;          // DELETE returns the object, not a Status

  // "group/resource": objects of every served version share it.
  std::string StorageKey() const { return group + "/" + resource; }
  std::string GroupResource() const { return group.empty() ? resource : resource + "." + group; }
  std::string ApiVersion() const { return group.empty() ? version : group + "/" + version; }
  std::string GroupVersion() const { return ApiVersion(); }
  kube::Resource AsResource() const { return {group, version, resource, kind, namespaced}; }
};
using ResourcePtr = std::shared_ptr<const ResourceInfo>;

// One served group for discovery.
struct GroupInfo {
  std::string name;                   // "" core
  std::vector<std::string> versions;  // preferred first
};

class Registry {
 public:
  Registry();  // registers the built-in resources

  ResourcePtr Find(const std::string& group, const std::string& version,
                   const std::string& resource) const;
  // By group and plural or by kind, any served version (the storage version first).
  ResourcePtr FindByStorageKey(const std::string& storage_key) const;
  ResourcePtr FindByKind(const std::string& api_version, const std::string& kind) const;
  // All served resources, sorted by group (core first, then built-in order, then CR groups
  // alphabetically), version, resource.
  std::vector<ResourcePtr> All() const;
  std::vector<GroupInfo> Groups() const;
  bool GroupVersionExists(const std::string& group, const std::string& version) const;
  // Increases each time the set of served resources changes (discovery caches key on it).
  uint64_t generation() const;

  // Serves (or re-serves with changes) every served version of a CRD; replaces what the CRD
  // served before. `crd` must be valid (ValidateCrd).
  void ServeCrd(const Json& crd);
  void UnserveCrd(const std::string& crd_name);

 private:
  void AddLocked(ResourcePtr r);
  mutable std::shared_mutex mu_;
  std::map<std::string, ResourcePtr> by_gvr_;                 // "group/version/resource"
  std::map<std::string, std::vector<std::string>> crd_keys_;  // crd name -> gvr keys
  std::vector<std::string> builtin_group_order_;
  uint64_t generation_ = 1;
};

// Validates a CustomResourceDefinition's spec (names, versions, schema, scope). Returns causes.
std::vector<kube::Cause> ValidateCrd(const Json& crd);

}  // namespace kfaas::local
