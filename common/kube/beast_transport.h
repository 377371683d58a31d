// BeastTransport: a kube::Transport on Boost.Beast that does every exchange synchronously on the
// calling thread, on keep-alive HTTP(S) connections it pools.
//
// cpprestsdk's client hands each request to its I/O pool and back (two thread hops per request,
// continuations, a shared connection pool under locks); here a RoundTrip() takes an idle
// connection from the pool (or opens one), writes and reads on the caller's thread, and puts the
// connection back: N threads issuing requests concurrently use N connections, each driven by
// its own io_context. Idle connections beyond max_idle_connections are closed.
//
//   - A pooled connection the server closed meanwhile (idle timeout) is noticed before writing
//     and replaced; an exchange that fails on a reused connection before any response byte
//     arrived is retried once on a fresh one (except a POST, which may have been processed).
//   - Stream() (watches) opens a connection of its own, read as the body arrives; Cancel()
//     closes it from any thread.
//   - TLS as the kubeconfig says: CA (exactly those), client certificate, server name (SNI and
//     verification), insecure-skip-tls-verify.
//   - Errors: connection refused, DNS or connect timeout: NotSentError (retryable, any verb); a
//     certificate that does not verify: FailedPrecondition naming the settings to check; no
//     response within the timeout: DeadlineExceeded; a connection dropped mid-exchange:
//     Unavailable. Messages name the method and the URL.
// Thread-safe.
#pragma once

#include <memory>

#include "common/kube/transport.h"

namespace kfaas::kube {

struct BeastTransportOptions {
  // Idle keep-alive connections kept for reuse; more concurrent requests open more connections,
  // closed when they come back to a full pool.
  size_t max_idle_connections = 32;
};

class BeastTransport : public Transport {
 public:
  static absl::StatusOr<std::shared_ptr<BeastTransport>> New(const TransportConfig& config,
                                                             BeastTransportOptions options = {});
  ~BeastTransport() override;

  absl::StatusOr<HttpResponse> RoundTrip(const HttpRequest& req) override;
  absl::StatusOr<std::unique_ptr<ResponseStream>> Stream(const HttpRequest& req) override;

  // Makes sure one idle connection is open (TCP and TLS handshake done), so the next request
  // does not pay for it.
  absl::Status Warm();
  // Connections opened so far (pooled and streams).
  int64_t connections_opened() const;
  // Idle connections in the pool now.
  size_t idle_connections() const;

 private:
  class Impl;
  explicit BeastTransport(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kfaas::kube
