#include "local/node/endpoints_controller.h"

#include <set>

#include "common/base/json_fields.h"
#include "common/base/log.h"

namespace kfaas::node {
namespace {

using kube::resources::kEndpoints;
using kube::resources::kEndpointSlices;
using kube::resources::kPods;
using kube::resources::kServices;

using json::Str;

const Json& Meta(const Json& obj) { return json::FieldOrEmptyObject(obj, "metadata"); }

std::string OurSlices(const std::string& service) {
  return std::string(kServiceNameLabel) + "=" + service + "," + kManagedByLabel + "=" +
         kManagedByValue;
}

}  // namespace

EndpointsController::EndpointsController(std::shared_ptr<kube::Client> client,
                                         EndpointsControllerOptions opts)
    : client_(std::move(client)),
      opts_(std::move(opts)),
      clock_(opts_.clock ? *opts_.clock : RealClock::Get()),
      loop_(
          "endpoints-controller", opts_.workers,
          [this](const std::string& key) { return Reconcile(key); }, clock_) {}

EndpointsController::~EndpointsController() { Stop(); }

void EndpointsController::Start() { loop_.Start(); }

void EndpointsController::Stop() { loop_.Stop(); }

void EndpointsController::OnService(const Json& svc) {
  const Json& md = Meta(svc);
  std::string ns = Str(md, "namespace"), name = Str(md, "name");
  {
    std::lock_guard<std::mutex> l(mu_);
    std::string sel = ServiceSelector(svc);
    if (sel.empty()) {
      selectors_[ns].erase(name);
    } else if (auto parsed = kube::LabelSelector::Parse(sel); parsed.ok()) {
      selectors_[ns].insert_or_assign(name, *parsed);
    }
  }
  loop_.Enqueue(NamespacedKey(ns, name));
}

void EndpointsController::OnServiceDeleted(const Json& svc) {
  const Json& md = Meta(svc);
  std::string ns = Str(md, "namespace"), name = Str(md, "name");
  {
    std::lock_guard<std::mutex> l(mu_);
    selectors_[ns].erase(name);
  }
  loop_.Enqueue(NamespacedKey(ns, name));
}

void EndpointsController::EnqueueMatching(const std::string& ns, const Json& labels) {
  auto it = selectors_.find(ns);
  if (it == selectors_.end()) return;
  for (const auto& [name, sel] : it->second) {
    if (sel.Matches(labels)) loop_.Enqueue(NamespacedKey(ns, name));
  }
}

void EndpointsController::OnPod(const Json& pod) {
  const Json& md = Meta(pod);
  std::string ns = Str(md, "namespace");
  std::string key = NamespacedKey(ns, Str(md, "name"));
  PodState next{md.value("labels", Json::object()), PodEndpointFor(pod)};
  std::lock_guard<std::mutex> l(mu_);
  auto it = pods_.find(key);
  if (it != pods_.end() && it->second.labels == next.labels &&
      SameEndpoint(it->second.endpoint, next.endpoint)) {
    return;  // nothing endpoints care about changed
  }
  if (it != pods_.end() && it->second.labels != next.labels) EnqueueMatching(ns, it->second.labels);
  EnqueueMatching(ns, next.labels);
  pods_[key] = std::move(next);
}

void EndpointsController::OnPodDeleted(const Json& pod) {
  const Json& md = Meta(pod);
  std::string ns = Str(md, "namespace");
  std::string key = NamespacedKey(ns, Str(md, "name"));
  std::lock_guard<std::mutex> l(mu_);
  auto it = pods_.find(key);
  if (it != pods_.end()) {
    EnqueueMatching(ns, it->second.labels);
    pods_.erase(it);
  }
  EnqueueMatching(ns, md.value("labels", Json::object()));
}

void EndpointsController::OnEndpointSlice(const Json& slice) {
  const Json& md = Meta(slice);
  Json labels = md.value("labels", Json::object());
  if (Str(labels, kManagedByLabel) != kManagedByValue) return;
  std::string svc = Str(labels, kServiceNameLabel);
  if (!svc.empty()) loop_.Enqueue(NamespacedKey(Str(md, "namespace"), svc));
}

void EndpointsController::OnEndpoints(const Json& endpoints) {
  const Json& md = Meta(endpoints);
  std::string key = NamespacedKey(Str(md, "namespace"), Str(md, "name"));
  if (own_endpoints_.IsOwn(key, endpoints)) return;  // our own write
  loop_.Enqueue(key);
}

absl::Status EndpointsController::Cleanup(const std::string& ns, const std::string& name) {
  kube::ListOptions lo;
  lo.label_selector = OurSlices(name);
  auto slices = client_->List(kEndpointSlices, ns, lo);
  if (!slices.ok()) return slices.status();
  for (const auto& s : (*slices)["items"]) {
    auto r = client_->Delete(kEndpointSlices, ns, Str(Meta(s), "name"));
    if (!r.ok() && !absl::IsNotFound(r.status())) return r.status();
  }
  auto ep = client_->Get(kEndpoints, ns, name);
  if (ep.ok() && Str(Meta(*ep).value("labels", Json::object()), kEndpointsManagedByLabel) ==
                     kEndpointsManagedByValue) {
    auto r = client_->Delete(kEndpoints, ns, name);
    if (!r.ok() && !absl::IsNotFound(r.status())) return r.status();
  }
  return absl::OkStatus();
}

absl::StatusOr<Duration> EndpointsController::Reconcile(const std::string& key) {
  std::string ns, name;
  SplitKey(key, &ns, &name);
  auto svc = client_->Get(kServices, ns, name);
  if (!svc.ok()) {
    if (!absl::IsNotFound(svc.status())) return svc.status();
    if (auto s = Cleanup(ns, name); !s.ok()) return s;
    return Duration(0);
  }
  std::string selector = ServiceSelector(*svc);
  if (selector.empty() || Str(json::FieldOrEmptyObject(*svc, "spec"), "type") == "ExternalName") {
    // Endpoints of a Service without a selector are the user's to write.
    if (auto s = Cleanup(ns, name); !s.ok()) return s;
    return Duration(0);
  }
  kube::ListOptions lo;
  lo.label_selector = selector;
  auto pods = client_->List(kPods, ns, lo);
  if (!pods.ok()) return pods.status();
  std::vector<PodEndpoint> eps;
  for (const auto& p : (*pods)["items"]) {
    if (auto ep = PodEndpointFor(p)) eps.push_back(std::move(*ep));
  }

  lo.label_selector = OurSlices(name);
  auto slices = client_->List(kEndpointSlices, ns, lo);
  if (!slices.ok()) return slices.status();
  std::map<std::string, Json> existing;
  for (auto& s : (*slices)["items"]) {
    std::string slice_name = Str(Meta(s), "name");
    existing[slice_name] = std::move(s);
  }

  absl::Status first_error;
  auto note = [&](const absl::Status& s) {
    if (!s.ok() && first_error.ok()) first_error = s;
  };
  std::set<std::string> wanted;
  for (const auto& ep : eps) {
    Json desired = MakeEndpointSlice(*svc, ep);
    std::string slice_name = desired["metadata"]["name"];
    wanted.insert(slice_name);
    auto it = existing.find(slice_name);
    if (it == existing.end()) {
      note(client_->Create(kEndpointSlices, ns, desired).status());
    } else if (!SliceUpToDate(it->second, desired)) {
      desired["metadata"]["resourceVersion"] = Meta(it->second).value("resourceVersion", "");
      note(client_->Update(kEndpointSlices, ns, desired).status());
    }
  }
  for (const auto& [slice_name, s] : existing) {
    if (wanted.count(slice_name)) continue;
    auto r = client_->Delete(kEndpointSlices, ns, slice_name);
    if (!absl::IsNotFound(r.status())) note(r.status());
  }

  Json desired = MakeEndpoints(*svc, eps);
  auto current = client_->Get(kEndpoints, ns, name);
  if (!current.ok()) {
    if (absl::IsNotFound(current.status())) {
      auto w = client_->Create(kEndpoints, ns, desired);
      if (w.ok()) own_endpoints_.Wrote(key, *w);
      note(w.status());
    } else {
      note(current.status());
    }
  } else if (!EndpointsUpToDate(*current, desired)) {
    desired["metadata"]["resourceVersion"] = Meta(*current).value("resourceVersion", "");
    if (!desired.contains("subsets")) desired["subsets"] = Json::array();
    auto w = client_->Update(kEndpoints, ns, desired);
    if (w.ok()) own_endpoints_.Wrote(key, *w);
    note(w.status());
  }
  if (!first_error.ok()) return first_error;
  return Duration(0);
}

}  // namespace kfaas::node
