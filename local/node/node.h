// Node: everything kfaas-local runs beside its API server to make Deployments real —
// the Deployment controller, the node agent (pods as processes) and the Endpoints/EndpointSlice
// controller — wired to shared informers (deployments, pods, services, our endpointslices).
//
//   kfaas::node::NodeOptions o;
//   o.agent.logs_dir = server.log_dir();          // where `kubectl logs` reads
//   o.agent.bin_dirs = {home + "/bin"};           // bare command names resolve here first
//   kfaas::node::Node node([&](std::string ua) { return server.LocalClient(ua); }, o);
//   KFAAS_CHECK(node.Start().ok());
//   ...
//   node.Stop();                                  // before the server stops
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "common/kube/client.h"
#include "local/node/deployment_controller.h"
#include "local/node/endpoints_controller.h"
#include "local/node/node_agent.h"

namespace kfaas::node {

struct NodeOptions {
  std::string node_name = "kfaas-local";
  NodeAgentOptions agent;  // agent.logs_dir is required
  int controller_workers = 2;
  Duration sync_timeout = std::chrono::seconds(10);  // Start() waits this long for the caches
};

class Node {
 public:
  // Each component gets its own client from `client_for(user_agent)`.
  using ClientFactory = std::function<std::shared_ptr<kube::Client>(const std::string&)>;

  Node(ClientFactory client_for, NodeOptions opts);
  ~Node();  // Stop()

  absl::Status Start();
  // Stops the controllers and informers, then every pod process. Idempotent.
  void Stop();

  NodeAgent& agent();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kfaas::node
