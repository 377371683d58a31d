// PortAllocator: one port on 127.0.0.1 per local pod, handed to its process as $PORT.
//
// Ports come from a range below Linux's ephemeral range (32768-60999 by default), so outgoing
// connections never hold a port a function is about to listen on. The allocator cycles through
// the range from a random start (recently released ports are reused last, and two kfaas-local
// instances rarely collide) and only hands out a port it could bind itself, with SO_REUSEADDR
// as servers do, on 0.0.0.0. Thread-safe.
#pragma once

#include <cstdint>
#include <mutex>
#include <set>

#include "absl/status/statusor.h"

namespace kfaas::node {

class PortAllocator {
 public:
  // [first, last], inclusive.
  PortAllocator(uint16_t first, uint16_t last);

  // A port not handed out before (or released since) that is bindable now.
  // ResourceExhausted when the whole range is in use.
  absl::StatusOr<uint16_t> Allocate();
  void Release(uint16_t port);
  // True when `port` can be bound now (used to re-check a pod's port before a restart).
  static bool Bindable(uint16_t port);
  size_t InUse() const;

 private:
  const uint16_t first_, last_;
  mutable std::mutex mu_;
  uint32_t next_;  // guarded by mu_
  std::set<uint16_t> used_;
};

}  // namespace kfaas::node
