// UpstreamPool: keep-alive connections to instances, one pool per io thread (a socket is bound
// to its thread's io_context), so taking and returning a connection never locks.
#pragma once

#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>

#include "activator/core/function_state.h"

namespace kfaas::activator::net {

struct UpstreamConn {
  explicit UpstreamConn(boost::asio::io_context& ioc) : socket(ioc) {}
  boost::asio::ip::tcp::socket socket;
  boost::beast::flat_buffer buffer;
  uint64_t instance_id = 0;
  int uses = 0;
};

class UpstreamPool {
 public:
  explicit UpstreamPool(size_t max_idle_per_instance = 512)
      : max_idle_per_instance_(max_idle_per_instance) {}
  // An idle connection to `inst`, or nullptr. Connections of removed instances are dropped.
  std::unique_ptr<UpstreamConn> Take(const Instance& inst);
  // Keeps `conn` for reuse (closes it when the instance is gone or the pool is full).
  void Put(const Instance& inst, std::unique_ptr<UpstreamConn> conn);
  size_t IdleCount() const;
  void Clear();

 private:
  size_t max_idle_per_instance_;
  std::unordered_map<uint64_t, std::vector<std::unique_ptr<UpstreamConn>>> idle_;
};

}  // namespace kfaas::activator::net
