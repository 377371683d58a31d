#include "local/node/ports.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <random>
#include <string>

namespace kfaas::node {

PortAllocator::PortAllocator(uint16_t first, uint16_t last)
    : first_(first <= last ? first : last), last_(first <= last ? last : first) {
  std::random_device rd;
  next_ = first_ + rd() % (uint32_t{last_} - first_ + 1);
}

bool PortAllocator::Bindable(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}

absl::StatusOr<uint16_t> PortAllocator::Allocate() {
  std::lock_guard<std::mutex> l(mu_);
  uint32_t size = uint32_t{last_} - first_ + 1;
  for (uint32_t i = 0; i < size; ++i) {
    uint16_t port = static_cast<uint16_t>(next_);
    next_ = next_ >= last_ ? first_ : next_ + 1;
    if (used_.count(port)) continue;
    if (!Bindable(port)) continue;
    used_.insert(port);
    return port;
  }
  return absl::ResourceExhaustedError("no free port in " + std::to_string(first_) + "-" +
                                      std::to_string(last_) +
                                      " for a pod; widen kfaas-local --pod-ports");
}

void PortAllocator::Release(uint16_t port) {
  std::lock_guard<std::mutex> l(mu_);
  used_.erase(port);
}

size_t PortAllocator::InUse() const {
  std::lock_guard<std::mutex> l(mu_);
  return used_.size();
}

}  // namespace kfaas::node
