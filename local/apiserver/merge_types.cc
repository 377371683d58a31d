#include "local/apiserver/merge_types.h"

#include <mutex>

namespace kfaas::local::types {
namespace {

// Builders for the static tables.
Field Merge(const std::string& key, const Type* elem, std::vector<std::string> ssa_keys = {}) {
  Field f;
  f.smp_merge = true;
  f.merge_key = key;
  f.list = ListKind::kMap;
  f.keys = ssa_keys.empty() ? std::vector<std::string>{key} : std::move(ssa_keys);
  f.type = elem;
  return f;
}
Field Set() {
  Field f;
  f.smp_merge = true;
  f.list = ListKind::kSet;
  return f;
}
Field Struct(const Type* t) {
  Field f;
  f.type = t;
  return f;
}

struct Tables {
  Type deduced, unknown, string_map, object_meta, label_selector, container, pod_spec, pod_status,
      pod_template, pod, deployment_strategy, deployment_spec, deployment_status, deployment,
      service_spec, service_status, service, namespace_spec, namespace_status, ns, service_account,
      plain, conditions_status;

  Tables() {
    deduced.is_map = true;
    deduced.elem = &deduced;
    string_map.is_map = true;

    object_meta.fields["labels"] = Struct(&string_map);
    object_meta.fields["annotations"] = Struct(&string_map);
    object_meta.fields["finalizers"] = Set();
    object_meta.fields["ownerReferences"] = Merge("uid", nullptr);

    label_selector.fields["matchLabels"] = Struct(&string_map);

    container.fields["ports"] = Merge("containerPort", nullptr, {"containerPort", "protocol"});
    container.fields["ports"].key_defaults["protocol"] = "TCP";
    container.fields["env"] = Merge("name", nullptr);
    container.fields["volumeMounts"] = Merge("mountPath", nullptr);
    container.fields["volumeDevices"] = Merge("devicePath", nullptr);

    Field volumes = Merge("name", nullptr);
    volumes.smp_retain_keys = true;
    pod_spec.fields["volumes"] = volumes;
    pod_spec.fields["initContainers"] = Merge("name", &container);
    pod_spec.fields["containers"] = Merge("name", &container);
    pod_spec.fields["ephemeralContainers"] = Merge("name", &container);
    pod_spec.fields["imagePullSecrets"] = Merge("name", nullptr);
    pod_spec.fields["hostAliases"] = Merge("ip", nullptr);
    pod_spec.fields["topologySpreadConstraints"] =
        Merge("topologyKey", nullptr, {"topologyKey", "whenUnsatisfiable"});
    Field claims = Merge("name", nullptr);
    claims.smp_retain_keys = true;
    pod_spec.fields["resourceClaims"] = claims;
    pod_spec.fields["schedulingGates"] = Merge("name", nullptr);
    pod_spec.fields["nodeSelector"] = Struct(&string_map);

    pod_status.fields["conditions"] = Merge("type", nullptr);
    pod_status.fields["podIPs"] = Merge("ip", nullptr);
    pod_status.fields["hostIPs"] = Merge("ip", nullptr);

    pod_template.fields["metadata"] = Struct(&object_meta);
    pod_template.fields["spec"] = Struct(&pod_spec);

    pod.fields["metadata"] = Struct(&object_meta);
    pod.fields["spec"] = Struct(&pod_spec);
    pod.fields["status"] = Struct(&pod_status);

    deployment_spec.fields["template"] = Struct(&pod_template);
    deployment_spec.fields["selector"] = Struct(&label_selector);
    Field strategy = Struct(&deployment_strategy);
    strategy.smp_retain_keys = true;
    deployment_spec.fields["strategy"] = strategy;
    deployment_status.fields["conditions"] = Merge("type", nullptr);
    deployment.fields["metadata"] = Struct(&object_meta);
    deployment.fields["spec"] = Struct(&deployment_spec);
    deployment.fields["status"] = Struct(&deployment_status);

    service_spec.fields["ports"] = Merge("port", nullptr, {"port", "protocol"});
    service_spec.fields["ports"].key_defaults["protocol"] = "TCP";
    service_spec.fields["selector"] = Struct(&string_map);
    service_status.fields["conditions"] = Merge("type", nullptr);
    service.fields["metadata"] = Struct(&object_meta);
    service.fields["spec"] = Struct(&service_spec);
    service.fields["status"] = Struct(&service_status);

    namespace_status.fields["conditions"] = Merge("type", nullptr);
    ns.fields["metadata"] = Struct(&object_meta);
    ns.fields["spec"] = Struct(&namespace_spec);
    ns.fields["status"] = Struct(&namespace_status);

    service_account.fields["metadata"] = Struct(&object_meta);
    service_account.fields["secrets"] = Merge("name", nullptr);

    // ConfigMap, Secret, Endpoints, EndpointSlice, Event, Lease: only metadata is special
    // (their lists are atomic, their data maps granular).
    plain.fields["metadata"] = Struct(&object_meta);
    plain.fields["data"] = Struct(&string_map);
    plain.fields["binaryData"] = Struct(&string_map);
    plain.fields["stringData"] = Struct(&string_map);
  }
};

const Tables& T() {
  static const Tables* t = new Tables();
  return *t;
}

}  // namespace

const Type* Deduced() { return &T().deduced; }
const Type* Unknown() { return &T().unknown; }

const Type* ForKind(std::string_view kind) {
  const Tables& t = T();
  if (kind == "Pod") return &t.pod;
  if (kind == "Deployment") return &t.deployment;
  if (kind == "Service") return &t.service;
  if (kind == "Namespace") return &t.ns;
  if (kind == "ServiceAccount") return &t.service_account;
  if (kind == "ConfigMap" || kind == "Secret" || kind == "Endpoints" || kind == "EndpointSlice" ||
      kind == "Event" || kind == "Lease") {
    return &t.plain;
  }
  return nullptr;
}

const Field* FindField(const Type* t, const std::string& name) {
  if (!t) return nullptr;
  auto it = t->fields.find(name);
  return it == t->fields.end() ? nullptr : &it->second;
}

const Type* ChildType(const Type* t, const std::string& name) {
  if (!t) return Unknown();
  if (const Field* f = FindField(t, name)) return f->type ? f->type : Unknown();
  if (t->is_map) return t->elem ? t->elem : Unknown();
  return Unknown();
}

namespace {
constexpr int kMaxSchemaDepth = 100;
}

SchemaTypes::SchemaTypes(const Json& schema) { root_ = Build(schema, 0); }

const Type* SchemaTypes::Build(const Json& s, int depth) {
  if (!s.is_object() || depth > kMaxSchemaDepth) return nullptr;
  auto flag = [&](const char* k) {
    auto it = s.find(k);
    return it != s.end() && it->is_boolean() && it->get<bool>();
  };
  types_.emplace_back();
  Type* t = &types_.back();
  auto props = s.find("properties");
  bool has_props = props != s.end() && props->is_object() && !props->empty();
  if (auto mt = s.find("x-kubernetes-map-type"); mt != s.end() && *mt == "atomic") t->atomic = true;
  if (has_props) {
    for (auto it = props->begin(); it != props->end(); ++it) {
      const Json& ps = it.value();
      Field f;
      std::string type = ps.is_object() ? ps.value("type", "") : "";
      if (type == "array") {
        std::string lt = ps.value("x-kubernetes-list-type", "");
        const Json& items = ps.contains("items") ? ps["items"] : Json();
        if (lt == "map") {
          f.list = ListKind::kMap;
          if (auto k = ps.find("x-kubernetes-list-map-keys"); k != ps.end() && k->is_array()) {
            for (const auto& key : *k) {
              if (key.is_string()) f.keys.push_back(key.get<std::string>());
            }
          }
          // Keys with defaults in the item schema.
          if (items.is_object() && items.contains("properties") &&
              items["properties"].is_object()) {
            for (const auto& key : f.keys) {
              auto p = items["properties"].find(key);
              if (p != items["properties"].end() && p->is_object() && p->contains("default")) {
                f.key_defaults[key] = (*p)["default"];
              }
            }
          }
          if (f.keys.empty()) f.list = ListKind::kAtomic;
        } else if (lt == "set") {
          f.list = ListKind::kSet;
        }
        f.type = Build(items, depth + 1);
      } else {
        f.type = Build(ps, depth + 1);
      }
      t->fields[it.key()] = std::move(f);
    }
  }
  auto addl = s.find("additionalProperties");
  if (addl != s.end() && (addl->is_object() || (addl->is_boolean() && addl->get<bool>()))) {
    t->is_map = true;
    t->elem = addl->is_object() ? Build(*addl, depth + 1) : Deduced();
  } else if (flag("x-kubernetes-preserve-unknown-fields")) {
    t->is_map = true;
    t->elem = Deduced();
  }
  return t;
}

}  // namespace kfaas::local::types
