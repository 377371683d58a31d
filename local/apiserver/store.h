// Store: the in-memory object store of the local API server.
//
// One mutex protects everything; one global, monotonically increasing resourceVersion (every
// write takes the next one and produces exactly one watch event, so the event history is
// indexed by version). Objects are immutable once stored (shared_ptr<const StoredObject>) and
// carry their serialized JSON, so lists and watch events are concatenations of shared bytes.
//
// The store knows nothing about API semantics (validation, defaults, subresources): that is
// Api's job (api.h). It does keep the indexes the garbage collector needs (uid -> key, owner
// uid -> dependents) and the namespace check (create in a missing or terminating namespace).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "common/kube/selector.h"

namespace kfaas::local {

using Json = nlohmann::json;

struct StoredObject {
  Json obj;           // the complete object, metadata.resourceVersion included
  std::string bytes;  // obj.dump()
  uint64_t rv = 0;
};
using ObjectPtr = std::shared_ptr<const StoredObject>;

struct ObjectKey {
  std::string storage_key;  // "group/resource"
  std::string ns;
  std::string name;
  bool operator<(const ObjectKey& o) const {
    return std::tie(storage_key, ns, name) < std::tie(o.storage_key, o.ns, o.name);
  }
  bool operator==(const ObjectKey& o) const {
    return storage_key == o.storage_key && ns == o.ns && name == o.name;
  }
};

enum class EventType { kAdded, kModified, kDeleted, kBookmark, kError };
const char* EventTypeName(EventType t);

struct Event {
  uint64_t rv = 0;
  EventType type = EventType::kAdded;
  std::string storage_key;
  ObjectPtr obj;   // new state; for kDeleted the final state (with the deletion's version)
  ObjectPtr prev;  // state before (null for kAdded)
};
using EventPtr = std::shared_ptr<const Event>;

// What a watcher receives.
struct WatchItem {
  EventType type = EventType::kAdded;
  ObjectPtr obj;                    // null for kBookmark / kError
  uint64_t rv = 0;                  // kBookmark: the version; otherwise obj->rv
  bool initial_events_end = false;  // kBookmark closing sendInitialEvents
  Json error;                       // kError: a Status
};

struct WatchFilter {
  std::string storage_key;
  std::string ns;  // "" = all namespaces
  kube::LabelSelector labels;
  kube::FieldSelector fields;
  bool Matches(const Json& obj) const;
};

// A registered watch. The producer (the store, under its lock) pushes; the consumer drains.
// When the queue grows past its limit the watcher is closed (the client re-watches, like the
// real server closing an unresponsive watcher).
class Watcher {
 public:
  enum class CloseReason { kNone, kStopped, kTooSlow, kDropped, kServerShutdown };

  Watcher(WatchFilter filter, bool bookmarks, size_t queue_limit);
  const WatchFilter& filter() const { return filter_; }
  bool bookmarks() const { return bookmarks_; }

  // Called once by the consumer before registration: invoked (without any lock the consumer
  // could hold) when items become available after the queue was drained, and on close.
  void SetNotify(std::function<void()> notify);
  // Producer side. Returns false if the watcher is closed.
  bool Push(WatchItem item);
  void PushInitial(WatchItem item);  // not counted against the limit
  void Close(CloseReason reason);

  // Consumer side: moves everything queued into `out` (appending). Returns false when the
  // watcher is closed and empty.
  bool Drain(std::vector<WatchItem>* out);
  // Blocks until an item is available, the watcher is closed, or `deadline`.
  bool WaitNext(WatchItem* out, std::chrono::steady_clock::time_point deadline);
  bool closed() const;
  CloseReason close_reason() const;
  size_t queued() const;

 private:
  void NotifyLocked(std::unique_lock<std::mutex>& lock);
  const WatchFilter filter_;
  const bool bookmarks_;
  const size_t queue_limit_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<WatchItem> initial_;
  std::deque<WatchItem> queue_;
  bool closed_ = false;
  bool signaled_ = false;
  CloseReason reason_ = CloseReason::kNone;
  std::function<void()> notify_;
};
using WatcherPtr = std::shared_ptr<Watcher>;

struct StoreOptions {
  size_t history_limit = 10000;      // events kept for watch resume and snapshot lists
  size_t watch_queue_limit = 10000;  // per watcher
};

class Store {
 public:
  explicit Store(StoreOptions opts);

  uint64_t CurrentRv() const;
  uint64_t CompactedRv() const;  // events with rv <= this are no longer available

  ObjectPtr Get(const ObjectKey& key) const;
  ObjectPtr GetByUid(const std::string& uid, ObjectKey* key = nullptr) const;
  // Keys of objects whose ownerReferences name `owner_uid`.
  std::vector<ObjectKey> Dependents(const std::string& owner_uid) const;

  struct ListRequest {
    std::string storage_key;
    std::string ns;                 // "" = all
    std::string start_after;        // "ns/name" of the last item of the previous page
    int64_t limit = 0;              // 0 = all
    std::optional<uint64_t> at_rv;  // snapshot version (nullopt = current)
    std::function<bool(const Json&)> filter;
  };
  struct ListResult {
    uint64_t rv = 0;
    std::vector<ObjectPtr> items;
    std::string last_key;  // set when more items follow
    int64_t remaining = 0;
  };
  // 410 Expired when `at_rv` is older than the retained history.
  absl::StatusOr<ListResult> List(const ListRequest& req) const;
  // Objects in one namespace across every storage key (namespace finalization).
  std::vector<std::pair<ObjectKey, ObjectPtr>> ListNamespace(const std::string& ns) const;
  std::vector<std::pair<ObjectKey, ObjectPtr>> ListAll(const std::string& storage_key) const;

  // Writes. `obj` gets metadata.resourceVersion set. Errors: AlreadyExists (kAlreadyExists),
  // namespace missing (kNotFound) / terminating (kFailedPrecondition), stale `expected`
  // (kAborted), missing (kNotFound). Messages are for the Api layer to wrap.
  absl::StatusOr<ObjectPtr> Create(const ObjectKey& key, Json obj, bool check_namespace);
  // Compare-and-swap: fails with kAborted unless the current object is `expected`.
  absl::StatusOr<ObjectPtr> Update(const ObjectKey& key, const ObjectPtr& expected, Json obj);
  absl::StatusOr<ObjectPtr> Delete(const ObjectKey& key, const ObjectPtr& expected);
  // Removes every object of a storage key (CRD removal), emitting DELETED events.
  void DropStorageKey(const std::string& storage_key);

  // Watches. `from_rv`: nullopt = synthetic ADDED of the current state, then changes;
  // N = changes after N (410 Expired if N is older than the history: the caller then sends an
  // ERROR event). `send_initial_end_bookmark` closes the initial ADDEDs with a bookmark.
  absl::StatusOr<WatcherPtr> Watch(WatchFilter filter, std::optional<uint64_t> from_rv,
                                   bool bookmarks, bool send_initial_end_bookmark);
  void Unwatch(const WatcherPtr& w);
  void DropAllWatches();  // fault hook: closes every watcher (the clients re-watch)
  void Compact();         // fault hook: forget all history up to now
  void SendBookmarks();   // pushes a BOOKMARK with the current version to bookmark watchers
  void CloseAll();        // shutdown
  size_t WatcherCount() const;

  // Called under the store lock for every committed event (keep it cheap: enqueue only).
  void SetEventHook(std::function<void(const EventPtr&)> hook);

 private:
  struct Bucket {
    std::map<std::string, ObjectPtr> objects;  // "ns/name" -> object
    std::vector<WatcherPtr> watchers;
  };
  ObjectPtr MakeStored(Json obj, uint64_t rv) const;
  void CommitLocked(EventType type, const std::string& storage_key, ObjectPtr obj, ObjectPtr prev);
  void IndexLocked(const ObjectKey& key, const ObjectPtr& before, const ObjectPtr& after);
  static std::string MapKey(const std::string& ns, const std::string& name) {
    return ns + "/" + name;
  }
  absl::Status CheckExpiredLocked(uint64_t rv) const;

  const StoreOptions opts_;
  mutable std::mutex mu_;
  uint64_t rv_ = 0;
  uint64_t compacted_rv_ = 0;
  std::unordered_map<std::string, Bucket> buckets_;
  std::deque<EventPtr> history_;  // history_[i].rv == compacted_rv_ + 1 + i
  std::unordered_map<std::string, ObjectKey> by_uid_;
  std::unordered_map<std::string, std::set<ObjectKey>> dependents_;
  std::function<void(const EventPtr&)> hook_;
};

// Owner uids named by an object's metadata.ownerReferences.
std::vector<std::string> OwnerUids(const Json& obj);

}  // namespace kfaas::local
