// Informer: a list+watch cache of one resource, like client-go's SharedIndexInformer.
//
// It lists (paged), then watches from the list's resourceVersion with bookmarks; when a watch
// ends it re-watches from the last seen version; on 410 Expired it relists and delivers the
// difference (adds, updates, and deletes for objects that vanished meanwhile). Connection
// failures back off 800 ms doubling to 30 s, with jitter.
//
// Handlers run on the informer's own thread, one at a time, in event order. They must not
// block for long; the usual pattern is to enqueue a key into a WorkQueue.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/base/clock.h"
#include "common/kube/client.h"

namespace kfaas::kube {

using ObjectPtr = std::shared_ptr<const Json>;

struct EventHandlers {
  std::function<void(const ObjectPtr& obj)> on_add;
  std::function<void(const ObjectPtr& old_obj, const ObjectPtr& new_obj)> on_update;
  // For an object deleted while the informer was not watching, obj is its last known state.
  std::function<void(const ObjectPtr& obj)> on_delete;
};

struct InformerOptions {
  std::string ns;  // "" = all namespaces
  std::string label_selector;
  std::string field_selector;
  int64_t page_size = 500;
  // > 0: every period, on_update(obj, obj) is called for every cached object.
  Duration resync_period{0};
  Clock* clock = nullptr;  // nullptr = RealClock
};

// Built-in indexes.
inline constexpr std::string_view kIndexNamespace = "namespace";  // metadata.namespace
inline constexpr std::string_view kIndexOwnerUid = "owner-uid";   // ownerReferences[].uid

// The key an informer files an object under: "namespace/name", or "name" if cluster-scoped.
std::string ObjectKey(const Json& obj);

class Informer {
 public:
  using IndexFunc = std::function<std::vector<std::string>(const Json& obj)>;

  Informer(std::shared_ptr<Client> client, Resource resource, InformerOptions opts = {});
  ~Informer();  // Stops and joins.
  Informer(const Informer&) = delete;
  Informer& operator=(const Informer&) = delete;

  // Before Start() only.
  void AddEventHandlers(EventHandlers handlers);
  void AddIndex(std::string name, IndexFunc fn);

  void Start();
  void Stop();
  // True once the first list has been stored and its add events delivered.
  bool HasSynced() const;
  bool WaitForSync(Duration timeout) const;

  // Reads of the cache; safe from any thread, including inside handlers.
  ObjectPtr Get(std::string_view ns, std::string_view name) const;
  ObjectPtr GetByKey(std::string_view key) const;
  std::vector<ObjectPtr> List(std::string_view ns = {}) const;
  std::vector<ObjectPtr> ByIndex(std::string_view index, std::string_view value) const;
  std::vector<ObjectPtr> ListBySelector(std::string_view ns, std::string_view label_selector) const;
  // The resourceVersion of the last list, event or bookmark applied.
  std::string LastResourceVersion() const;
  const Resource& resource() const;

  // Counters for tests and metrics.
  struct Stats {
    int64_t lists = 0;    // full lists (1 + relists)
    int64_t watches = 0;  // watch connections opened
    int64_t expired = 0;  // 410s seen
    int64_t events = 0;   // events applied
  };
  Stats stats() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kfaas::kube
