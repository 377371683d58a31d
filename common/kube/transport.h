// Transport: the HTTP seam under RestClient. RestClient builds requests, authenticates,
// retries and decodes; a Transport only moves bytes. The production transport is cpprestsdk's
// http_client (NewCpprestTransport) or Boost.Beast (BeastTransport); tests may substitute a
// scripted one.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "common/base/clock.h"

namespace kfaas::kube {

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  // Path and query, already percent-encoded: "/api/v1/namespaces/a/pods?limit=500". Appended to
  // the transport's base URL.
  std::string target;
  std::vector<std::pair<std::string, std::string>> headers;  // Content-Type included
  std::string body;
  Duration timeout{0};  // 0: the transport's default. For streams: the inactivity limit.
};

struct HttpResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // Case-insensitive; "" when absent.
  std::string Header(std::string_view name) const;
};

// The body of a streamed response, read as it arrives.
class ResponseStream {
 public:
  virtual ~ResponseStream() = default;
  virtual int status() const = 0;
  virtual std::string Header(std::string_view name) const = 0;
  // Blocks until more of the body is available and replaces *chunk with it. Returns false at the
  // end of the body, on an error, or after Cancel(); error() tells which (OK for a clean end).
  virtual bool Read(std::string* chunk) = 0;
  // Aborts the response (closes the connection); a blocked Read() returns false promptly.
  // Thread-safe, idempotent.
  virtual void Cancel() = 0;
  virtual absl::Status error() const = 0;
};

class Transport {
 public:
  virtual ~Transport() = default;
  // One request/response exchange. Fails only when no HTTP response was received.
  virtual absl::StatusOr<HttpResponse> RoundTrip(const HttpRequest& req) = 0;
  // Returns once the status line and headers have arrived; the body is read from the stream.
  virtual absl::StatusOr<std::unique_ptr<ResponseStream>> Stream(const HttpRequest& req) = 0;
};

// A transport error for a request that provably never reached the server (DNS failure,
// connection refused, TLS handshake failure): safe to retry whatever the verb.
absl::Status NotSentError(std::string_view message);
bool IsNotSent(const absl::Status& s);

struct TransportConfig {
  std::string base_url;  // "https://127.0.0.1:6443" (scheme, host, port, optional path)
  std::string ca_pem;    // trust only these CAs; empty: the system store
  std::string client_cert_pem;
  std::string client_key_pem;
  std::string tls_server_name;  // verify the server certificate against this name (and SNI)
  bool insecure_skip_tls_verify = false;
  Duration timeout = std::chrono::seconds(30);
};

// Sizes cpprestsdk's process-wide I/O thread pool. Its own default, 40 threads, costs ~3x the
// CPU per request on a small machine (a thundering herd on one io_service: ~35 context switches
// per request against ~5 with 4 threads), so the first NewCpprestTransport() sets it to
// kDefaultCpprestThreads unless main() called this first. An error once the pool is running.
// The pool only runs I/O callbacks: blocking calls (Read(), RoundTrip()) wait on the caller's
// thread, so a few threads serve any number of concurrent requests and watches.
inline constexpr size_t kDefaultCpprestThreads = 4;
absl::Status InitCpprestThreadPool(size_t threads);

// cpprestsdk's http_client: keep-alive connection pools, any number of concurrent requests.
absl::StatusOr<std::shared_ptr<Transport>> NewCpprestTransport(const TransportConfig& config);

// The transports by name, for flags and RestConfig::transport: "beast" (BeastTransport,
// beast_transport.h: synchronous on the caller's thread, pooled keep-alive connections) or
// "cpprest" (NewCpprestTransport). InvalidArgument for another name.
absl::StatusOr<std::shared_ptr<Transport>> NewTransport(std::string_view name,
                                                        const TransportConfig& config);

}  // namespace kfaas::kube
