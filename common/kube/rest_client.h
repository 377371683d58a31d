// RestClient: kube::Client over HTTP(S), for a real cluster or kfaas-local's API server.
//
//   ConfigLoadOptions opts;  // from the --kubeconfig / --context flags
//   opts.kubeconfig = flag_kubeconfig;
//   opts.context = flag_context;
//   auto client = RestClient::FromOptions(opts, [](RestConfig& c) { c.qps = 2000; c.burst = 4000;
//   }); if (!client.ok()) { KFAAS_LOG(ERROR) << client.status(); return 1; } auto fn =
//   (*client)->Get(resources::kFunctions, "default", "hello");
//
// Behaviour (as client-go's rest.Request, tuned for kfaas):
//   - Thread-safe; many concurrent requests share keep-alive connections.
//   - Client-side token bucket (RestConfig::qps / burst, default 50 / 100; qps <= 0: off).
//   - Retries (up to RestConfig::max_retries, exponential backoff 100 ms..5 s with jitter):
//       * 429, and 503 with Retry-After: any verb (the server did not process it), waiting
//         Retry-After when given;
//       * other 5xx and connection errors after the request was sent: idempotent verbs only
//         (GET, PUT, DELETE, and PATCH other than JSON patch) — never a POST that may have
//         succeeded;
//       * connection errors before anything was sent (refused, DNS): any verb.
//   - 401: the token is invalidated (token file re-read, exec plugin re-run) and the request is
//     retried once; a persistent 401 is an Unauthorized error naming the credential source.
//   - API errors are decoded from the Status body (errors.h); a non-Status error body becomes
//     "the server responded with HTTP <code>: <body excerpt>".
//   - Namespaced single-object calls with ns "" use the object's namespace, else the config's
//     default namespace; List/Watch with ns "" are across all namespaces.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "common/kube/auth.h"
#include "common/kube/client.h"
#include "common/kube/config.h"
#include "common/kube/transport.h"

namespace kfaas::kube {

class RestClient final : public Client {
 public:
  // `transport` nullptr: config.transport's, configured from `config` (TLS, timeouts).
  static absl::StatusOr<std::shared_ptr<RestClient>> New(
      RestConfig config, std::shared_ptr<Transport> transport = nullptr);
  // LoadConfig(opts), then `adjust` (e.g. to raise qps), then New().
  static absl::StatusOr<std::shared_ptr<RestClient>> FromOptions(
      const ConfigLoadOptions& opts, const std::function<void(RestConfig&)>& adjust = nullptr);

  ~RestClient() override;

  absl::StatusOr<Json> Get(const Resource& r, std::string_view ns, std::string_view name,
                           std::string_view subresource = {}) override;
  absl::StatusOr<Json> List(const Resource& r, std::string_view ns,
                            const ListOptions& opts = {}) override;
  absl::StatusOr<Json> Create(const Resource& r, std::string_view ns, const Json& obj,
                              const WriteOptions& opts = {}) override;
  absl::StatusOr<Json> Update(const Resource& r, std::string_view ns, const Json& obj,
                              std::string_view subresource = {},
                              const WriteOptions& opts = {}) override;
  absl::StatusOr<Json> Patch(const Resource& r, std::string_view ns, std::string_view name,
                             PatchType type, const Json& patch, std::string_view subresource = {},
                             const PatchOptions& opts = {}) override;
  absl::StatusOr<Json> Delete(const Resource& r, std::string_view ns, std::string_view name,
                              const DeleteOptions& opts = {}) override;
  absl::StatusOr<std::unique_ptr<WatchStream>> Watch(const Resource& r, std::string_view ns,
                                                     const WatchOptions& opts = {}) override;

  // GET of any path ("/version", "/apis", "/healthz"), with auth and retries. A 2xx JSON body
  // is returned as JSON; a non-JSON 2xx body as a JSON string.
  absl::StatusOr<Json> GetPath(std::string_view path);
  // A raw request through the same auth, rate limiting and retry logic. `idempotent` decides
  // whether 5xx and post-send connection errors are retried. Non-2xx responses are returned,
  // not turned into errors.
  absl::StatusOr<HttpResponse> Do(HttpRequest req, bool idempotent);

  const RestConfig& config() const { return config_; }
  const std::string& default_namespace() const { return config_.default_namespace; }

  struct Stats {
    int64_t requests = 0;   // attempts sent to the transport
    int64_t retries = 0;    // attempts beyond the first
    int64_t throttled = 0;  // requests delayed by the client-side rate limiter
  };
  Stats stats() const;

 private:
  RestClient(RestConfig config, std::shared_ptr<Transport> transport);
  class Limiter;
  absl::StatusOr<Json> Call(std::string method, std::string target, std::string content_type,
                            std::string body, bool idempotent);
  absl::StatusOr<Json> Decode(const HttpResponse& resp, const std::string& method,
                              const std::string& target) const;
  absl::Status ErrorFromResponse(int status, const std::string& body,
                                 const std::string& retry_after) const;
  absl::Status Authorize(HttpRequest* r, std::string* token);
  std::string ResolveNamespace(const Resource& r, std::string_view ns, const Json* obj) const;
  void SleepFor(Duration d);

  RestConfig config_;
  Clock& clock_;
  std::shared_ptr<Transport> transport_;
  std::unique_ptr<TokenSource> tokens_;
  std::unique_ptr<Limiter> limiter_;
  std::atomic<int64_t> requests_{0}, retries_{0}, throttled_{0};
};

// The transport settings of a client configuration (URL, TLS, timeout).
TransportConfig TransportConfigFor(const RestConfig& config);

// Percent-encodes a query value or path segment (RFC 3986 unreserved characters stay).
std::string UrlEncode(std::string_view s);

}  // namespace kfaas::kube
