// ResolvingPeers: the other activators' gRPC ports for KEDA answers that cover every replica,
// from the activator's --peers flag ("host:port,..."). A name resolving to several addresses
// (the chart's headless "<release>-activator-grpc" Service) expands to one peer per activator,
// re-resolved every `refresh`; this activator itself (any address of this host's interfaces
// with its own gRPC port) is left out.
#pragma once

#include <atomic>
#include <set>
#include <string>
#include <vector>

#include "autoscaler/loop/discovery.h"
#include "autoscaler/service/interfaces.h"

namespace kfaas::autoscaler {

class ResolvingPeers : public PeerSource {
 public:
  ResolvingPeers(std::vector<std::string> addresses, int own_port,
                 std::chrono::steady_clock::duration refresh = std::chrono::seconds(5));
  std::vector<std::string> Peers() override;
  // The gRPC port this activator bound (when it asked for a free one).
  void SetOwnPort(int port) { own_port_ = port; }

 private:
  ResolvingDiscovery discovery_;
  std::atomic<int> own_port_;
  const std::set<std::string> own_ips_;
};

// The IP addresses of this host's interfaces, plus "localhost" (for leaving oneself out).
std::set<std::string> LocalAddresses();

}  // namespace kfaas::autoscaler
