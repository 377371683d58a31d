// Internal to net/: one io thread's state, shared by the server, its sessions and sweeper.
#pragma once

#include <atomic>
#include <optional>
#include <thread>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "activator/core/registry.h"
#include "activator/net/proxy_server.h"
#include "activator/net/upstream_pool.h"

namespace kfaas::activator::net {

struct ServerShared {
  Registry* registry = nullptr;
  ProxyOptions opts;
  std::atomic<bool> draining{false};
  std::atomic<bool> accepting{false};
  // The drain bound ended: requests still at an instance are cut and answered 503.
  std::atomic<bool> cutting{false};
  std::atomic<int64_t> active_requests{0};
  std::atomic<int64_t> open_connections{0};
};

class Session;

struct Worker {
  explicit Worker(ServerShared* s) : shared(s), pool(s->opts.max_idle_upstream_per_instance) {}
  ServerShared* shared;
  boost::asio::io_context ioc{1};
  std::optional<boost::asio::ip::tcp::acceptor> acceptor;
  UpstreamPool pool;
  std::thread thread;
  // Intrusive list of this thread's sessions, for the sweeper (timeouts) and drain.
  Session* sessions = nullptr;
};

// The connection loop of one client connection (net/session.cc).
boost::asio::awaitable<void> RunSession(Worker& worker, boost::asio::ip::tcp::socket socket);
// Every sweep_interval: header timeouts, invocation timeouts, drain of idle connections.
boost::asio::awaitable<void> RunSweeper(Worker& worker);
// On the worker's thread, after the drain bound: closes the instance connection of every request
// still forwarded, so that each answers its client 503 "the activator shut down" (a response whose
// header went out already can only be cut). Returns how many were cut.
int CutForwardedForShutdown(Worker& worker);

}  // namespace kfaas::activator::net
