#include "operator/resources/resources.h"

#include <algorithm>

namespace kfaas::op {

Json Labels(const std::string& name) {
  return {{kLabelFunction, name}, {kLabelName, name}, {kLabelManagedBy, kManagedByValue}};
}

Json Selector(const std::string& name) { return {{kLabelFunction, name}}; }

Json OwnerReference(const Function& fn) {
  return {{"apiVersion", kApiVersion}, {"kind", kKind},
          {"name", fn.name},           {"uid", fn.uid},
          {"controller", true},        {"blockOwnerDeletion", true}};
}

int64_t DesiredReplicas(const ScaleSpec& scale, std::optional<int64_t> live) {
  if (!live) return scale.min;
  return std::max(scale.min, std::min(*live, std::max(scale.max, scale.min)));
}

namespace {

Json Metadata(const Function& fn) {
  return {{"name", fn.name},
          {"namespace", fn.ns},
          {"labels", Labels(fn.name)},
          {"ownerReferences", Json::array({OwnerReference(fn)})}};
}

// Integers stay integers; the API accepts both and echoes strings as written.
Json Quantities(const Json& in) {
  Json out = Json::object();
  for (const auto& [k, v] : in.items()) out[k] = v.is_string() ? v : Json(v.dump());
  return out;
}

Json Container(const Function& fn, const Options& opts) {
  const FunctionSpec& s = fn.spec;
  Json c = {{"name", kContainerName}, {"image", s.image}};
  if (!s.command.empty()) c["command"] = s.command;
  if (!s.args.empty()) c["args"] = s.args;
  Json env = Json::array();
  for (const auto& e : s.env) env.push_back({{"name", e.name}, {"value", e.value}});
  env.push_back({{"name", kEnvPort}, {"value", std::to_string(s.port)}});
  env.push_back({{"name", kEnvFunctionName}, {"value", fn.name}});
  env.push_back({{"name", kEnvFunctionNamespace}, {"value", fn.ns}});
  c["env"] = std::move(env);
  c["ports"] = Json::array({{{"name", kPortName}, {"containerPort", s.port}, {"protocol", "TCP"}}});
  Json resources = Json::object();
  for (const char* part : {"requests", "limits"}) {
    if (s.resources.contains(part) && !s.resources[part].empty()) {
      resources[part] = Quantities(s.resources[part]);
    }
  }
  if (!resources.empty()) c["resources"] = std::move(resources);
  Json probe = {{"initialDelaySeconds", 0},
                {"periodSeconds", opts.probe_period_seconds},
                {"timeoutSeconds", 1},
                {"successThreshold", 1},
                {"failureThreshold", 3}};
  if (!s.readiness_path.empty()) {
    probe["httpGet"] = {{"path", s.readiness_path}, {"port", kPortName}, {"scheme", "HTTP"}};
  } else {
    probe["tcpSocket"] = {{"port", kPortName}};
  }
  c["readinessProbe"] = std::move(probe);
  c["securityContext"] = {{"runAsNonRoot", true},
                          {"allowPrivilegeEscalation", false},
                          {"readOnlyRootFilesystem", true},
                          {"capabilities", {{"drop", Json::array({"ALL"})}}},
                          {"seccompProfile", {{"type", "RuntimeDefault"}}}};
  // A writable /tmp, since the root filesystem is read-only.
  c["volumeMounts"] = Json::array({{{"name", "tmp"}, {"mountPath", "/tmp"}}});
  return c;
}

}  // namespace

Json MakeDeployment(const Function& fn, const Options& opts, std::optional<int64_t> live_replicas) {
  Json pod_spec = {{"containers", Json::array({Container(fn, opts)})},
                   {"terminationGracePeriodSeconds",
                    fn.spec.timeout_seconds + opts.grace_period_padding_seconds},
                   // Functions get no Service environment variables: they are slow to start with
                   // many Services and leak the namespace's topology.
                   {"enableServiceLinks", false},
                   {"volumes", Json::array({{{"name", "tmp"}, {"emptyDir", Json::object()}}})}};
  return {
      {"apiVersion", "apps/v1"},
      {"kind", "Deployment"},
      {"metadata", Metadata(fn)},
      {"spec",
       {{"replicas", DesiredReplicas(fn.spec.scale, live_replicas)},
        {"selector", {{"matchLabels", Selector(fn.name)}}},
        {"strategy",
         {{"type", "RollingUpdate"}, {"rollingUpdate", {{"maxUnavailable", 0}, {"maxSurge", 1}}}}},
        {"template", {{"metadata", {{"labels", Labels(fn.name)}}}, {"spec", pod_spec}}}}}};
}

Json MakeService(const Function& fn, const Options&) {
  return {{"apiVersion", "v1"},
          {"kind", "Service"},
          {"metadata", Metadata(fn)},
          {"spec",
           {{"type", "ClusterIP"},
            {"selector", Selector(fn.name)},
            {"ports", Json::array({{{"name", kPortName},
                                    {"port", kServicePort},
                                    {"targetPort", kPortName},
                                    {"protocol", "TCP"}}})}}}};
}

namespace {
const Json* ControllerRef(const Json& obj) {
  auto md = obj.find("metadata");
  if (md == obj.end() || !md->is_object()) return nullptr;
  auto refs = md->find("ownerReferences");
  if (refs == md->end() || !refs->is_array()) return nullptr;
  for (const auto& ref : *refs) {
    if (!ref.is_object() || !ref.value("controller", false)) continue;
    if (ref.value("kind", "") != kKind) return nullptr;
    std::string api = ref.value("apiVersion", "");
    if (api.rfind(std::string(kGroup) + "/", 0) != 0) return nullptr;
    return &ref;
  }
  return nullptr;
}
}  // namespace

std::string ControllerFunctionUid(const Json& obj) {
  const Json* ref = ControllerRef(obj);
  return ref ? ref->value("uid", "") : "";
}

std::string ControllerFunctionKey(const Json& obj) {
  const Json* ref = ControllerRef(obj);
  if (!ref) return "";
  return obj["metadata"].value("namespace", "") + "/" + ref->value("name", "");
}

}  // namespace kfaas::op
