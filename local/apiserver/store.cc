#include "local/apiserver/store.h"

#include <algorithm>

#include "absl/status/status.h"
#include "common/kube/errors.h"

namespace kfaas::local {

const char* EventTypeName(EventType t) {
  switch (t) {
    case EventType::kAdded:
      return "ADDED";
    case EventType::kModified:
      return "MODIFIED";
    case EventType::kDeleted:
      return "DELETED";
    case EventType::kBookmark:
      return "BOOKMARK";
    case EventType::kError:
      return "ERROR";
  }
  return "ERROR";
}

std::vector<std::string> OwnerUids(const Json& obj) {
  std::vector<std::string> out;
  auto m = obj.find("metadata");
  if (m == obj.end() || !m->is_object()) return out;
  auto refs = m->find("ownerReferences");
  if (refs == m->end() || !refs->is_array()) return out;
  for (const auto& r : *refs) {
    if (r.is_object() && r.contains("uid") && r["uid"].is_string()) {
      out.push_back(r["uid"].get<std::string>());
    }
  }
  return out;
}

namespace {
const Json kNullJson;
const Json& Labels(const Json& obj) {
  auto m = obj.find("metadata");
  if (m == obj.end() || !m->is_object()) return kNullJson;
  auto l = m->find("labels");
  return l == m->end() ? kNullJson : *l;
}
std::string MetaString(const Json& obj, const char* field) {
  auto m = obj.find("metadata");
  if (m == obj.end() || !m->is_object()) return "";
  auto f = m->find(field);
  return f != m->end() && f->is_string() ? f->get<std::string>() : "";
}
}  // namespace

bool WatchFilter::Matches(const Json& obj) const {
  if (!ns.empty() && MetaString(obj, "namespace") != ns) return false;
  if (!labels.Empty() && !labels.Matches(Labels(obj))) return false;
  if (!fields.Empty() && !fields.Matches(obj)) return false;
  return true;
}

// ---------------------------------------------------------------------------------------------
// Watcher

Watcher::Watcher(WatchFilter filter, bool bookmarks, size_t queue_limit)
    : filter_(std::move(filter)), bookmarks_(bookmarks), queue_limit_(queue_limit) {}

void Watcher::SetNotify(std::function<void()> notify) {
  std::unique_lock lock(mu_);
  notify_ = std::move(notify);
}

void Watcher::NotifyLocked(std::unique_lock<std::mutex>& lock) {
  cv_.notify_all();
  if (signaled_ || !notify_) return;
  signaled_ = true;
  auto n = notify_;
  lock.unlock();
  n();
  lock.lock();
}

bool Watcher::Push(WatchItem item) {
  std::unique_lock lock(mu_);
  if (closed_) return false;
  if (queue_.size() >= queue_limit_) {
    closed_ = true;
    reason_ = CloseReason::kTooSlow;
    queue_.clear();
    initial_.clear();
    NotifyLocked(lock);
    return false;
  }
  queue_.push_back(std::move(item));
  NotifyLocked(lock);
  return true;
}

void Watcher::PushInitial(WatchItem item) {
  std::unique_lock lock(mu_);
  if (closed_) return;
  initial_.push_back(std::move(item));
  NotifyLocked(lock);
}

void Watcher::Close(CloseReason reason) {
  std::unique_lock lock(mu_);
  if (closed_) return;
  closed_ = true;
  reason_ = reason;
  NotifyLocked(lock);
}

bool Watcher::Drain(std::vector<WatchItem>* out) {
  std::unique_lock lock(mu_);
  // A closed watcher delivers nothing more (like a dropped connection): the client resumes.
  if (closed_) {
    initial_.clear();
    queue_.clear();
    signaled_ = false;
    return false;
  }
  for (auto& i : initial_) out->push_back(std::move(i));
  initial_.clear();
  for (auto& i : queue_) out->push_back(std::move(i));
  queue_.clear();
  signaled_ = false;
  return true;
}

bool Watcher::WaitNext(WatchItem* out, std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mu_);
  while (true) {
    if (closed_) return false;
    if (!initial_.empty()) {
      *out = std::move(initial_.front());
      initial_.pop_front();
      return true;
    }
    if (!queue_.empty()) {
      *out = std::move(queue_.front());
      queue_.pop_front();
      return true;
    }
    if (cv_.wait_until(lock, deadline) == std::cv_status::timeout &&
        std::chrono::steady_clock::now() >= deadline) {
      return false;
    }
  }
}

bool Watcher::closed() const {
  std::unique_lock lock(mu_);
  return closed_;
}

Watcher::CloseReason Watcher::close_reason() const {
  std::unique_lock lock(mu_);
  return reason_;
}

size_t Watcher::queued() const {
  std::unique_lock lock(mu_);
  return queue_.size() + initial_.size();
}

// ---------------------------------------------------------------------------------------------
// Store

Store::Store(StoreOptions opts) : opts_(opts) {}

uint64_t Store::CurrentRv() const {
  std::lock_guard lock(mu_);
  return rv_;
}

uint64_t Store::CompactedRv() const {
  std::lock_guard lock(mu_);
  return compacted_rv_;
}

ObjectPtr Store::Get(const ObjectKey& key) const {
  std::lock_guard lock(mu_);
  auto b = buckets_.find(key.storage_key);
  if (b == buckets_.end()) return nullptr;
  auto it = b->second.objects.find(MapKey(key.ns, key.name));
  return it == b->second.objects.end() ? nullptr : it->second;
}

ObjectPtr Store::GetByUid(const std::string& uid, ObjectKey* key) const {
  std::lock_guard lock(mu_);
  auto it = by_uid_.find(uid);
  if (it == by_uid_.end()) return nullptr;
  if (key) *key = it->second;
  auto b = buckets_.find(it->second.storage_key);
  if (b == buckets_.end()) return nullptr;
  auto o = b->second.objects.find(MapKey(it->second.ns, it->second.name));
  return o == b->second.objects.end() ? nullptr : o->second;
}

std::vector<ObjectKey> Store::Dependents(const std::string& owner_uid) const {
  std::lock_guard lock(mu_);
  auto it = dependents_.find(owner_uid);
  if (it == dependents_.end()) return {};
  return {it->second.begin(), it->second.end()};
}

absl::Status Store::CheckExpiredLocked(uint64_t rv) const {
  if (rv < compacted_rv_) {
    return kube::GoneError("too old resource version: " + std::to_string(rv) + " (" +
                           std::to_string(compacted_rv_) + ")");
  }
  return absl::OkStatus();
}

absl::StatusOr<Store::ListResult> Store::List(const ListRequest& req) const {
  ListResult out;
  std::vector<std::pair<std::string, ObjectPtr>> view;
  {
    std::lock_guard lock(mu_);
    out.rv = rv_;
    auto b = buckets_.find(req.storage_key);
    std::string prefix = req.ns.empty() ? "" : req.ns + "/";
    auto collect_current = [&](std::map<std::string, ObjectPtr>* into) {
      if (b == buckets_.end()) return;
      const auto& objs = b->second.objects;
      auto it = objs.begin();
      if (!req.start_after.empty()) {
        it = objs.upper_bound(req.start_after);
      } else if (!prefix.empty()) {
        it = objs.lower_bound(prefix);
      }
      for (; it != objs.end(); ++it) {
        if (!prefix.empty() && it->first.compare(0, prefix.size(), prefix) != 0) {
          if (it->first > prefix) break;
          continue;
        }
        into->emplace(it->first, it->second);
      }
    };
    if (req.at_rv && *req.at_rv < rv_) {
      if (auto st = CheckExpiredLocked(*req.at_rv); !st.ok()) return st;
      std::map<std::string, ObjectPtr> state;
      collect_current(&state);
      // Roll back the events after at_rv, newest first: each key ends at its state before the
      // earliest later event.
      std::map<std::string, ObjectPtr> rolled;
      for (auto it = history_.rbegin(); it != history_.rend() && (*it)->rv > *req.at_rv; ++it) {
        const Event& e = **it;
        if (e.storage_key != req.storage_key) continue;
        const Json& o = e.obj->obj;
        std::string k = MapKey(MetaString(o, "namespace"), MetaString(o, "name"));
        rolled[k] = e.prev;
      }
      for (auto& [k, prev] : rolled) {
        if (!prefix.empty() && k.compare(0, prefix.size(), prefix) != 0) continue;
        if (!req.start_after.empty() && k <= req.start_after) continue;
        if (prev) {
          state[k] = prev;
        } else {
          state.erase(k);
        }
      }
      out.rv = *req.at_rv;
      view.assign(state.begin(), state.end());
    } else {
      std::map<std::string, ObjectPtr> state;
      collect_current(&state);
      view.assign(state.begin(), state.end());
    }
  }
  // Filtering and paging outside the lock (the objects are immutable).
  for (size_t i = 0; i < view.size(); ++i) {
    const auto& [k, o] = view[i];
    if (req.filter && !req.filter(o->obj)) continue;
    if (req.limit > 0 && static_cast<int64_t>(out.items.size()) >= req.limit) {
      out.last_key = view[i - 1].first;
      // Count what remains.
      int64_t remaining = 0;
      for (size_t j = i; j < view.size(); ++j) {
        if (!req.filter || req.filter(view[j].second->obj)) ++remaining;
      }
      out.remaining = remaining;
      // last_key must be the key of the last returned item.
      out.last_key = MapKey(MetaString(out.items.back()->obj, "namespace"),
                            MetaString(out.items.back()->obj, "name"));
      break;
    }
    out.items.push_back(o);
  }
  return out;
}

std::vector<std::pair<ObjectKey, ObjectPtr>> Store::ListNamespace(const std::string& ns) const {
  std::vector<std::pair<ObjectKey, ObjectPtr>> out;
  std::lock_guard lock(mu_);
  std::string prefix = ns + "/";
  for (const auto& [sk, b] : buckets_) {
    for (auto it = b.objects.lower_bound(prefix);
         it != b.objects.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
      out.push_back({{sk, ns, it->first.substr(prefix.size())}, it->second});
    }
  }
  return out;
}

std::vector<std::pair<ObjectKey, ObjectPtr>> Store::ListAll(const std::string& storage_key) const {
  std::vector<std::pair<ObjectKey, ObjectPtr>> out;
  std::lock_guard lock(mu_);
  auto b = buckets_.find(storage_key);
  if (b == buckets_.end()) return out;
  for (const auto& [k, o] : b->second.objects) {
    auto slash = k.find('/');
    out.push_back({{storage_key, k.substr(0, slash), k.substr(slash + 1)}, o});
  }
  return out;
}

ObjectPtr Store::MakeStored(Json obj, uint64_t rv) const {
  auto s = std::make_shared<StoredObject>();
  obj["metadata"]["resourceVersion"] = std::to_string(rv);
  s->bytes = obj.dump();
  s->obj = std::move(obj);
  s->rv = rv;
  return s;
}

void Store::IndexLocked(const ObjectKey& key, const ObjectPtr& before, const ObjectPtr& after) {
  if (before) {
    std::string uid = MetaString(before->obj, "uid");
    if (!after) by_uid_.erase(uid);
    for (const auto& o : OwnerUids(before->obj)) {
      auto it = dependents_.find(o);
      if (it == dependents_.end()) continue;
      it->second.erase(key);
      if (it->second.empty()) dependents_.erase(it);
    }
  }
  if (after) {
    std::string uid = MetaString(after->obj, "uid");
    if (!uid.empty()) by_uid_[uid] = key;
    for (const auto& o : OwnerUids(after->obj)) dependents_[o].insert(key);
  }
}

void Store::CommitLocked(EventType type, const std::string& storage_key, ObjectPtr obj,
                         ObjectPtr prev) {
  auto e = std::make_shared<Event>();
  e->rv = obj->rv;
  e->type = type;
  e->storage_key = storage_key;
  e->obj = std::move(obj);
  e->prev = std::move(prev);
  history_.push_back(e);
  while (history_.size() > opts_.history_limit) {
    compacted_rv_ = history_.front()->rv;
    history_.pop_front();
  }
  auto& watchers = buckets_[storage_key].watchers;
  bool any_closed = false;
  for (const auto& w : watchers) {
    const WatchFilter& f = w->filter();
    bool now = f.Matches(e->obj->obj);
    bool before = e->prev && f.Matches(e->prev->obj);
    EventType t = type;
    if (type == EventType::kModified) {
      if (now && !before) {
        t = EventType::kAdded;
      } else if (!now && before) {
        t = EventType::kDeleted;
      } else if (!now) {
        continue;
      }
    } else if (!now && !before) {
      continue;
    }
    if (!w->Push({t, e->obj, e->rv, false, Json()})) any_closed = true;
  }
  if (any_closed) {
    watchers.erase(std::remove_if(watchers.begin(), watchers.end(),
                                  [](const WatcherPtr& w) { return w->closed(); }),
                   watchers.end());
  }
  if (hook_) hook_(e);
}

absl::StatusOr<ObjectPtr> Store::Create(const ObjectKey& key, Json obj, bool check_namespace) {
  std::lock_guard lock(mu_);
  if (check_namespace) {
    auto nb = buckets_.find("/namespaces");
    ObjectPtr nso;
    if (nb != buckets_.end()) {
      auto it = nb->second.objects.find(MapKey("", key.ns));
      if (it != nb->second.objects.end()) nso = it->second;
    }
    if (!nso) return absl::NotFoundError("namespace");
    if (nso->obj["metadata"].contains("deletionTimestamp")) {
      return absl::FailedPreconditionError("namespace terminating");
    }
  }
  auto& b = buckets_[key.storage_key];
  std::string mk = MapKey(key.ns, key.name);
  if (b.objects.count(mk)) return absl::AlreadyExistsError("exists");
  ObjectPtr stored = MakeStored(std::move(obj), ++rv_);
  b.objects.emplace(mk, stored);
  IndexLocked(key, nullptr, stored);
  CommitLocked(EventType::kAdded, key.storage_key, stored, nullptr);
  return stored;
}

absl::StatusOr<ObjectPtr> Store::Update(const ObjectKey& key, const ObjectPtr& expected, Json obj) {
  std::lock_guard lock(mu_);
  auto& b = buckets_[key.storage_key];
  auto it = b.objects.find(MapKey(key.ns, key.name));
  if (it == b.objects.end()) return absl::NotFoundError("gone");
  if (it->second != expected) return absl::AbortedError("modified");
  ObjectPtr stored = MakeStored(std::move(obj), ++rv_);
  ObjectPtr prev = it->second;
  it->second = stored;
  IndexLocked(key, prev, stored);
  CommitLocked(EventType::kModified, key.storage_key, stored, prev);
  return stored;
}

absl::StatusOr<ObjectPtr> Store::Delete(const ObjectKey& key, const ObjectPtr& expected) {
  std::lock_guard lock(mu_);
  auto& b = buckets_[key.storage_key];
  auto it = b.objects.find(MapKey(key.ns, key.name));
  if (it == b.objects.end()) return absl::NotFoundError("gone");
  if (expected && it->second != expected) return absl::AbortedError("modified");
  ObjectPtr prev = it->second;
  b.objects.erase(it);
  // The DELETED event carries the deletion's version.
  ObjectPtr final_state = MakeStored(prev->obj, ++rv_);
  IndexLocked(key, prev, nullptr);
  CommitLocked(EventType::kDeleted, key.storage_key, final_state, prev);
  return final_state;
}

void Store::DropStorageKey(const std::string& storage_key) {
  std::lock_guard lock(mu_);
  auto b = buckets_.find(storage_key);
  if (b == buckets_.end()) return;
  auto objects = std::move(b->second.objects);
  b->second.objects.clear();
  for (auto& [mk, prev] : objects) {
    auto slash = mk.find('/');
    ObjectKey key{storage_key, mk.substr(0, slash), mk.substr(slash + 1)};
    ObjectPtr final_state = MakeStored(prev->obj, ++rv_);
    IndexLocked(key, prev, nullptr);
    CommitLocked(EventType::kDeleted, storage_key, final_state, prev);
  }
}

absl::StatusOr<WatcherPtr> Store::Watch(WatchFilter filter, std::optional<uint64_t> from_rv,
                                        bool bookmarks, bool send_initial_end_bookmark) {
  std::lock_guard lock(mu_);
  if (from_rv) {
    if (auto st = CheckExpiredLocked(*from_rv); !st.ok()) return st;
    if (*from_rv > rv_) {
      return kube::MakeApiError(
          504, "Timeout",
          "Timeout: Too large resource version: " + std::to_string(*from_rv) +
              ", current: " + std::to_string(rv_),
          {{"causes",
            {{{"reason", "ResourceVersionTooLarge"}, {"message", "Too large resource version"}}}},
           {"retryAfterSeconds", 1}});
    }
  }
  auto w = std::make_shared<Watcher>(std::move(filter), bookmarks, opts_.watch_queue_limit);
  auto& b = buckets_[w->filter().storage_key];
  if (from_rv) {
    // Replay the retained events after from_rv.
    size_t start = *from_rv - compacted_rv_;  // index of the first event with rv > from_rv
    for (size_t i = start; i < history_.size(); ++i) {
      const Event& e = *history_[i];
      if (e.storage_key != w->filter().storage_key) continue;
      bool now = w->filter().Matches(e.obj->obj);
      bool before = e.prev && w->filter().Matches(e.prev->obj);
      EventType t = e.type;
      if (e.type == EventType::kModified) {
        if (now && !before) {
          t = EventType::kAdded;
        } else if (!now && before) {
          t = EventType::kDeleted;
        } else if (!now) {
          continue;
        }
      } else if (!now && !before) {
        continue;
      }
      w->PushInitial({t, e.obj, e.rv, false, Json()});
    }
  } else {
    std::string prefix = w->filter().ns.empty() ? "" : w->filter().ns + "/";
    auto it = prefix.empty() ? b.objects.begin() : b.objects.lower_bound(prefix);
    for (; it != b.objects.end(); ++it) {
      if (!prefix.empty() && it->first.compare(0, prefix.size(), prefix) != 0) break;
      if (!w->filter().Matches(it->second->obj)) continue;
      w->PushInitial({EventType::kAdded, it->second, it->second->rv, false, Json()});
    }
    if (send_initial_end_bookmark) {
      w->PushInitial({EventType::kBookmark, nullptr, rv_, true, Json()});
    }
  }
  b.watchers.push_back(w);
  return w;
}

void Store::Unwatch(const WatcherPtr& w) {
  w->Close(Watcher::CloseReason::kStopped);
  std::lock_guard lock(mu_);
  auto b = buckets_.find(w->filter().storage_key);
  if (b == buckets_.end()) return;
  auto& ws = b->second.watchers;
  ws.erase(std::remove(ws.begin(), ws.end(), w), ws.end());
}

void Store::DropAllWatches() {
  std::vector<WatcherPtr> all;
  {
    std::lock_guard lock(mu_);
    for (auto& [k, b] : buckets_) {
      all.insert(all.end(), b.watchers.begin(), b.watchers.end());
      b.watchers.clear();
    }
  }
  for (auto& w : all) w->Close(Watcher::CloseReason::kDropped);
}

void Store::CloseAll() {
  std::vector<WatcherPtr> all;
  {
    std::lock_guard lock(mu_);
    for (auto& [k, b] : buckets_) {
      all.insert(all.end(), b.watchers.begin(), b.watchers.end());
      b.watchers.clear();
    }
  }
  for (auto& w : all) w->Close(Watcher::CloseReason::kServerShutdown);
}

void Store::Compact() {
  std::lock_guard lock(mu_);
  history_.clear();
  compacted_rv_ = rv_;
}

void Store::SendBookmarks() {
  std::lock_guard lock(mu_);
  for (auto& [k, b] : buckets_) {
    for (const auto& w : b.watchers) {
      if (w->bookmarks()) w->Push({EventType::kBookmark, nullptr, rv_, false, Json()});
    }
  }
}

size_t Store::WatcherCount() const {
  std::lock_guard lock(mu_);
  size_t n = 0;
  for (const auto& [k, b] : buckets_) {
    for (const auto& w : b.watchers) n += w->closed() ? 0 : 1;
  }
  return n;
}

void Store::SetEventHook(std::function<void(const EventPtr&)> hook) {
  std::lock_guard lock(mu_);
  hook_ = std::move(hook);
}

}  // namespace kfaas::local
