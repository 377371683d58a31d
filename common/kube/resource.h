// Resource: a group-version-resource plus its scope, and the resources kfaas uses.
#pragma once

#include <string>

namespace kfaas::kube {

struct Resource {
  std::string group;     // "" for the core group
  std::string version;   // "v1"
  std::string resource;  // plural, lower case: "deployments"
  std::string kind;      // "Deployment" (for building objects and messages)
  bool namespaced = true;

  // "deployments.apps", "pods", "functions.kfaas.dev": the qualified name used in messages.
  std::string GroupResource() const { return group.empty() ? resource : resource + "." + group; }
  // "apps/v1" or "v1".
  std::string ApiVersion() const { return group.empty() ? version : group + "/" + version; }
  // "/api/v1" or "/apis/apps/v1".
  std::string PathPrefix() const {
    return group.empty() ? "/api/" + version : "/apis/" + group + "/" + version;
  }
  bool operator==(const Resource& o) const {
    return group == o.group && version == o.version && resource == o.resource;
  }
};

namespace resources {
inline const Resource kNamespaces{"", "v1", "namespaces", "Namespace", false};
inline const Resource kPods{"", "v1", "pods", "Pod", true};
inline const Resource kServices{"", "v1", "services", "Service", true};
inline const Resource kEndpoints{"", "v1", "endpoints", "Endpoints", true};
inline const Resource kEvents{"", "v1", "events", "Event", true};
inline const Resource kConfigMaps{"", "v1", "configmaps", "ConfigMap", true};
inline const Resource kSecrets{"", "v1", "secrets", "Secret", true};
inline const Resource kServiceAccounts{"", "v1", "serviceaccounts", "ServiceAccount", true};
inline const Resource kDeployments{"apps", "v1", "deployments", "Deployment", true};
inline const Resource kEndpointSlices{"discovery.k8s.io", "v1", "endpointslices", "EndpointSlice",
                                      true};
inline const Resource kLeases{"coordination.k8s.io", "v1", "leases", "Lease", true};
inline const Resource kCustomResourceDefinitions{
    "apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", false};
inline const Resource kFunctions{"kfaas.dev", "v1alpha1", "functions", "Function", true};
}  // namespace resources

}  // namespace kfaas::kube
