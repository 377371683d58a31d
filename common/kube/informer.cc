#include "common/kube/informer.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <shared_mutex>
#include <thread>
#include <unordered_map>

#include "common/base/log.h"
#include "common/kube/retry.h"
#include "common/kube/selector.h"

namespace kfaas::kube {
namespace {

constexpr Duration kInitialBackoff = std::chrono::milliseconds(800);
constexpr Duration kMaxBackoff = std::chrono::seconds(30);
constexpr Duration kBackoffReset = std::chrono::minutes(2);
constexpr Duration kMinWatchDuration = std::chrono::seconds(1);

std::string MetaField(const Json& obj, const char* field) {
  auto m = obj.find("metadata");
  if (m == obj.end() || !m->is_object()) return "";
  auto f = m->find(field);
  if (f == m->end() || !f->is_string()) return "";
  return f->get<std::string>();
}

std::string ResourceVersionOf(const Json& obj) { return MetaField(obj, "resourceVersion"); }

std::vector<std::string> NamespaceIndex(const Json& obj) {
  std::string ns = MetaField(obj, "namespace");
  if (ns.empty()) return {};
  return {ns};
}

std::vector<std::string> OwnerUidIndex(const Json& obj) {
  std::vector<std::string> out;
  auto m = obj.find("metadata");
  if (m == obj.end() || !m->is_object()) return out;
  auto refs = m->find("ownerReferences");
  if (refs == m->end() || !refs->is_array()) return out;
  for (const auto& ref : *refs) {
    if (ref.is_object() && ref.contains("uid") && ref["uid"].is_string()) {
      out.push_back(ref["uid"].get<std::string>());
    }
  }
  return out;
}

int RandomWatchTimeoutSeconds() {
  // client-go: minWatchTimeout (5 min) * (1 + rand): spreads reconnects.
  thread_local std::mt19937 rng{std::random_device{}()};
  return 300 + std::uniform_int_distribution<int>(0, 299)(rng);
}

}  // namespace

std::string ObjectKey(const Json& obj) {
  std::string ns = MetaField(obj, "namespace");
  std::string name = MetaField(obj, "name");
  return ns.empty() ? name : ns + "/" + name;
}

class Informer::Impl {
 public:
  Impl(std::shared_ptr<Client> client, Resource resource, InformerOptions opts)
      : client_(std::move(client)),
        resource_(std::move(resource)),
        opts_(std::move(opts)),
        clock_(opts_.clock ? *opts_.clock : RealClock::Get()) {
    index_funcs_.emplace(std::string(kIndexNamespace), NamespaceIndex);
    index_funcs_.emplace(std::string(kIndexOwnerUid), OwnerUidIndex);
  }

  ~Impl() { Stop(); }

  void AddEventHandlers(EventHandlers h) { handlers_.push_back(std::move(h)); }
  void AddIndex(std::string name, IndexFunc fn) { index_funcs_[std::move(name)] = std::move(fn); }

  void Start() {
    std::lock_guard<std::mutex> l(run_mu_);
    if (started_ || stopping_) return;
    started_ = true;
    dispatch_thread_ = std::thread([this] { DispatchLoop(); });
    reflector_thread_ = std::thread([this] { ReflectorLoop(); });
  }

  void Stop() {
    {
      std::lock_guard<std::mutex> l(run_mu_);
      if (stopping_) {
        if (!started_) return;
      }
      stopping_ = true;
      if (current_watch_) current_watch_->Stop();
      run_cv_.notify_all();
    }
    {
      std::lock_guard<std::mutex> l(q_mu_);
      q_stop_ = true;
      q_cv_.notify_all();
    }
    sync_cv_.notify_all();
    if (reflector_thread_.joinable()) reflector_thread_.join();
    if (dispatch_thread_.joinable()) dispatch_thread_.join();
  }

  bool HasSynced() const { return synced_.load(); }

  bool WaitForSync(Duration timeout) const {
    std::unique_lock<std::mutex> l(sync_mu_);
    SteadyTime deadline = clock_.Now() + timeout;
    while (!synced_ && !q_stop_flag_) {
      if (clock_.Now() >= deadline) return false;
      clock_.WaitUntil(sync_cv_, l, deadline);
    }
    return synced_;
  }

  ObjectPtr GetByKey(std::string_view key) const {
    std::shared_lock<std::shared_mutex> l(cache_mu_);
    auto it = items_.find(std::string(key));
    return it == items_.end() ? nullptr : it->second;
  }

  std::vector<ObjectPtr> List(std::string_view ns) const {
    if (!ns.empty()) return ByIndex(kIndexNamespace, ns);
    std::shared_lock<std::shared_mutex> l(cache_mu_);
    std::vector<ObjectPtr> out;
    out.reserve(items_.size());
    for (const auto& [k, v] : items_) out.push_back(v);
    return out;
  }

  std::vector<ObjectPtr> ByIndex(std::string_view index, std::string_view value) const {
    std::shared_lock<std::shared_mutex> l(cache_mu_);
    std::vector<ObjectPtr> out;
    auto idx = indices_.find(std::string(index));
    if (idx == indices_.end()) return out;
    auto keys = idx->second.find(std::string(value));
    if (keys == idx->second.end()) return out;
    for (const auto& k : keys->second) {
      auto it = items_.find(k);
      if (it != items_.end()) out.push_back(it->second);
    }
    return out;
  }

  std::vector<ObjectPtr> ListBySelector(std::string_view ns, std::string_view selector) const {
    auto sel = LabelSelector::Parse(selector);
    if (!sel.ok()) {
      KFAAS_LOG(WARNING) << "informer " << resource_.GroupResource() << ": bad label selector \""
                         << selector << "\": " << sel.status().message();
      return {};
    }
    std::vector<ObjectPtr> out;
    for (auto& obj : List(ns)) {
      static const Json kNoLabels = Json::object();
      const Json* labels = &kNoLabels;
      auto m = obj->find("metadata");
      if (m != obj->end() && m->is_object()) {
        auto lab = m->find("labels");
        if (lab != m->end()) labels = &*lab;
      }
      if (sel->Matches(*labels)) out.push_back(std::move(obj));
    }
    return out;
  }

  std::string LastResourceVersion() const {
    std::shared_lock<std::shared_mutex> l(cache_mu_);
    return last_rv_;
  }

  const Resource& resource() const { return resource_; }

  Stats stats() const {
    Stats s;
    s.lists = lists_.load();
    s.watches = watches_.load();
    s.expired = expired_.load();
    s.events = events_.load();
    return s;
  }

 private:
  struct Notification {
    enum class Kind { kAdd, kUpdate, kDelete, kSynced } kind;
    ObjectPtr old_obj;
    ObjectPtr obj;
  };

  enum class WatchResult { kContinue, kExpired, kFailed, kStopped };

  bool Stopping() {
    std::lock_guard<std::mutex> l(run_mu_);
    return stopping_;
  }

  // Waits `d` on the clock, returning early (false) on Stop().
  bool Sleep(Duration d) {
    std::unique_lock<std::mutex> l(run_mu_);
    SteadyTime deadline = clock_.Now() + d;
    while (!stopping_ && clock_.Now() < deadline) clock_.WaitUntil(run_cv_, l, deadline);
    return !stopping_;
  }

  // client-go's exponential backoff manager: 800 ms doubling to 30 s, jitter 1.0, reset after
  // 2 minutes without failures.
  bool BackOff() {
    SteadyTime now = clock_.Now();
    if (backoff_ == Duration::zero() || now - last_failure_ > kBackoffReset) {
      backoff_ = kInitialBackoff;
    } else {
      backoff_ = std::min(backoff_ * 2, kMaxBackoff);
    }
    last_failure_ = now;
    return Sleep(Jittered(backoff_, 1.0));
  }

  ObjectPtr Decorate(Json obj) const {
    // List items come without kind/apiVersion; handlers (event recorders, owner refs) want them.
    if (!obj.contains("kind")) obj["kind"] = resource_.kind;
    if (!obj.contains("apiVersion")) obj["apiVersion"] = resource_.ApiVersion();
    return std::make_shared<const Json>(std::move(obj));
  }

  void ReflectorLoop() {
    bool need_list = true;
    while (!Stopping()) {
      if (need_list) {
        absl::Status s = ListAndReplace();
        if (!s.ok()) {
          if (Stopping()) return;
          KFAAS_LOG(WARNING) << "informer " << resource_.GroupResource()
                             << ": list failed: " << s.message();
          if (!BackOff()) return;
          continue;
        }
        need_list = false;
      }
      switch (WatchOnce()) {
        case WatchResult::kContinue:
          break;
        case WatchResult::kExpired:
          need_list = true;
          break;
        case WatchResult::kFailed:
          if (!BackOff()) return;
          break;
        case WatchResult::kStopped:
          return;
      }
    }
  }

  absl::Status ListAndReplace() {
    ListOptions lo;
    lo.label_selector = opts_.label_selector;
    lo.field_selector = opts_.field_selector;
    lo.limit = opts_.page_size;
    std::vector<Json> items;
    std::string list_rv;
    bool restarted = false;
    while (true) {
      auto page = client_->List(resource_, opts_.ns, lo);
      if (!page.ok()) {
        // An expired continue token: start the list over once.
        if (IsGone(page.status()) && !lo.continue_token.empty() && !restarted) {
          restarted = true;
          lo.continue_token.clear();
          items.clear();
          list_rv.clear();
          continue;
        }
        return page.status();
      }
      if (list_rv.empty()) list_rv = ResourceVersionOf(*page);
      auto it = page->find("items");
      if (it != page->end() && it->is_array()) {
        for (auto& item : *it) items.push_back(std::move(item));
      }
      std::string cont = MetaField(*page, "continue");
      if (cont.empty()) break;
      lo.continue_token = std::move(cont);
      if (Stopping()) return absl::CancelledError("stopped");
    }
    ++lists_;
    Replace(std::move(items), list_rv);
    return absl::OkStatus();
  }

  // Installs a full list, queueing the difference from the cache as notifications.
  void Replace(std::vector<Json> items, const std::string& rv) {
    std::vector<Notification> out;
    {
      std::unique_lock<std::shared_mutex> l(cache_mu_);
      std::unordered_map<std::string, ObjectPtr> fresh;
      fresh.reserve(items.size());
      for (auto& item : items) {
        std::string key = ObjectKey(item);
        auto old = items_.find(key);
        if (old == items_.end()) {
          ObjectPtr obj = Decorate(std::move(item));
          out.push_back({Notification::Kind::kAdd, nullptr, obj});
          fresh.emplace(std::move(key), std::move(obj));
        } else if (ResourceVersionOf(*old->second) != ResourceVersionOf(item)) {
          ObjectPtr obj = Decorate(std::move(item));
          out.push_back({Notification::Kind::kUpdate, old->second, obj});
          fresh.emplace(std::move(key), std::move(obj));
        } else {
          fresh.emplace(std::move(key), old->second);
        }
      }
      for (const auto& [key, obj] : items_) {
        if (!fresh.count(key)) out.push_back({Notification::Kind::kDelete, nullptr, obj});
      }
      items_.swap(fresh);
      RebuildIndicesLocked();
      last_rv_ = rv;
    }
    if (!synced_once_) {
      synced_once_ = true;
      out.push_back({Notification::Kind::kSynced, nullptr, nullptr});
    }
    Enqueue(std::move(out));
  }

  void RebuildIndicesLocked() {
    indices_.clear();
    item_index_values_.clear();
    for (const auto& [key, obj] : items_) IndexLocked(key, *obj);
  }

  void IndexLocked(const std::string& key, const Json& obj) {
    auto& per_item = item_index_values_[key];
    for (const auto& [name, fn] : index_funcs_) {
      std::vector<std::string> values = fn(obj);
      for (const auto& v : values) indices_[name][v].insert(key);
      per_item[name] = std::move(values);
    }
  }

  void UnindexLocked(const std::string& key) {
    auto it = item_index_values_.find(key);
    if (it == item_index_values_.end()) return;
    for (const auto& [name, values] : it->second) {
      auto& idx = indices_[name];
      for (const auto& v : values) {
        auto vit = idx.find(v);
        if (vit == idx.end()) continue;
        vit->second.erase(key);
        if (vit->second.empty()) idx.erase(vit);
      }
    }
    item_index_values_.erase(it);
  }

  // The event's object as the cache keeps it: the stream's shared object when it has kind and
  // apiVersion (no copy), else decorated.
  ObjectPtr Shared(WatchEvent ev) const {
    if (ev.shared && ev.shared->contains("kind") && ev.shared->contains("apiVersion")) {
      return std::move(ev.shared);
    }
    return Decorate(ev.shared ? Json(*ev.shared) : std::move(ev.object));
  }

  void Upsert(ObjectPtr ptr) {
    const Json& obj = *ptr;
    std::string key = ObjectKey(obj);
    std::string rv = ResourceVersionOf(obj);
    Notification n;
    {
      std::unique_lock<std::shared_mutex> l(cache_mu_);
      auto it = items_.find(key);
      if (it == items_.end()) {
        n = {Notification::Kind::kAdd, nullptr, ptr};
        items_.emplace(key, ptr);
      } else {
        n = {Notification::Kind::kUpdate, it->second, ptr};
        UnindexLocked(key);
        it->second = ptr;
      }
      IndexLocked(key, *ptr);
      if (!rv.empty()) last_rv_ = rv;
    }
    Enqueue({std::move(n)});
  }

  void Remove(ObjectPtr ptr) {
    const Json& obj = *ptr;
    std::string key = ObjectKey(obj);
    std::string rv = ResourceVersionOf(obj);
    bool known;
    {
      std::unique_lock<std::shared_mutex> l(cache_mu_);
      known = items_.erase(key) > 0;
      UnindexLocked(key);
      if (!rv.empty()) last_rv_ = rv;
    }
    if (known) Enqueue({{Notification::Kind::kDelete, nullptr, ptr}});
  }

  void SetResourceVersion(const std::string& rv) {
    if (rv.empty()) return;
    std::unique_lock<std::shared_mutex> l(cache_mu_);
    last_rv_ = rv;
  }

  WatchResult WatchOnce() {
    WatchOptions wo;
    wo.label_selector = opts_.label_selector;
    wo.field_selector = opts_.field_selector;
    wo.resource_version = LastResourceVersion();
    wo.allow_bookmarks = true;
    wo.timeout_seconds = RandomWatchTimeoutSeconds();
    auto w = client_->Watch(resource_, opts_.ns, wo);
    if (!w.ok()) {
      if (Stopping()) return WatchResult::kStopped;
      if (IsGone(w.status())) {
        ++expired_;
        return WatchResult::kExpired;
      }
      KFAAS_LOG(WARNING) << "informer " << resource_.GroupResource()
                         << ": watch failed: " << w.status().message();
      return WatchResult::kFailed;
    }
    ++watches_;
    std::unique_ptr<WatchStream> stream = std::move(*w);
    stream->ShareObjects();  // the cache keeps objects immutable
    {
      std::lock_guard<std::mutex> l(run_mu_);
      if (stopping_) return WatchResult::kStopped;
      current_watch_ = stream.get();
    }
    struct Unregister {
      Impl* self;
      ~Unregister() {
        std::lock_guard<std::mutex> l(self->run_mu_);
        self->current_watch_ = nullptr;
      }
    } unregister{this};

    SteadyTime start = clock_.Now();
    int64_t events = 0;
    WatchEvent ev;
    while (stream->Next(&ev)) {
      switch (ev.type) {
        case WatchEvent::Type::kAdded:
        case WatchEvent::Type::kModified:
          Upsert(Shared(std::move(ev)));
          break;
        case WatchEvent::Type::kDeleted:
          Remove(Shared(std::move(ev)));
          break;
        case WatchEvent::Type::kBookmark:
          SetResourceVersion(ResourceVersionOf(ev.object));
          break;
        case WatchEvent::Type::kError: {
          absl::Status s = FromStatusJson(ev.object, 500);
          stream->Stop();
          if (IsGone(s)) {
            ++expired_;
            KFAAS_VLOG(1) << "informer " << resource_.GroupResource() << ": " << s.message()
                          << "; relisting";
            return WatchResult::kExpired;
          }
          KFAAS_LOG(WARNING) << "informer " << resource_.GroupResource()
                             << ": watch error event: " << s.message();
          return WatchResult::kExpired;  // client-go relists after any ERROR event
        }
      }
      ++events;
      ++events_;
    }
    if (Stopping()) return WatchResult::kStopped;
    absl::Status s = stream->status();
    if (events == 0 && clock_.Now() - start < kMinWatchDuration) {
      KFAAS_LOG(WARNING) << "informer " << resource_.GroupResource()
                         << ": very short watch (no events): " << s.message();
      return WatchResult::kFailed;
    }
    if (!s.ok()) {
      KFAAS_VLOG(1) << "informer " << resource_.GroupResource() << ": watch ended: " << s.message()
                    << "; re-watching from " << LastResourceVersion();
    }
    return WatchResult::kContinue;
  }

  void Enqueue(std::vector<Notification> ns) {
    if (ns.empty()) return;
    std::lock_guard<std::mutex> l(q_mu_);
    for (auto& n : ns) queue_.push_back(std::move(n));
    q_cv_.notify_one();
  }

  void DispatchLoop() {
    SteadyTime next_resync = clock_.Now() + opts_.resync_period;
    const bool resync = opts_.resync_period > Duration::zero();
    std::unique_lock<std::mutex> l(q_mu_);
    while (true) {
      while (queue_.empty() && !q_stop_) {
        if (resync && synced_ && clock_.Now() >= next_resync) break;
        SteadyTime wake = resync ? next_resync : clock_.Now() + std::chrono::hours(1);
        clock_.WaitUntil(q_cv_, l, wake);
      }
      if (q_stop_) break;
      std::deque<Notification> batch;
      batch.swap(queue_);
      l.unlock();
      for (auto& n : batch) Deliver(n);
      if (resync && synced_ && clock_.Now() >= next_resync) {
        for (const auto& obj : List({})) {
          for (const auto& h : handlers_) {
            if (h.on_update) h.on_update(obj, obj);
          }
        }
        next_resync = clock_.Now() + opts_.resync_period;
      }
      l.lock();
    }
    {
      std::lock_guard<std::mutex> sl(sync_mu_);
      q_stop_flag_ = true;
    }
    sync_cv_.notify_all();
  }

  void Deliver(const Notification& n) {
    switch (n.kind) {
      case Notification::Kind::kAdd:
        for (const auto& h : handlers_) {
          if (h.on_add) h.on_add(n.obj);
        }
        break;
      case Notification::Kind::kUpdate:
        for (const auto& h : handlers_) {
          if (h.on_update) h.on_update(n.old_obj, n.obj);
        }
        break;
      case Notification::Kind::kDelete:
        for (const auto& h : handlers_) {
          if (h.on_delete) h.on_delete(n.obj);
        }
        break;
      case Notification::Kind::kSynced: {
        std::lock_guard<std::mutex> sl(sync_mu_);
        synced_ = true;
        sync_cv_.notify_all();
        break;
      }
    }
  }

  std::shared_ptr<Client> client_;
  const Resource resource_;
  const InformerOptions opts_;
  Clock& clock_;
  std::vector<EventHandlers> handlers_;
  std::map<std::string, IndexFunc> index_funcs_;

  // The cache.
  mutable std::shared_mutex cache_mu_;
  std::unordered_map<std::string, ObjectPtr> items_;
  std::map<std::string, std::unordered_map<std::string, std::set<std::string>>> indices_;
  std::unordered_map<std::string, std::map<std::string, std::vector<std::string>>>
      item_index_values_;
  std::string last_rv_;

  // Reflector control.
  std::mutex run_mu_;
  std::condition_variable run_cv_;
  bool started_ = false;
  bool stopping_ = false;
  WatchStream* current_watch_ = nullptr;
  bool synced_once_ = false;  // reflector thread only
  Duration backoff_{0};
  SteadyTime last_failure_{};

  // Notifications to the dispatch thread.
  std::mutex q_mu_;
  std::condition_variable q_cv_;
  std::deque<Notification> queue_;
  bool q_stop_ = false;

  mutable std::mutex sync_mu_;
  mutable std::condition_variable sync_cv_;
  std::atomic<bool> synced_{false};
  bool q_stop_flag_ = false;

  std::atomic<int64_t> lists_{0}, watches_{0}, expired_{0}, events_{0};
  std::thread reflector_thread_;
  std::thread dispatch_thread_;
};

Informer::Informer(std::shared_ptr<Client> client, Resource resource, InformerOptions opts)
    : impl_(std::make_unique<Impl>(std::move(client), std::move(resource), std::move(opts))) {}
Informer::~Informer() = default;
void Informer::AddEventHandlers(EventHandlers handlers) {
  impl_->AddEventHandlers(std::move(handlers));
}
void Informer::AddIndex(std::string name, IndexFunc fn) {
  impl_->AddIndex(std::move(name), std::move(fn));
}
void Informer::Start() { impl_->Start(); }
void Informer::Stop() { impl_->Stop(); }
bool Informer::HasSynced() const { return impl_->HasSynced(); }
bool Informer::WaitForSync(Duration timeout) const { return impl_->WaitForSync(timeout); }
ObjectPtr Informer::Get(std::string_view ns, std::string_view name) const {
  return impl_->GetByKey(ns.empty() ? std::string(name)
                                    : std::string(ns) + "/" + std::string(name));
}
ObjectPtr Informer::GetByKey(std::string_view key) const { return impl_->GetByKey(key); }
std::vector<ObjectPtr> Informer::List(std::string_view ns) const { return impl_->List(ns); }
std::vector<ObjectPtr> Informer::ByIndex(std::string_view index, std::string_view value) const {
  return impl_->ByIndex(index, value);
}
std::vector<ObjectPtr> Informer::ListBySelector(std::string_view ns,
                                                std::string_view label_selector) const {
  return impl_->ListBySelector(ns, label_selector);
}
std::string Informer::LastResourceVersion() const { return impl_->LastResourceVersion(); }
const Resource& Informer::resource() const { return impl_->resource(); }
Informer::Stats Informer::stats() const { return impl_->stats(); }

}  // namespace kfaas::kube
