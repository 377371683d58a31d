// ProxyServer: the activator's traffic port. A fixed number of io threads, each with its own
// io_context, SO_REUSEPORT acceptor and upstream pool, so a request is served start to end on
// one thread with no lock on the I/O path.
//
// Per request (net/session.cc): read the header (limits: 431, 413, 400; slow-header timeout),
// route (404), admit (429 over --max-concurrency; queue behind full instances or a cold start,
// 503 when the buffer is full, 504 past the deadline), forward with streaming bodies both ways
// over a keep-alive upstream connection (retry on another instance only when nothing was
// sent; 502 when an instance fails; 504 past timeoutSeconds), record metrics.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "activator/core/registry.h"
#include "common/base/clock.h"

namespace kfaas::activator::net {

struct ProxyOptions {
  std::string address = "0.0.0.0";
  uint16_t port = 8080;
  int threads = 0;                                     // 0: one per core
  uint64_t max_body_bytes = 64ull << 20;               // 413 above
  uint32_t max_header_bytes = 32u << 10;               // 431 above
  Duration header_timeout = std::chrono::seconds(30);  // to receive a whole request header
  Duration connect_timeout = std::chrono::seconds(3);
  int max_attempts = 3;                         // connection attempts on distinct instances
  size_t max_idle_upstream_per_instance = 512;  // per thread
  Duration sweep_interval = std::chrono::milliseconds(20);  // timeout granularity
};

struct Worker;
struct ServerShared;

class ProxyServer {
 public:
  ProxyServer(Registry* registry, ProxyOptions opts);
  ~ProxyServer();  // Stop()
  ProxyServer(const ProxyServer&) = delete;
  ProxyServer& operator=(const ProxyServer&) = delete;

  // Binds (port 0 picks a free one) and starts the io threads.
  absl::Status Start();
  uint16_t port() const;
  // Serving and not draining (the traffic side of /readyz).
  bool ready() const;
  // Graceful drain: stop accepting, answer every further response with Connection: close,
  // close idle connections, wait up to `bound` for in-flight requests. Returns true when all
  // finished in time. Past the bound, every request still held or still at an instance is
  // answered 503 (reason ShuttingDown) within a second; a response already being relayed can
  // only be cut. Then Stop().
  bool Drain(Duration bound);
  void Stop();

  int64_t active_requests() const;
  int64_t open_connections() const;
  int threads() const;

 private:
  std::unique_ptr<ServerShared> shared_;
  std::vector<std::unique_ptr<Worker>> workers_;
  uint16_t port_ = 0;
  // Atomic: ready() reads it while Drain() runs on another thread (found by TSan).
  std::atomic<bool> started_{false};
};

}  // namespace kfaas::activator::net
