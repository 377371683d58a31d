#include "autoscaler/activator/peers.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>

namespace kfaas::autoscaler {

std::set<std::string> LocalAddresses() {
  std::set<std::string> out = {"localhost"};
  ifaddrs* ifs = nullptr;
  if (getifaddrs(&ifs) != 0) return out;
  for (ifaddrs* p = ifs; p; p = p->ifa_next) {
    if (!p->ifa_addr) continue;
    char buf[INET6_ADDRSTRLEN] = {};
    if (p->ifa_addr->sa_family == AF_INET) {
      inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(p->ifa_addr)->sin_addr, buf, sizeof(buf));
    } else if (p->ifa_addr->sa_family == AF_INET6) {
      inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(p->ifa_addr)->sin6_addr, buf,
                sizeof(buf));
    } else {
      continue;
    }
    out.insert(buf);
  }
  freeifaddrs(ifs);
  return out;
}

ResolvingPeers::ResolvingPeers(std::vector<std::string> addresses, int own_port,
                               std::chrono::steady_clock::duration refresh)
    : discovery_(std::move(addresses), refresh), own_port_(own_port), own_ips_(LocalAddresses()) {}

std::vector<std::string> ResolvingPeers::Peers() {
  std::vector<std::string> out;
  for (const std::string& a : discovery_.Addresses()) {
    std::string host, port;
    if (SplitHostPort(a, &host, &port) && port == std::to_string(own_port_.load()) &&
        own_ips_.count(host))
      continue;
    out.push_back(a);
  }
  return out;
}

}  // namespace kfaas::autoscaler
