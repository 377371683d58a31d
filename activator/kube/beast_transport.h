// BeastTransport: a kube::Transport on ONE persistent HTTP(S) connection, kept open and reused,
// for the activator's /scale writes (the first step of every cold start).
//
// cpprestsdk's client hands each request to its I/O pool and back (two thread hops, plus a
// connection taken from a shared pool); this transport does the exchange synchronously on the
// calling thread (the scale writer's), on a connection opened in advance (Warm()). A connection
// the server closed meanwhile (idle timeout) is noticed before writing and replaced; an exchange
// that fails on a reused connection before any response byte arrived is retried once on a fresh
// one. TLS as the kubeconfig says (CA, client certificate, server name, insecure-skip-verify).
// Thread-safe (one exchange at a time). Stream() (watches) is not supported.
#pragma once

#include <memory>
#include <mutex>

#include "common/kube/transport.h"

namespace kfaas::activator {

class BeastTransport : public kube::Transport {
 public:
  static absl::StatusOr<std::shared_ptr<BeastTransport>> New(const kube::TransportConfig& config);
  ~BeastTransport() override;

  absl::StatusOr<kube::HttpResponse> RoundTrip(const kube::HttpRequest& req) override;
  absl::StatusOr<std::unique_ptr<kube::ResponseStream>> Stream(
      const kube::HttpRequest& req) override;

  // Opens the connection (TCP and TLS handshake) now, so the first request does not pay for it.
  absl::Status Warm();
  int64_t connections_opened() const;

 private:
  class Impl;
  explicit BeastTransport(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kfaas::activator
