// FakeClient: an in-memory kube::Client for unit tests of logic (reconcilers, controllers,
// scalers). It keeps objects, assigns uid/resourceVersion/generation, serves watches, records
// every call as an Action for table tests, and injects failures.
//
// Deliberately simple (a fake, not the API server): no schema validation, SMP and apply are
// treated as merge patches, label selectors support only "k=v" and "k!=v" terms, garbage
// collection is immediate Background deletion of dependents by owner uid. Tests that need real
// semantics run against the local API server (local/apiserver).
#pragma once

#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/base/clock.h"
#include "common/kube/client.h"

namespace kfaas::testing {

using kube::Json;
using kube::Resource;

class FakeClient : public kube::Client {
 public:
  struct Action {
    std::string verb;      // get, list, create, update, patch, delete, watch
    std::string resource;  // plural, e.g. "deployments"
    std::string ns;
    std::string name;
    std::string subresource;
    Json object;  // the body sent (create/update), the patch (patch), null otherwise
  };

  explicit FakeClient(Clock& clock = RealClock::Get());
  ~FakeClient() override;

  // Puts an object in place without recording an action (fills uid, resourceVersion,
  // creationTimestamp and generation when missing). Emits an ADDED/MODIFIED watch event.
  Json Seed(const Resource& r, Json obj);
  std::optional<Json> Object(const Resource& r, std::string_view ns, std::string_view name) const;
  std::vector<Json> Objects(const Resource& r, std::string_view ns = {}) const;

  std::vector<Action> Actions() const;
  // Only the mutating actions (create, update, patch, delete).
  std::vector<Action> Writes() const;
  void ClearActions();

  // The next `count` calls with this verb ("*" for any) on this resource plural ("" for any)
  // fail with `status` (they are still recorded as actions).
  void FailNext(std::string verb, std::string resource, absl::Status status, int count = 1);
  // Ends every open watch (as a server dropping connections does).
  void DropWatches();
  // Forgets history before now: the next watch from an older version gets a 410 ERROR event.
  void Compact();

  // kube::Client
  absl::StatusOr<Json> Get(const Resource& r, std::string_view ns, std::string_view name,
                           std::string_view subresource = {}) override;
  absl::StatusOr<Json> List(const Resource& r, std::string_view ns,
                            const kube::ListOptions& opts = {}) override;
  absl::StatusOr<Json> Create(const Resource& r, std::string_view ns, const Json& obj,
                              const kube::WriteOptions& opts = {}) override;
  absl::StatusOr<Json> Update(const Resource& r, std::string_view ns, const Json& obj,
                              std::string_view subresource = {},
                              const kube::WriteOptions& opts = {}) override;
  absl::StatusOr<Json> Patch(const Resource& r, std::string_view ns, std::string_view name,
                             kube::PatchType type, const Json& patch,
                             std::string_view subresource = {},
                             const kube::PatchOptions& opts = {}) override;
  absl::StatusOr<Json> Delete(const Resource& r, std::string_view ns, std::string_view name,
                              const kube::DeleteOptions& opts = {}) override;
  absl::StatusOr<std::unique_ptr<kube::WatchStream>> Watch(
      const Resource& r, std::string_view ns, const kube::WatchOptions& opts = {}) override;

 private:
  class Watcher;
  struct Key {
    std::string resource, ns, name;
    bool operator<(const Key& o) const {
      return std::tie(resource, ns, name) < std::tie(o.resource, o.ns, o.name);
    }
  };
  struct HistoryEntry {
    uint64_t rv;
    std::string resource;
    kube::WatchEvent event;
  };

  absl::Status MaybeFail(const std::string& verb, const Resource& r);  // REQUIRES mu_
  void Record(std::string verb, const Resource& r, std::string_view ns, std::string_view name,
              std::string_view sub, Json obj);                  // REQUIRES mu_
  Json StoreLocked(const Resource& r, Json obj, bool created);  // assigns rv; emits event
  void EmitLocked(const Resource& r, kube::WatchEvent::Type type, const Json& obj);
  void DeleteLocked(const Resource& r, const Key& k);
  absl::StatusOr<Json> WriteLocked(const Resource& r, std::string_view ns, Json obj,
                                   std::string_view sub, bool check_rv);
  static Json ToScale(const Json& deployment);

  Clock& clock_;
  mutable std::mutex mu_;
  uint64_t rv_ = 1;
  uint64_t compacted_rv_ = 0;
  uint64_t uid_counter_ = 0;
  std::map<Key, Json> objects_;
  std::deque<HistoryEntry> history_;
  std::vector<Action> actions_;
  struct Failure {
    std::string verb, resource;
    absl::Status status;
    int count;
  };
  std::vector<Failure> failures_;
  std::set<Watcher*> watchers_;
};

// Polls `pred` every millisecond until it is true or `timeout` passes; returns pred().
bool WaitFor(const std::function<bool()>& pred,
             std::chrono::milliseconds timeout = std::chrono::seconds(10));

}  // namespace kfaas::testing
