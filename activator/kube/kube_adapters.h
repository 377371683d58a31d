// Kubernetes implementations of the activator core's seams.
//
//   KubeScaler            PATCH deployments/<name>/scale {"spec":{"replicas":N}} (merge patch),
//                         off the data path on a writer thread; current replicas from a
//                         Deployment informer.
//   KubeColdStartReporter PATCH functions/<name>/status {"status":{"lastColdStart":{...}}},
//                         shortly after the cold start (not while its first answer is relayed).
//   KubeUpdateSource      Function, EndpointSlice and Pod (label kfaas.dev/function) informers
//                         feeding the registry. Pods let the activator probe an instance as
//                         soon as its address is known, before its EndpointSlice propagates.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "activator/core/seams.h"
#include "common/base/clock.h"
#include "common/kube/client.h"
#include "common/kube/informer.h"

namespace kfaas::activator {

// Runs blocking control-plane calls in order on its own thread.
class AsyncWorker {
 public:
  AsyncWorker();
  ~AsyncWorker();  // Shutdown()
  // Finishes the queued work, then joins. Call it while everything the queued work touches (the
  // registry its callbacks report to, the informers) is still alive. Idempotent.
  void Shutdown();
  void Post(std::function<void()> fn);  // dropped after Shutdown()

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> q_;
  bool stop_ = false;
  std::thread thread_;
};

class KubeScaler : public Scaler {
 public:
  // `deployments` (optional) is an informer of apps/v1 Deployments, for CurrentReplicas.
  KubeScaler(std::shared_ptr<kube::Client> client, kube::Informer* deployments,
             AsyncWorker* worker);
  void ScaleTo(const std::string& ns, const std::string& name, int replicas,
               std::function<void(absl::Status)> done) override;
  std::optional<int> CurrentReplicas(const std::string& ns, const std::string& name) override;

 private:
  std::shared_ptr<kube::Client> client_;
  kube::Informer* deployments_;
  AsyncWorker* worker_;
};

class KubeColdStartReporter : public ColdStartReporter {
 public:
  // The patch is written `delay` after Report() (reports queued behind it wait no longer than
  // their own delay): Report() is called when the cold start's first byte is forwarded, and
  // the write with the watch events it causes (the operator's and our own Function informers)
  // would otherwise compete for the CPU with the instance's first answer.
  static constexpr Duration kDefaultDelay = std::chrono::milliseconds(100);
  KubeColdStartReporter(std::shared_ptr<kube::Client> client, AsyncWorker* worker,
                        Duration delay = kDefaultDelay)
      : client_(std::move(client)), worker_(worker), delay_(delay) {}
  void Report(const ColdStartRecord& record) override;
  // The merge patch written to the Function's status.
  static nlohmann::json StatusPatch(const ColdStartRecord& record);

 private:
  std::shared_ptr<kube::Client> client_;
  AsyncWorker* worker_;
  Duration delay_;
};

class KubeUpdateSource : public UpdateSource {
 public:
  // `ns` "" watches all namespaces. `watch_pods` false: no pod informer (instances appear
  // with their EndpointSlices only; the activator then needs no pods list/watch permission).
  // `pods_client` (optional) carries the pod watch (e.g. a client on BeastTransport, whose
  // stream is read by the informer's own thread: one thread hop less than cpprestsdk's).
  KubeUpdateSource(std::shared_ptr<kube::Client> client, std::string ns, bool watch_pods = true,
                   std::shared_ptr<kube::Client> pods_client = nullptr);
  ~KubeUpdateSource() override;
  void Start(UpdateSink* sink) override;
  void Stop() override;
  bool HasSynced() const override;
  kube::Informer* deployments() { return deployments_.get(); }

 private:
  std::unique_ptr<kube::Informer> functions_;
  std::unique_ptr<kube::Informer> slices_;
  std::unique_ptr<kube::Informer> deployments_;
  std::unique_ptr<kube::Informer> pods_;  // nullptr when not watched
};

}  // namespace kfaas::activator
