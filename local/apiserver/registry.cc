#include "local/apiserver/registry.h"

#include <algorithm>
#include <regex>
#include <set>

#include "common/base/json_fields.h"
#include "local/apiserver/schema.h"

namespace kfaas::local {
namespace {

const std::vector<std::string> kAllVerbs = {"create", "delete", "deletecollection", "get",
                                            "list",   "patch",  "update",           "watch"};

ResourcePtr Builtin(std::string group, std::string resource, std::string kind, std::string singular,
                    bool namespaced, std::vector<std::string> short_names,
                    std::vector<std::string> categories, bool status, bool scale = false) {
  auto r = std::make_shared<ResourceInfo>();
  r->group = std::move(group);
  r->version = "v1";
  r->resource = std::move(resource);
  r->kind = kind;
  r->list_kind = kind + "List";
  r->singular = std::move(singular);
  r->namespaced = namespaced;
  r->short_names = std::move(short_names);
  r->categories = std::move(categories);
  r->verbs = kAllVerbs;
  r->status_subresource = status;
  r->scale_subresource = scale;
  r->storage_version = "v1";
  return r;
}

std::string Key(const std::string& g, const std::string& v, const std::string& r) {
  return g + "/" + v + "/" + r;
}

}  // namespace

Registry::Registry() {
  std::unique_lock lock(mu_);
  auto ns = Builtin("", "namespaces", "Namespace", "namespace", false, {"ns"}, {}, true);
  std::const_pointer_cast<ResourceInfo>(ns)->verbs = {"create", "delete", "get",  "list",
                                                      "patch",  "update", "watch"};
  AddLocked(ns);
  auto pods = Builtin("", "pods", "Pod", "pod", true, {"po"}, {"all"}, true);
  std::const_pointer_cast<ResourceInfo>(pods)->log_subresource = true;
  std::const_pointer_cast<ResourceInfo>(pods)->return_deleted_object = true;
  AddLocked(pods);
  auto svc = Builtin("", "services", "Service", "service", true, {"svc"}, {"all"}, true);
  std::const_pointer_cast<ResourceInfo>(svc)->return_deleted_object = true;
  AddLocked(svc);
  AddLocked(Builtin("", "endpoints", "Endpoints", "endpoints", true, {"ep"}, {}, false));
  AddLocked(Builtin("", "events", "Event", "event", true, {"ev"}, {}, false));
  AddLocked(Builtin("", "configmaps", "ConfigMap", "configmap", true, {"cm"}, {}, false));
  AddLocked(Builtin("", "secrets", "Secret", "secret", true, {}, {}, false));
  AddLocked(
      Builtin("", "serviceaccounts", "ServiceAccount", "serviceaccount", true, {"sa"}, {}, false));
  AddLocked(Builtin("apps", "deployments", "Deployment", "deployment", true, {"deploy"}, {"all"},
                    true,
                    /*scale=*/true));
  AddLocked(Builtin("discovery.k8s.io", "endpointslices", "EndpointSlice", "endpointslice", true,
                    {}, {}, false));
  AddLocked(Builtin("coordination.k8s.io", "leases", "Lease", "lease", true, {}, {}, false));
  // Stored and served, not acted on: there is no disruption controller or HPA controller here
  // (the chart renders them; kubectl apply of the chart must work against kfaas-local).
  AddLocked(Builtin("policy", "poddisruptionbudgets", "PodDisruptionBudget", "poddisruptionbudget",
                    true, {"pdb"}, {}, true));
  auto hpa = Builtin("autoscaling", "horizontalpodautoscalers", "HorizontalPodAutoscaler",
                     "horizontalpodautoscaler", true, {"hpa"}, {"all"}, true);
  std::const_pointer_cast<ResourceInfo>(hpa)->version = "v2";
  std::const_pointer_cast<ResourceInfo>(hpa)->storage_version = "v2";
  AddLocked(hpa);
  AddLocked(Builtin("apiextensions.k8s.io", "customresourcedefinitions", "CustomResourceDefinition",
                    "customresourcedefinition", false, {"crd", "crds"}, {"api-extensions"}, true));
  builtin_group_order_ = {"",       "apps",        "discovery.k8s.io",    "coordination.k8s.io",
                          "policy", "autoscaling", "apiextensions.k8s.io"};
}

void Registry::AddLocked(ResourcePtr r) {
  by_gvr_[Key(r->group, r->version, r->resource)] = std::move(r);
}

ResourcePtr Registry::Find(const std::string& group, const std::string& version,
                           const std::string& resource) const {
  std::shared_lock lock(mu_);
  auto it = by_gvr_.find(Key(group, version, resource));
  return it == by_gvr_.end() ? nullptr : it->second;
}

ResourcePtr Registry::FindByStorageKey(const std::string& storage_key) const {
  std::shared_lock lock(mu_);
  ResourcePtr any;
  for (const auto& [k, r] : by_gvr_) {
    if (r->StorageKey() != storage_key) continue;
    if (r->version == r->storage_version) return r;
    if (!any) any = r;
  }
  return any;
}

ResourcePtr Registry::FindByKind(const std::string& api_version, const std::string& kind) const {
  std::string group, version = api_version;
  auto slash = api_version.find('/');
  if (slash != std::string::npos) {
    group = api_version.substr(0, slash);
    version = api_version.substr(slash + 1);
  }
  std::shared_lock lock(mu_);
  for (const auto& [k, r] : by_gvr_) {
    if (r->group == group && r->version == version && r->kind == kind) return r;
  }
  return nullptr;
}

std::vector<ResourcePtr> Registry::All() const {
  std::shared_lock lock(mu_);
  std::vector<ResourcePtr> out;
  for (const auto& [k, r] : by_gvr_) out.push_back(r);
  auto rank = [this](const std::string& g) {
    auto it = std::find(builtin_group_order_.begin(), builtin_group_order_.end(), g);
    return it == builtin_group_order_.end()
               ? builtin_group_order_.size()
               : static_cast<size_t>(it - builtin_group_order_.begin());
  };
  std::stable_sort(out.begin(), out.end(), [&](const ResourcePtr& a, const ResourcePtr& b) {
    auto ra = rank(a->group), rb = rank(b->group);
    if (ra != rb) return ra < rb;
    if (a->group != b->group) return a->group < b->group;
    // The storage (preferred) version first.
    bool pa = a->version == a->storage_version, pb = b->version == b->storage_version;
    if (a->version != b->version) {
      if (pa != pb) return pa;
      return a->version < b->version;
    }
    return a->resource < b->resource;
  });
  return out;
}

std::vector<GroupInfo> Registry::Groups() const {
  std::vector<GroupInfo> out;
  for (const auto& r : All()) {
    if (out.empty() || out.back().name != r->group) out.push_back({r->group, {}});
    auto& vs = out.back().versions;
    if (std::find(vs.begin(), vs.end(), r->version) == vs.end()) vs.push_back(r->version);
  }
  return out;
}

bool Registry::GroupVersionExists(const std::string& group, const std::string& version) const {
  std::shared_lock lock(mu_);
  for (const auto& [k, r] : by_gvr_) {
    if (r->group == group && r->version == version) return true;
  }
  return false;
}

uint64_t Registry::generation() const {
  std::shared_lock lock(mu_);
  return generation_;
}

void Registry::ServeCrd(const Json& crd) {
  const Json& spec = crd["spec"];
  const Json& names = spec["names"];
  std::string group = spec.value("group", "");
  std::string storage_version;
  for (const auto& v : spec["versions"]) {
    if (v.value("storage", false)) storage_version = v.value("name", "");
  }
  std::vector<ResourcePtr> served;
  for (const auto& v : spec["versions"]) {
    if (!v.value("served", true)) continue;
    auto r = std::make_shared<ResourceInfo>();
    r->group = group;
    r->version = v.value("name", "");
    r->resource = names.value("plural", "");
    r->kind = names.value("kind", "");
    r->list_kind = names.value("listKind", r->kind + "List");
    r->singular = names.value("singular", "");
    if (r->singular.empty()) {
      r->singular = r->kind;
      std::transform(r->singular.begin(), r->singular.end(), r->singular.begin(), ::tolower);
    }
    r->namespaced = spec.value("scope", "Namespaced") == "Namespaced";
    if (names.contains("shortNames") && names["shortNames"].is_array()) {
      for (const auto& s : names["shortNames"]) r->short_names.push_back(s.get<std::string>());
    }
    if (names.contains("categories") && names["categories"].is_array()) {
      for (const auto& s : names["categories"]) r->categories.push_back(s.get<std::string>());
    }
    r->verbs = kAllVerbs;
    const Json subs = v.value("subresources", Json::object());
    r->status_subresource = subs.contains("status");
    if (subs.contains("scale") && subs["scale"].is_object()) {
      r->scale_subresource = true;
      r->spec_replicas_path = subs["scale"].value("specReplicasPath", ".spec.replicas");
      r->status_replicas_path = subs["scale"].value("statusReplicasPath", ".status.replicas");
      r->label_selector_path = subs["scale"].value("labelSelectorPath", "");
    }
    r->custom = true;
    if (v.contains("schema") && v["schema"].is_object()) {
      r->schema = v["schema"].value("openAPIV3Schema", Json());
    }
    r->printer_columns = v.value("additionalPrinterColumns", Json::array());
    if (v.contains("selectableFields") && v["selectableFields"].is_array()) {
      for (const auto& f : v["selectableFields"]) {
        std::string p = f.value("jsonPath", "");
        if (!p.empty() && p[0] == '.') p = p.substr(1);
        r->selectable_fields.push_back(p);
      }
    }
    r->storage_version = storage_version;
    r->return_deleted_object = true;
    served.push_back(std::move(r));
  }
  std::string crd_name = crd["metadata"].value("name", "");
  std::unique_lock lock(mu_);
  for (const auto& k : crd_keys_[crd_name]) by_gvr_.erase(k);
  crd_keys_[crd_name].clear();
  for (auto& r : served) {
    crd_keys_[crd_name].push_back(Key(r->group, r->version, r->resource));
    AddLocked(r);
  }
  ++generation_;
}

void Registry::UnserveCrd(const std::string& crd_name) {
  std::unique_lock lock(mu_);
  auto it = crd_keys_.find(crd_name);
  if (it == crd_keys_.end()) return;
  for (const auto& k : it->second) by_gvr_.erase(k);
  crd_keys_.erase(it);
  ++generation_;
}

std::vector<kube::Cause> ValidateCrd(const Json& crd) {
  std::vector<kube::Cause> causes;
  auto required = [&](const std::string& field) {
    causes.push_back({"FieldValueRequired", "Required value", field});
  };
  auto invalid = [&](const std::string& field, const Json& value, const std::string& msg) {
    causes.push_back({"FieldValueInvalid", "Invalid value: " + value.dump() + ": " + msg, field});
  };
  if (!crd.contains("spec") || !crd["spec"].is_object()) {
    required("spec");
    return causes;
  }
  const Json& spec = crd["spec"];
  static const std::regex kDns1123Subdomain(
      "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*");
  static const std::regex kDns1035Label("[a-z]([-a-z0-9]*[a-z0-9])?");
  static const std::regex kKind("[A-Za-z][A-Za-z0-9]*");
  std::string group = spec.value("group", "");
  if (group.empty()) {
    required("spec.group");
  } else if (!std::regex_match(group, kDns1123Subdomain) || group.find('.') == std::string::npos) {
    invalid("spec.group", group, "should be a domain with at least one dot");
  }
  std::string scope = spec.value("scope", "");
  if (scope.empty()) {
    required("spec.scope");
  } else if (scope != "Namespaced" && scope != "Cluster") {
    causes.push_back(
        {"FieldValueNotSupported",
         "Unsupported value: \"" + scope + "\": supported values: \"Cluster\", \"Namespaced\"",
         "spec.scope"});
  }
  const Json names = spec.value("names", Json::object());
  std::string plural = names.is_object() ? names.value("plural", "") : "";
  std::string kind = names.is_object() ? names.value("kind", "") : "";
  if (plural.empty()) {
    required("spec.names.plural");
  } else if (!std::regex_match(plural, kDns1035Label)) {
    invalid("spec.names.plural", plural,
            "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start "
            "with an alphabetic character, and end with an alphanumeric character");
  }
  if (kind.empty()) {
    required("spec.names.kind");
  } else if (!std::regex_match(kind, kKind)) {
    invalid("spec.names.kind", kind, "may have mixed case, but should otherwise match: [a-z]");
  }
  std::string name = json::FieldOrEmptyObject(crd, "metadata").value("name", "");
  if (!plural.empty() && !group.empty() && name != plural + "." + group) {
    invalid("metadata.name", name, "must be spec.names.plural+\".\"+spec.group");
  }
  if (!spec.contains("versions") || !spec["versions"].is_array() || spec["versions"].empty()) {
    causes.push_back({"FieldValueRequired",
                      "Required value: must have exactly one version marked "
                      "as storage version",
                      "spec.versions"});
    return causes;
  }
  int storage = 0;
  std::set<std::string> seen;
  for (size_t i = 0; i < spec["versions"].size(); ++i) {
    const Json& v = spec["versions"][i];
    std::string prefix = "spec.versions[" + std::to_string(i) + "]";
    if (!v.is_object()) {
      invalid(prefix, v, "must be an object");
      continue;
    }
    std::string vn = v.value("name", "");
    if (vn.empty()) {
      required(prefix + ".name");
    } else if (!std::regex_match(vn, kDns1035Label)) {
      invalid(prefix + ".name", vn, "must be a DNS-1035 label");
    } else if (!seen.insert(vn).second) {
      causes.push_back(
          {"FieldValueDuplicate", "Duplicate value: \"" + vn + "\"", prefix + ".name"});
    }
    if (v.value("storage", false)) ++storage;
    if (v.contains("schema") && v["schema"].is_object() &&
        v["schema"].contains("openAPIV3Schema")) {
      auto sc = CheckStructural(v["schema"]["openAPIV3Schema"], prefix + ".schema.openAPIV3Schema");
      causes.insert(causes.end(), sc.begin(), sc.end());
    }
    if (v.contains("additionalPrinterColumns") && !v["additionalPrinterColumns"].is_array()) {
      invalid(prefix + ".additionalPrinterColumns", v["additionalPrinterColumns"],
              "must be a list");
    }
  }
  if (storage != 1) {
    invalid("spec.versions", Json::array(),
            "must have exactly one version marked as storage version");
  }
  return causes;
}

}  // namespace kfaas::local
