#include "autoscaler/loop/discovery.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <set>

#include "common/base/log.h"

namespace kfaas::autoscaler {

bool SplitHostPort(const std::string& address, std::string* host, std::string* port) {
  if (!address.empty() && address[0] == '[') {
    const size_t close = address.find(']');
    if (close == std::string::npos || close + 1 >= address.size() || address[close + 1] != ':') {
      return false;
    }
    *host = address.substr(1, close - 1);
    *port = address.substr(close + 2);
  } else {
    const size_t colon = address.rfind(':');
    if (colon == std::string::npos || address.find(':') != colon) return false;
    *host = address.substr(0, colon);
    *port = address.substr(colon + 1);
  }
  return !host->empty() && !port->empty();
}

std::string JoinHostPort(const std::string& ip, const std::string& port) {
  if (ip.find(':') != std::string::npos) return "[" + ip + "]:" + port;
  return ip + ":" + port;
}

ResolvingDiscovery::ResolvingDiscovery(std::vector<std::string> addresses,
                                       std::chrono::steady_clock::duration refresh)
    : addresses_(std::move(addresses)), refresh_(refresh) {}

std::vector<std::string> ResolvingDiscovery::Addresses() {
  std::lock_guard<std::mutex> l(mu_);
  const auto now = std::chrono::steady_clock::now();
  if (!cache_.empty() && now - resolved_at_ < refresh_) return cache_;
  std::set<std::string> out;
  for (const std::string& a : addresses_) {
    std::string host, port;
    if (!SplitHostPort(a, &host, &port)) {
      KFAAS_LOG(WARNING) << "activator address \"" << a << "\" is not host:port; ignored";
      continue;
    }
    in6_addr ip6;
    in_addr ip4;
    if (inet_pton(AF_INET, host.c_str(), &ip4) == 1 ||
        inet_pton(AF_INET6, host.c_str(), &ip6) == 1) {
      out.insert(JoinHostPort(host, port));
      continue;
    }
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    const int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &res);
    if (rc != 0 || !res) {
      KFAAS_VLOG(1) << "cannot resolve activator address " << a << ": " << gai_strerror(rc);
      out.insert(a);
      continue;
    }
    for (addrinfo* p = res; p; p = p->ai_next) {
      char buf[INET6_ADDRSTRLEN] = {};
      if (p->ai_family == AF_INET) {
        inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(p->ai_addr)->sin_addr, buf, sizeof(buf));
      } else if (p->ai_family == AF_INET6) {
        inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(p->ai_addr)->sin6_addr, buf,
                  sizeof(buf));
      } else {
        continue;
      }
      out.insert(JoinHostPort(buf, port));
    }
    freeaddrinfo(res);
  }
  cache_.assign(out.begin(), out.end());
  resolved_at_ = now;
  return cache_;
}

std::vector<std::string> CombinedDiscovery::Addresses() {
  std::set<std::string> out;
  for (auto* s : sources_) {
    for (auto& a : s->Addresses()) out.insert(std::move(a));
  }
  return {out.begin(), out.end()};
}

}  // namespace kfaas::autoscaler
