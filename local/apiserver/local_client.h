// LocalClient: kube::Client implemented directly on the local API server's Api, with no HTTP
// and no serialization: the same validation, defaults, garbage collection and watch semantics
// as the HTTP API (both call Api). For kfaas-local's in-process controllers.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "common/kube/client.h"
#include "local/apiserver/api.h"

namespace kfaas::local {

// Everything an API server instance's clients share; kept alive by the clients, so a client
// that outlives its server fails cleanly (503) instead of touching freed memory.
struct ServerCore {
  ServerCore(StoreOptions store_opts, ApiOptions api_opts, Clock& clock)
      : store(store_opts), api(registry, store, faults, clock, std::move(api_opts)) {}
  Registry registry;
  Store store;
  Faults faults;
  Api api;
  std::atomic<bool> stopped{false};
};

class LocalClient final : public kube::Client {
 public:
  // After the server stops, calls fail with 503 ServiceUnavailable.
  LocalClient(std::shared_ptr<ServerCore> core, std::string user_agent);

  absl::StatusOr<Json> Get(const kube::Resource& r, std::string_view ns, std::string_view name,
                           std::string_view subresource = {}) override;
  absl::StatusOr<Json> List(const kube::Resource& r, std::string_view ns,
                            const kube::ListOptions& opts = {}) override;
  absl::StatusOr<Json> Create(const kube::Resource& r, std::string_view ns, const Json& obj,
                              const kube::WriteOptions& opts = {}) override;
  absl::StatusOr<Json> Update(const kube::Resource& r, std::string_view ns, const Json& obj,
                              std::string_view subresource = {},
                              const kube::WriteOptions& opts = {}) override;
  absl::StatusOr<Json> Patch(const kube::Resource& r, std::string_view ns, std::string_view name,
                             kube::PatchType type, const Json& patch,
                             std::string_view subresource = {},
                             const kube::PatchOptions& opts = {}) override;
  absl::StatusOr<Json> Delete(const kube::Resource& r, std::string_view ns, std::string_view name,
                              const kube::DeleteOptions& opts = {}) override;
  absl::StatusOr<std::unique_ptr<kube::WatchStream>> Watch(
      const kube::Resource& r, std::string_view ns, const kube::WatchOptions& opts = {}) override;

 private:
  absl::StatusOr<ResourcePtr> Resolve(const kube::Resource& r) const;
  void Delay(const kube::Resource& r, const char* verb) const;
  std::shared_ptr<ServerCore> core_;
  Caller caller_;
};

}  // namespace kfaas::local
