// Activator discovery for the loop.
//   ResolvingDiscovery   a fixed list of host:port (the --activator-stats-address flag); a name
//                        resolving to several addresses (a headless Service) expands to one
//                        address per activator, re-resolved every `refresh`.
//   CombinedDiscovery    the union of several sources (flag list + EndpointSlices).
// The EndpointSlice source (needs the Kubernetes client) is in kube_adapters.h.
#pragma once

#include <chrono>
#include <mutex>
#include <string>
#include <vector>

#include "autoscaler/loop/interfaces.h"

namespace kfaas::autoscaler {

class ResolvingDiscovery : public ActivatorDiscovery {
 public:
  explicit ResolvingDiscovery(
      std::vector<std::string> addresses,
      std::chrono::steady_clock::duration refresh = std::chrono::seconds(5));
  // Blocks on DNS at most once per `refresh`; a name that does not resolve is returned as is
  // (the stream to it fails and retries, and says why).
  std::vector<std::string> Addresses() override;

 private:
  const std::vector<std::string> addresses_;
  const std::chrono::steady_clock::duration refresh_;
  std::mutex mu_;
  std::chrono::steady_clock::time_point resolved_at_{};
  std::vector<std::string> cache_;
};

class CombinedDiscovery : public ActivatorDiscovery {
 public:
  explicit CombinedDiscovery(std::vector<ActivatorDiscovery*> sources)
      : sources_(std::move(sources)) {}
  std::vector<std::string> Addresses() override;

 private:
  std::vector<ActivatorDiscovery*> sources_;
};

// "host:port" -> {host, port}; IPv6 literals in brackets ("[::1]:9095").
bool SplitHostPort(const std::string& address, std::string* host, std::string* port);
// ip + port -> "ip:port" or "[ip]:port".
std::string JoinHostPort(const std::string& ip, const std::string& port);

}  // namespace kfaas::autoscaler
