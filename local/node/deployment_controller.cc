#include "local/node/deployment_controller.h"

#include "common/base/json_fields.h"
#include "common/base/log.h"
#include "common/kube/selector.h"
#include "local/node/deployment_logic.h"
#include "local/node/node_agent.h"

namespace kfaas::node {
namespace {

using kube::resources::kDeployments;
using kube::resources::kPods;

using json::Str;

bool ControlledBy(const Json& pod, const std::string& uid) {
  const Json& md = json::FieldOrEmptyObject(pod, "metadata");
  if (!md.contains("ownerReferences") || !md["ownerReferences"].is_array()) return false;
  for (const auto& ref : md["ownerReferences"]) {
    if (ref.value("controller", false) && Str(ref, "uid") == uid) return true;
  }
  return false;
}

}  // namespace

DeploymentController::DeploymentController(std::shared_ptr<kube::Client> client,
                                           DeploymentControllerOptions opts)
    : client_(std::move(client)),
      opts_(std::move(opts)),
      clock_(opts_.clock ? *opts_.clock : RealClock::Get()),
      loop_(
          "deployment-controller", opts_.workers,
          [this](const std::string& key) { return Reconcile(key); }, clock_) {}

DeploymentController::~DeploymentController() { Stop(); }

void DeploymentController::Start() { loop_.Start(); }

void DeploymentController::Stop() { loop_.Stop(); }

void DeploymentController::OnDeployment(const Json& d) {
  const Json& md = json::FieldOrEmptyObject(d, "metadata");
  std::string key = NamespacedKey(Str(md, "namespace"), Str(md, "name"));
  if (own_status_.IsOwn(key, d)) return;  // our own status write
  loop_.Enqueue(key);
}

void DeploymentController::OnPod(const Json& pod) {
  const Json& md = json::FieldOrEmptyObject(pod, "metadata");
  if (!md.contains("ownerReferences") || !md["ownerReferences"].is_array()) return;
  for (const auto& ref : md["ownerReferences"]) {
    if (ref.value("controller", false) && Str(ref, "kind") == "Deployment" &&
        Str(ref, "apiVersion") == "apps/v1") {
      loop_.Enqueue(NamespacedKey(Str(md, "namespace"), Str(ref, "name")));
    }
  }
}

absl::StatusOr<Duration> DeploymentController::Reconcile(const std::string& key) {
  std::string ns, name;
  SplitKey(key, &ns, &name);
  // The Deployment, or null when it is gone.
  std::shared_ptr<const Json> deployment;
  if (opts_.cached_deployment) {
    deployment = opts_.cached_deployment(ns, name);
  } else if (auto got = client_->Get(kDeployments, ns, name); got.ok()) {
    deployment = std::make_shared<const Json>(std::move(*got));
  } else if (!absl::IsNotFound(got.status())) {
    return got.status();
  }
  if (!deployment) {
    status_hold_.Clear(key);
    return Duration(0);  // its pods go by garbage collection
  }
  const Json& d = *deployment;
  const Json& md = d["metadata"];
  if (md.contains("deletionTimestamp") && !md["deletionTimestamp"].is_null()) return Duration(0);
  std::string uid = Str(md, "uid");
  const Json& spec = json::FieldOrEmptyObject(d, "spec");
  auto selector = kube::LabelSelector::FromJson(spec.value("selector", Json()));
  if (!selector.ok()) {
    KFAAS_LOG(WARNING) << "deployment " << key << ": bad selector: " << selector.status().message();
    return Duration(0);  // the API server validates selectors; nothing sensible to do
  }
  std::string hash = PodTemplateHash(json::FieldOrEmptyObject(spec, "template"));

  auto list_pods = [&]() -> absl::StatusOr<std::vector<Json>> {
    kube::ListOptions lo;
    lo.label_selector = selector->String();
    auto list = client_->List(kPods, ns, lo);
    if (!list.ok()) return list.status();
    std::vector<Json> out;
    for (auto& p : (*list)["items"]) {
      if (ControlledBy(p, uid)) out.push_back(std::move(p));
    }
    return out;
  };
  auto pods = list_pods();
  if (!pods.ok()) return pods.status();
  std::vector<PodSummary> summaries;
  for (const auto& p : *pods) summaries.push_back(SummarizePod(p));

  WallTime now = clock_.WallNow();
  DeploymentPlan plan = PlanDeployment(d, summaries, hash, now);
  absl::Status first_error;
  for (int i = 0; i < plan.create; ++i) {
    absl::StatusOr<Json> created;
    uint16_t port = 0;
    if (opts_.reserve_port) {
      // Without a port now, the node allocates one when it starts the pod.
      if (auto p = opts_.reserve_port(); p.ok()) port = *p;
    }
    for (int attempt = 0; attempt < 5; ++attempt) {
      Json pod = MakePod(d, hash, PodName(name, hash, RandomSuffix()), opts_.node_name);
      if (port) pod["metadata"]["annotations"][kPortAnnotation] = std::to_string(port);
      created = client_->Create(kPods, ns, pod);
      if (!absl::IsAlreadyExists(created.status())) break;
    }
    if (!created.ok() && port && opts_.release_port) opts_.release_port(port);
    if (!created.ok()) {
      first_error = created.status();
      break;
    }
    KFAAS_VLOG(1) << "deployment " << key << ": created pod "
                  << (*created)["metadata"].value("name", "");
  }
  for (const auto& pod_name : plan.deletions) {
    kube::DeleteOptions opts;
    for (const auto& s : summaries) {
      if (s.name == pod_name) opts.precondition_uid = s.uid;
    }
    auto r = client_->Delete(kPods, ns, pod_name, opts);
    if (!r.ok() && !absl::IsNotFound(r.status()) && first_error.ok()) first_error = r.status();
    KFAAS_VLOG(1) << "deployment " << key << ": deleted pod " << pod_name;
  }
  // A status write held after a scale-up: requeue for its time instead.
  SteadyTime steady = clock_.Now();
  if (plan.create > 0 && opts_.status_delay_after_create > Duration(0)) {
    status_hold_.Arm(key, steady + opts_.status_delay_after_create);
  }
  Duration hold = status_hold_.Remaining(key, steady);
  if (hold > Duration(0)) {
    if (!first_error.ok()) return first_error;
    return plan.requeue_after > Duration(0) ? std::min(plan.requeue_after, hold) : hold;
  }

  if (plan.create > 0 || !plan.deletions.empty()) {
    pods = list_pods();
    if (!pods.ok()) return pods.status();
    summaries.clear();
    for (const auto& p : *pods) summaries.push_back(SummarizePod(p));
  }

  const Json& old_status = json::FieldOrEmptyObject(d, "status");
  Json status = DeploymentStatus(d, summaries, hash, old_status, now);
  if (!SameDeploymentStatus(status, old_status)) {
    auto r = client_->Patch(kDeployments, ns, name, kube::PatchType::kMerge, {{"status", status}},
                            "status");
    if (r.ok()) own_status_.Wrote(key, *r);
    if (!r.ok() && !absl::IsNotFound(r.status()) && first_error.ok()) first_error = r.status();
  }
  if (!first_error.ok()) return first_error;
  return plan.requeue_after;
}

}  // namespace kfaas::node
