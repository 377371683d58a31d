#include "activator/kube/kube_adapters.h"

#include <thread>

#include "activator/core/endpoints.h"
#include "common/base/json_fields.h"
#include "common/base/log.h"
#include "common/base/time_format.h"

namespace kfaas::activator {

using Json = nlohmann::json;

AsyncWorker::AsyncWorker() {
  thread_ = std::thread([this] {
    std::unique_lock<std::mutex> l(mu_);
    while (true) {
      cv_.wait(l, [&] { return stop_ || !q_.empty(); });
      if (q_.empty()) return;
      auto fn = std::move(q_.front());
      q_.pop_front();
      l.unlock();
      fn();
      l.lock();
    }
  });
}

AsyncWorker::~AsyncWorker() { Shutdown(); }

void AsyncWorker::Shutdown() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

void AsyncWorker::Post(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (stop_) return;
    q_.push_back(std::move(fn));
  }
  cv_.notify_one();
}

KubeScaler::KubeScaler(std::shared_ptr<kube::Client> client, kube::Informer* deployments,
                       AsyncWorker* worker)
    : client_(std::move(client)), deployments_(deployments), worker_(worker) {}

void KubeScaler::ScaleTo(const std::string& ns, const std::string& name, int replicas,
                         std::function<void(absl::Status)> done) {
  worker_->Post([this, ns, name, replicas, done = std::move(done)] {
    Json patch = {{"spec", {{"replicas", replicas}}}};
    auto r = client_->Patch(kube::resources::kDeployments, ns, name, kube::PatchType::kMerge, patch,
                            "scale");
    if (!r.ok()) {
      done(absl::Status(r.status().code(), "PATCH deployments/" + name + "/scale in " + ns + ": " +
                                               std::string(r.status().message())));
      return;
    }
    done(absl::OkStatus());
  });
}

std::optional<int> KubeScaler::CurrentReplicas(const std::string& ns, const std::string& name) {
  if (!deployments_ || !deployments_->HasSynced()) return std::nullopt;
  kube::ObjectPtr d = deployments_->Get(ns, name);
  if (!d) return std::nullopt;
  const Json& spec = json::FieldOrEmptyObject(*d, "spec");
  if (!spec.is_object()) return std::nullopt;
  auto it = spec.find("replicas");
  if (it == spec.end()) return 1;  // the API's default
  if (!it->is_number_integer()) return std::nullopt;
  return it->get<int>();
}

Json KubeColdStartReporter::StatusPatch(const ColdStartRecord& r) {
  return {{"status",
           {{"lastColdStart",
             {{"time", FormatRfc3339(r.time)},
              {"durationMilliseconds",
               std::chrono::duration_cast<std::chrono::milliseconds>(r.total).count()}}}}}};
}

void KubeColdStartReporter::Report(const ColdStartRecord& record) {
  Json patch = StatusPatch(record);
  std::string ns = record.ns, name = record.name;
  auto not_before = std::chrono::steady_clock::now() + delay_;
  worker_->Post([this, ns, name, patch, not_before] {
    std::this_thread::sleep_until(not_before);
    auto r = client_->Patch(kube::resources::kFunctions, ns, name, kube::PatchType::kMerge, patch,
                            "status");
    if (!r.ok()) {
      KFAAS_LOG(WARNING) << "recording the cold start of " << ns << "/" << name
                         << " in its status failed: " << r.status().message();
    }
  });
}

KubeUpdateSource::KubeUpdateSource(std::shared_ptr<kube::Client> client, std::string ns,
                                   bool watch_pods, std::shared_ptr<kube::Client> pods_client) {
  kube::InformerOptions fo;
  fo.ns = ns;
  functions_ = std::make_unique<kube::Informer>(client, kube::resources::kFunctions, fo);
  kube::InformerOptions so = fo;
  so.label_selector = "kubernetes.io/service-name";
  slices_ = std::make_unique<kube::Informer>(client, kube::resources::kEndpointSlices, so);
  deployments_ = std::make_unique<kube::Informer>(client, kube::resources::kDeployments, fo);
  if (watch_pods) {
    kube::InformerOptions po = fo;
    po.label_selector = kFunctionLabel;
    pods_ = std::make_unique<kube::Informer>(pods_client ? pods_client : client,
                                             kube::resources::kPods, po);
  }
}

KubeUpdateSource::~KubeUpdateSource() { Stop(); }

void KubeUpdateSource::Start(UpdateSink* sink) {
  functions_->AddEventHandlers(
      {[sink](const kube::ObjectPtr& o) { sink->OnFunction(*o); },
       [sink](const kube::ObjectPtr&, const kube::ObjectPtr& o) { sink->OnFunction(*o); },
       [sink](const kube::ObjectPtr& o) {
         const Json& md = json::FieldOrEmptyObject(*o, "metadata");
         sink->OnFunctionDeleted(md.value("namespace", ""), md.value("name", ""));
       }});
  slices_->AddEventHandlers(
      {[sink](const kube::ObjectPtr& o) { sink->OnEndpointSlice(*o); },
       [sink](const kube::ObjectPtr&, const kube::ObjectPtr& o) { sink->OnEndpointSlice(*o); },
       [sink](const kube::ObjectPtr& o) { sink->OnEndpointSliceDeleted(*o); }});
  if (pods_) {
    pods_->AddEventHandlers(
        {[sink](const kube::ObjectPtr& o) { sink->OnPod(*o); },
         [sink](const kube::ObjectPtr&, const kube::ObjectPtr& o) { sink->OnPod(*o); },
         [sink](const kube::ObjectPtr& o) { sink->OnPodDeleted(*o); }});
    pods_->Start();
  }
  deployments_->Start();
  slices_->Start();
  functions_->Start();
}

void KubeUpdateSource::Stop() {
  functions_->Stop();
  slices_->Stop();
  deployments_->Stop();
  if (pods_) pods_->Stop();
}

bool KubeUpdateSource::HasSynced() const {
  return functions_->HasSynced() && slices_->HasSynced() && deployments_->HasSynced() &&
         (!pods_ || pods_->HasSynced());
}

}  // namespace kfaas::activator
