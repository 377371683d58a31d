#include "local/node/node.h"

#include <vector>

#include "common/base/log.h"
#include "common/kube/informer.h"
#include "local/node/endpoints_logic.h"

namespace kfaas::node {

using kube::ObjectPtr;

class Node::Impl {
 public:
  Impl(ClientFactory client_for, NodeOptions opts) : opts_(std::move(opts)) {
    opts_.agent.node_name = opts_.node_name;
    agent_ = std::make_unique<NodeAgent>(client_for("kfaas-local/node-agent"), opts_.agent);
    deployments_ctl_ = std::make_unique<DeploymentController>(
        client_for("kfaas-local/deployment-controller"),
        DeploymentControllerOptions{
            .node_name = opts_.node_name,
            .workers = opts_.controller_workers,
            .reserve_port = [agent = agent_.get()] { return agent->ReservePort(); },
            .release_port = [agent = agent_.get()](uint16_t port) { agent->ReleasePort(port); },
            // Its informer's cache, as a controller-runtime reconciler reads it (set below,
            // before anything runs).
            .cached_deployment =
                [this](const std::string& ns, const std::string& name) {
                  return deployments_->Get(ns, name);
                }});
    endpoints_ctl_ = std::make_unique<EndpointsController>(
        client_for("kfaas-local/endpoints-controller"),
        EndpointsControllerOptions{.workers = opts_.controller_workers});

    auto informer_client = client_for("kfaas-local/node-informers");
    deployments_ = std::make_unique<kube::Informer>(informer_client, kube::resources::kDeployments);
    pods_ = std::make_unique<kube::Informer>(informer_client, kube::resources::kPods);
    services_ = std::make_unique<kube::Informer>(informer_client, kube::resources::kServices);
    kube::InformerOptions slice_opts;
    slice_opts.label_selector = std::string(kManagedByLabel) + "=" + kManagedByValue;
    slices_ = std::make_unique<kube::Informer>(informer_client, kube::resources::kEndpointSlices,
                                               slice_opts);

    DeploymentController* dc = deployments_ctl_.get();
    EndpointsController* ec = endpoints_ctl_.get();
    NodeAgent* agent = agent_.get();
    deployments_->AddEventHandlers({
        .on_add = [dc](const ObjectPtr& o) { dc->OnDeployment(*o); },
        .on_update = [dc](const ObjectPtr&, const ObjectPtr& o) { dc->OnDeployment(*o); },
        .on_delete = [dc](const ObjectPtr& o) { dc->OnDeployment(*o); },
    });
    // The agent goes first: a new pod's process starts before anything else looks at it.
    pods_->AddEventHandlers({
        .on_add =
            [agent, dc, ec](const ObjectPtr& o) {
              agent->OnPodUpsert(o);
              dc->OnPod(*o);
              ec->OnPod(*o);
            },
        .on_update =
            [agent, dc, ec](const ObjectPtr&, const ObjectPtr& o) {
              agent->OnPodUpsert(o);
              dc->OnPod(*o);
              ec->OnPod(*o);
            },
        .on_delete =
            [agent, dc, ec](const ObjectPtr& o) {
              agent->OnPodDelete(o);
              dc->OnPod(*o);
              ec->OnPodDeleted(*o);
            },
    });
    services_->AddEventHandlers({
        .on_add = [ec](const ObjectPtr& o) { ec->OnService(*o); },
        .on_update = [ec](const ObjectPtr&, const ObjectPtr& o) { ec->OnService(*o); },
        .on_delete = [ec](const ObjectPtr& o) { ec->OnServiceDeleted(*o); },
    });
    slices_->AddEventHandlers({
        .on_update = [ec](const ObjectPtr&, const ObjectPtr& o) { ec->OnEndpointSlice(*o); },
        .on_delete = [ec](const ObjectPtr& o) { ec->OnEndpointSlice(*o); },
    });
  }

  absl::Status Start() {
    if (started_) return absl::OkStatus();
    if (auto s = agent_->Start(); !s.ok()) return s;
    deployments_ctl_->Start();
    endpoints_ctl_->Start();
    // Services before pods, so the first pod events find their Services' selectors.
    for (auto* inf : {services_.get(), deployments_.get(), slices_.get(), pods_.get()}) {
      inf->Start();
    }
    started_ = true;
    for (auto* inf : {services_.get(), deployments_.get(), slices_.get(), pods_.get()}) {
      if (!inf->WaitForSync(opts_.sync_timeout)) {
        KFAAS_LOG(WARNING) << "node: the " << inf->resource().resource
                           << " cache did not sync in time; continuing (it will catch up)";
      }
    }
    KFAAS_LOG(INFO) << "node " << opts_.node_name << " running pods as processes; logs in "
                    << opts_.agent.logs_dir;
    return absl::OkStatus();
  }

  void Stop() {
    if (!started_) return;
    started_ = false;
    for (auto* inf : {pods_.get(), services_.get(), deployments_.get(), slices_.get()}) {
      inf->Stop();
    }
    deployments_ctl_->Stop();
    endpoints_ctl_->Stop();
    agent_->Stop();
  }

  NodeAgent& agent() { return *agent_; }

 private:
  NodeOptions opts_;
  std::unique_ptr<NodeAgent> agent_;
  // Before the controllers, which read the Deployments' cache: destroyed after them.
  std::unique_ptr<kube::Informer> deployments_, pods_, services_, slices_;
  std::unique_ptr<DeploymentController> deployments_ctl_;
  std::unique_ptr<EndpointsController> endpoints_ctl_;
  bool started_ = false;
};

Node::Node(ClientFactory client_for, NodeOptions opts)
    : impl_(std::make_unique<Impl>(std::move(client_for), std::move(opts))) {}

Node::~Node() { Stop(); }

absl::Status Node::Start() { return impl_->Start(); }

void Node::Stop() { impl_->Stop(); }

NodeAgent& Node::agent() { return impl_->agent(); }

}  // namespace kfaas::node
