#include "autoscaler/loop/kube_adapters.h"

#include <set>

#include "autoscaler/loop/discovery.h"
#include "common/base/log.h"

namespace kfaas::autoscaler {
namespace {

int IntAt(const nlohmann::json& obj, const char* a, const char* b, int def) {
  auto ia = obj.find(a);
  if (ia == obj.end() || !ia->is_object()) return def;
  auto ib = ia->find(b);
  if (ib == ia->end() || !ib->is_number_integer()) return def;
  return ib->get<int>();
}

}  // namespace

std::optional<Target> MakeTarget(const kube::ObjectPtr& function,
                                 const kube::ObjectPtr& deployment) {
  if (!function) return std::nullopt;
  absl::StatusOr<FunctionScale> scale = ParseFunctionScale(*function);
  if (!scale.ok()) return std::nullopt;
  Target t;
  t.scale = std::move(*scale);
  t.function = function;
  if (deployment &&
      !deployment->value("metadata", nlohmann::json::object()).contains("deletionTimestamp")) {
    t.has_deployment = true;
    // An absent spec.replicas means 1 for a Deployment.
    t.replicas = IntAt(*deployment, "spec", "replicas", 1);
    t.ready_replicas = IntAt(*deployment, "status", "readyReplicas", 0);
    const auto& meta = (*deployment)["metadata"];
    t.resource_version = meta.value("resourceVersion", "");
  }
  return t;
}

KubeTargets::KubeTargets(std::shared_ptr<kube::Client> client, std::string ns, Clock& clock,
                         std::function<void()> on_replicas_changed) {
  functions_ = std::make_unique<kube::Informer>(client, kube::resources::kFunctions,
                                                kube::InformerOptions{.ns = ns, .clock = &clock});
  deployments_ = std::make_unique<kube::Informer>(
      client, kube::resources::kDeployments,
      kube::InformerOptions{
          .ns = ns, .label_selector = "app.kubernetes.io/managed-by=kfaas", .clock = &clock});
  if (on_replicas_changed) {
    deployments_->AddEventHandlers(
        {.on_update = [on_replicas_changed](const kube::ObjectPtr& old_obj,
                                            const kube::ObjectPtr& new_obj) {
          if (IntAt(*old_obj, "spec", "replicas", 1) != IntAt(*new_obj, "spec", "replicas", 1)) {
            on_replicas_changed();
          }
        }});
  }
}

KubeTargets::~KubeTargets() { Stop(); }

void KubeTargets::Start() {
  functions_->Start();
  deployments_->Start();
}

void KubeTargets::Stop() {
  functions_->Stop();
  deployments_->Stop();
}

bool KubeTargets::HasSynced() { return functions_->HasSynced() && deployments_->HasSynced(); }

std::vector<Target> KubeTargets::List() {
  std::vector<Target> out;
  for (const kube::ObjectPtr& fn : functions_->List()) {
    const auto& meta = (*fn)["metadata"];
    kube::ObjectPtr dep =
        deployments_->Get(meta.value("namespace", "default"), meta.value("name", ""));
    if (std::optional<Target> t = MakeTarget(fn, dep)) out.push_back(std::move(*t));
  }
  return out;
}

absl::Status KubeScaleWriter::Scale(const std::string& ns, const std::string& name, int replicas,
                                    const std::string& resource_version) {
  nlohmann::json patch = {{"spec", {{"replicas", replicas}}}};
  if (!resource_version.empty()) patch["metadata"] = {{"resourceVersion", resource_version}};
  auto res = client_->Patch(kube::resources::kDeployments, ns, name, kube::PatchType::kMerge, patch,
                            "scale", {.field_manager = "kfaas-autoscaler"});
  if (res.ok() || !kube::IsConflict(res.status())) return res.status();
  // Changed since the decision: decide again on the current state.
  auto scale = client_->Get(kube::resources::kDeployments, ns, name, "scale");
  if (!scale.ok()) return scale.status();
  const int now = IntAt(*scale, "spec", "replicas", 0);
  if (now <= 0) {
    return absl::FailedPreconditionError("deployment " + ns + "/" + name +
                                         " was scaled to zero meanwhile (the activator's call)");
  }
  if (now == replicas) return absl::OkStatus();
  patch["metadata"] = {
      {"resourceVersion", (*scale)["metadata"].value("resourceVersion", std::string())}};
  return client_
      ->Patch(kube::resources::kDeployments, ns, name, kube::PatchType::kMerge, patch, "scale",
              {.field_manager = "kfaas-autoscaler"})
      .status();
}

std::vector<std::string> SliceAddresses(const nlohmann::json& slice, const std::string& port_name) {
  std::vector<std::string> out;
  std::string port;
  const bool numeric =
      !port_name.empty() && port_name.find_first_not_of("0123456789") == std::string::npos;
  for (const auto& p : slice.value("ports", nlohmann::json::array())) {
    if (!p.is_object() || !p.contains("port") || !p["port"].is_number_integer()) continue;
    const std::string number = std::to_string(p["port"].get<int>());
    if ((numeric && number == port_name) || (!numeric && p.value("name", "") == port_name)) {
      port = number;
      break;
    }
  }
  if (port.empty()) return out;
  for (const auto& e : slice.value("endpoints", nlohmann::json::array())) {
    if (!e.is_object()) continue;
    const auto cond = e.value("conditions", nlohmann::json::object());
    if (cond.is_object() && cond.value("terminating", false)) continue;
    for (const auto& a : e.value("addresses", nlohmann::json::array())) {
      if (a.is_string()) out.push_back(JoinHostPort(a.get<std::string>(), port));
    }
  }
  return out;
}

EndpointSliceDiscovery::EndpointSliceDiscovery(std::shared_ptr<kube::Client> client, std::string ns,
                                               std::string service, std::string port_name,
                                               Clock& clock)
    : port_name_(std::move(port_name)) {
  slices_ = std::make_unique<kube::Informer>(
      std::move(client), kube::resources::kEndpointSlices,
      kube::InformerOptions{
          .ns = ns, .label_selector = "kubernetes.io/service-name=" + service, .clock = &clock});
}

EndpointSliceDiscovery::~EndpointSliceDiscovery() { Stop(); }
void EndpointSliceDiscovery::Start() { slices_->Start(); }
void EndpointSliceDiscovery::Stop() { slices_->Stop(); }

std::vector<std::string> EndpointSliceDiscovery::Addresses() {
  std::set<std::string> out;
  for (const auto& slice : slices_->List()) {
    for (auto& a : SliceAddresses(*slice, port_name_)) out.insert(std::move(a));
  }
  return {out.begin(), out.end()};
}

}  // namespace kfaas::autoscaler
