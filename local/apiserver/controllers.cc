#include "local/apiserver/controllers.h"

#include <algorithm>

#include "common/base/json_fields.h"
#include "common/base/log.h"
#include "common/kube/errors.h"

namespace kfaas::local {
namespace {

const Json kNull;

const Json& Meta(const Json& o, const char* f) {
  auto m = o.find("metadata");
  if (m == o.end() || !m->is_object()) return kNull;
  auto it = m->find(f);
  return it == m->end() ? kNull : *it;
}

std::string MetaStr(const Json& o, const char* f) {
  const Json& v = Meta(o, f);
  return v.is_string() ? v.get<std::string>() : "";
}

bool IsDeleting(const Json& o) { return !Meta(o, "deletionTimestamp").is_null(); }

bool HasFinalizer(const Json& o, const std::string& f) {
  const Json& fs = Meta(o, "finalizers");
  if (!fs.is_array()) return false;
  for (const auto& x : fs) {
    if (x.is_string() && x.get<std::string>() == f) return true;
  }
  return false;
}

void RemoveFinalizer(Json& o, const std::string& f) {
  Json& fs = o["metadata"]["finalizers"];
  if (!fs.is_array()) return;
  Json out = Json::array();
  for (const auto& x : fs) {
    if (!(x.is_string() && x.get<std::string>() == f)) out.push_back(x);
  }
  if (out.empty()) {
    o["metadata"].erase("finalizers");
  } else {
    fs = out;
  }
}

constexpr char kForeground[] = "foregroundDeletion";
constexpr char kOrphan[] = "orphan";
constexpr char kCrdCleanup[] = "customresourcecleanup.apiextensions.k8s.io";

}  // namespace

Controllers::Controllers(Api& api, std::chrono::milliseconds bookmark_interval)
    : api_(api), bookmark_interval_(bookmark_interval) {
  caller_.user = "system:serviceaccount:kube-system:generic-garbage-collector";
  caller_.user_agent = "kube-controller-manager/v1.32.4 (linux/amd64) kubernetes/kfaas";
  caller_.internal = true;
}

Controllers::~Controllers() { Stop(); }

void Controllers::Start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this] { Run(); });
}

void Controllers::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Controllers::WaitIdle() {
  std::unique_lock lock(mu_);
  idle_cv_.wait_for(lock, std::chrono::seconds(10),
                    [this] { return (queue_.empty() && !busy_) || stop_; });
}

void Controllers::EnqueueLocked(Work w) {
  if (!pending_.insert(w).second) return;
  queue_.push_back(std::move(w));
  cv_.notify_one();
}

void Controllers::OnEvent(const EventPtr& e) {
  const Json& o = e->obj->obj;
  std::string ns = MetaStr(o, "namespace");
  std::string name = MetaStr(o, "name");
  ObjectKey key{e->storage_key, ns, name};
  std::lock_guard lock(mu_);
  bool has_owners = Meta(o, "ownerReferences").is_array() && !Meta(o, "ownerReferences").empty();
  if (e->type == EventType::kDeleted) {
    EnqueueLocked({Kind::kOwnerGone, {}, MetaStr(o, "uid")});
    // A dependent going away may unblock a foreground-deleting owner.
    if (has_owners) {
      for (const auto& uid : OwnerUids(o)) EnqueueLocked({Kind::kOwnerGone, {}, "?" + uid});
    }
    if (!ns.empty() && terminating_namespaces_.count(ns)) {
      EnqueueLocked({Kind::kNamespace, {"/namespaces", "", ns}, ""});
    }
    if (deleting_crd_keys_.count(e->storage_key)) {
      // The CRD is named <plural>.<group>.
      EnqueueLocked({Kind::kCrd,
                     {"apiextensions.k8s.io/customresourcedefinitions", "",
                      e->storage_key.substr(e->storage_key.find('/') + 1) + "." +
                          e->storage_key.substr(0, e->storage_key.find('/'))},
                     ""});
    }
    if (e->storage_key == "/namespaces") terminating_namespaces_.erase(name);
    if (e->storage_key == "apiextensions.k8s.io/customresourcedefinitions") {
      const Json& spec = json::FieldOrEmptyObject(o, "spec");
      deleting_crd_keys_.erase(spec.value("group", "") + "/" +
                               spec.value("names", Json::object()).value("plural", ""));
    }
    return;
  }
  if (has_owners) {
    bool changed = e->type == EventType::kAdded || !e->prev ||
                   Meta(e->prev->obj, "ownerReferences") != Meta(o, "ownerReferences");
    if (changed) EnqueueLocked({Kind::kDependent, key, ""});
  }
  if (IsDeleting(o)) {
    if (HasFinalizer(o, kForeground) || HasFinalizer(o, kOrphan)) {
      EnqueueLocked({Kind::kOwner, key, ""});
    }
    if (e->storage_key == "/namespaces") {
      terminating_namespaces_.insert(name);
      EnqueueLocked({Kind::kNamespace, key, ""});
    }
    if (e->storage_key == "apiextensions.k8s.io/customresourcedefinitions") {
      const Json& spec = json::FieldOrEmptyObject(o, "spec");
      deleting_crd_keys_.insert(spec.value("group", "") + "/" +
                                spec.value("names", Json::object()).value("plural", ""));
      EnqueueLocked({Kind::kCrd, key, ""});
    }
  }
}

void Controllers::Run() {
  auto next_bookmark = std::chrono::steady_clock::now() + bookmark_interval_;
  std::unique_lock lock(mu_);
  while (!stop_) {
    if (queue_.empty()) {
      busy_ = false;
      idle_cv_.notify_all();
      cv_.wait_until(lock, next_bookmark, [this] { return stop_ || !queue_.empty(); });
    }
    if (stop_) break;
    if (std::chrono::steady_clock::now() >= next_bookmark) {
      lock.unlock();
      api_.store().SendBookmarks();
      lock.lock();
      next_bookmark = std::chrono::steady_clock::now() + bookmark_interval_;
    }
    if (queue_.empty()) continue;
    Work w = std::move(queue_.front());
    queue_.pop_front();
    pending_.erase(w);
    busy_ = true;
    lock.unlock();
    try {
      Process(w);
    } catch (const std::exception& ex) {
      KFAAS_LOG(ERROR) << "controller work failed: " << ex.what();
    }
    lock.lock();
  }
  busy_ = false;
  idle_cv_.notify_all();
}

void Controllers::Process(const Work& w) {
  switch (w.kind) {
    case Kind::kDependent:
      ProcessDependent(w.key);
      break;
    case Kind::kOwner:
      ProcessOwner(w.key);
      break;
    case Kind::kOwnerGone: {
      if (!w.uid.empty() && w.uid[0] == '?') {
        // A dependent of this owner was deleted: re-check the owner if it is deleting.
        ObjectKey okey;
        if (auto o = api_.store().GetByUid(w.uid.substr(1), &okey); o && IsDeleting(o->obj)) {
          ProcessOwner(okey);
        }
        break;
      }
      for (const auto& dep : api_.store().Dependents(w.uid)) ProcessDependent(dep);
      break;
    }
    case Kind::kNamespace:
      ProcessNamespace(w.key.name);
      break;
    case Kind::kCrd:
      ProcessCrd(w.key);
      break;
  }
}

void Controllers::ProcessDependent(const ObjectKey& key) {
  Store& store = api_.store();
  ObjectPtr o = store.Get(key);
  if (!o || IsDeleting(o->obj)) return;
  const Json& refs = Meta(o->obj, "ownerReferences");
  if (!refs.is_array() || refs.empty()) return;
  auto r = api_.registry().FindByStorageKey(key.storage_key);
  if (!r) return;
  std::set<std::string> dangling, waiting;
  bool solid = false;
  for (const auto& ref : refs) {
    std::string uid = ref.value("uid", "");
    ObjectKey okey;
    ObjectPtr owner = store.GetByUid(uid, &okey);
    bool absent = !owner;
    if (owner) {
      auto orr = api_.registry().FindByStorageKey(okey.storage_key);
      bool owner_namespaced = orr ? orr->namespaced : !okey.ns.empty();
      if (owner_namespaced && (!r->namespaced || okey.ns != key.ns)) absent = true;
    }
    if (absent) {
      dangling.insert(uid);
    } else if (IsDeleting(owner->obj) && HasFinalizer(owner->obj, kForeground)) {
      waiting.insert(uid);
    } else {
      solid = true;
    }
  }
  if (solid) {
    if (dangling.empty() && waiting.empty()) return;
    (void)api_.Mutate(
        *r, key,
        [&](Json& obj) {
          Json out = Json::array();
          bool changed = false;
          for (auto ref : obj["metadata"]["ownerReferences"]) {
            std::string uid = ref.value("uid", "");
            if (dangling.count(uid)) {
              changed = true;
              continue;
            }
            if (waiting.count(uid) && ref.value("blockOwnerDeletion", false)) {
              ref["blockOwnerDeletion"] = false;
              changed = true;
            }
            out.push_back(ref);
          }
          obj["metadata"]["ownerReferences"] = out;
          return changed;
        },
        "generic-garbage-collector");
    return;
  }
  DeleteOpts opts;
  opts.precondition_uid = MetaStr(o->obj, "uid");
  bool has_dependents = !store.Dependents(opts.precondition_uid).empty();
  opts.propagation = !waiting.empty() && has_dependents ? "Foreground" : "Background";
  auto res = api_.Delete(*r, key.ns, key.name, opts, caller_);
  if (!res.ok() && !absl::IsNotFound(res.status()) && !kube::IsConflict(res.status())) {
    KFAAS_LOG(WARNING) << "garbage collector: deleting " << r->GroupResource() << " " << key.ns
                       << "/" << key.name << ": " << res.status().message();
  }
}

void Controllers::ProcessOwner(const ObjectKey& key) {
  Store& store = api_.store();
  ObjectPtr o = store.Get(key);
  if (!o || !IsDeleting(o->obj)) return;
  auto r = api_.registry().FindByStorageKey(key.storage_key);
  if (!r) return;
  std::string uid = MetaStr(o->obj, "uid");
  if (HasFinalizer(o->obj, kOrphan)) {
    for (const auto& dep : store.Dependents(uid)) {
      auto dr = api_.registry().FindByStorageKey(dep.storage_key);
      if (!dr) continue;
      (void)api_.Mutate(
          *dr, dep,
          [&](Json& obj) {
            Json out = Json::array();
            for (const auto& ref : obj["metadata"]["ownerReferences"]) {
              if (ref.value("uid", "") != uid) out.push_back(ref);
            }
            if (out.size() == obj["metadata"]["ownerReferences"].size()) return false;
            if (out.empty()) {
              obj["metadata"].erase("ownerReferences");
            } else {
              obj["metadata"]["ownerReferences"] = out;
            }
            return true;
          },
          "generic-garbage-collector");
    }
    (void)api_.Mutate(
        *r, key,
        [&](Json& obj) {
          if (!HasFinalizer(obj, kOrphan)) return false;
          RemoveFinalizer(obj, kOrphan);
          return true;
        },
        "generic-garbage-collector");
    return;
  }
  if (HasFinalizer(o->obj, kForeground)) {
    bool blocked = false;
    for (const auto& dep : store.Dependents(uid)) {
      ObjectPtr d = store.Get(dep);
      if (!d) continue;
      if (!IsDeleting(d->obj)) ProcessDependent(dep);
      d = store.Get(dep);
      if (!d) continue;
      for (const auto& ref : Meta(d->obj, "ownerReferences")) {
        if (ref.value("uid", "") == uid && ref.value("blockOwnerDeletion", false)) blocked = true;
      }
    }
    if (blocked) return;
    (void)api_.Mutate(
        *r, key,
        [&](Json& obj) {
          if (!HasFinalizer(obj, kForeground)) return false;
          RemoveFinalizer(obj, kForeground);
          return true;
        },
        "generic-garbage-collector");
  }
}

void Controllers::ProcessNamespace(const std::string& name) {
  Store& store = api_.store();
  ObjectKey nskey{"/namespaces", "", name};
  ObjectPtr ns = store.Get(nskey);
  if (!ns || !IsDeleting(ns->obj)) return;
  auto contents = store.ListNamespace(name);
  for (const auto& [key, obj] : contents) {
    if (IsDeleting(obj->obj)) continue;
    auto r = api_.registry().FindByStorageKey(key.storage_key);
    if (!r) continue;
    DeleteOpts opts;
    opts.propagation = "Background";
    auto res = api_.Delete(*r, key.ns, key.name, opts, caller_);
    if (!res.ok() && !absl::IsNotFound(res.status())) {
      KFAAS_LOG(WARNING) << "namespace controller: deleting " << r->GroupResource() << " " << key.ns
                         << "/" << key.name << ": " << res.status().message();
    }
  }
  if (!store.ListNamespace(name).empty()) return;  // re-run on the next DELETED event
  auto nsr = api_.registry().FindByStorageKey("/namespaces");
  (void)api_.Mutate(
      *nsr, nskey,
      [&](Json& obj) {
        Json& spec = obj["spec"];
        if (!spec.is_object() || !spec.contains("finalizers") || spec["finalizers"].empty()) {
          return false;
        }
        Json out = Json::array();
        for (const auto& f : spec["finalizers"]) {
          if (f != "kubernetes") out.push_back(f);
        }
        spec["finalizers"] = out;
        return true;
      },
      "namespace-controller");
}

void Controllers::ProcessCrd(const ObjectKey& key) {
  Store& store = api_.store();
  ObjectPtr crd = store.Get(key);
  if (!crd || !IsDeleting(crd->obj)) return;
  const Json& spec = crd->obj["spec"];
  std::string sk = spec.value("group", "") + "/" + spec["names"].value("plural", "");
  auto r = api_.registry().FindByStorageKey(sk);
  if (r) {
    for (const auto& [k, obj] : store.ListAll(sk)) {
      if (IsDeleting(obj->obj)) continue;
      DeleteOpts opts;
      opts.propagation = "Background";
      (void)api_.Delete(*r, k.ns, k.name, opts, caller_);
    }
  }
  if (!store.ListAll(sk).empty()) return;
  auto crdr = api_.registry().FindByStorageKey("apiextensions.k8s.io/customresourcedefinitions");
  (void)api_.Mutate(
      *crdr, key,
      [&](Json& obj) {
        if (!HasFinalizer(obj, kCrdCleanup)) return false;
        RemoveFinalizer(obj, kCrdCleanup);
        return true;
      },
      "apiextensions-controller");
}

}  // namespace kfaas::local
