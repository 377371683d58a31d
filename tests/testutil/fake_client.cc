#include "tests/testutil/fake_client.h"

#include <thread>

#include "common/base/time_format.h"

namespace kfaas::testing {
namespace {

bool HasStatusSubresource(const Resource& r) {
  static const std::set<std::string> kWith = {
      "pods", "deployments", "services", "namespaces", "functions", "customresourcedefinitions"};
  return kWith.count(r.resource) > 0;
}

// "k=v,k2!=v2" only.
bool SelectorMatches(const std::string& selector, const Json& labels) {
  size_t pos = 0;
  while (pos < selector.size()) {
    size_t comma = selector.find(',', pos);
    if (comma == std::string::npos) comma = selector.size();
    std::string term = selector.substr(pos, comma - pos);
    pos = comma + 1;
    if (term.empty()) continue;
    bool negate = false;
    size_t eq = term.find("!=");
    std::string key, value;
    if (eq != std::string::npos) {
      negate = true;
      key = term.substr(0, eq);
      value = term.substr(eq + 2);
    } else {
      eq = term.find('=');
      if (eq == std::string::npos) {
        bool has = labels.is_object() && labels.contains(term);
        if (!has) return false;
        continue;
      }
      key = term.substr(0, eq);
      value = term.substr(term[eq + 1] == '=' ? eq + 2 : eq + 1);
    }
    std::string actual;
    bool has = labels.is_object() && labels.contains(key) && labels[key].is_string();
    if (has) actual = labels[key].get<std::string>();
    bool match = has && actual == value;
    if (negate ? match : !match) return false;
  }
  return true;
}

bool FieldMatches(const std::string& selector, const Json& obj) {
  if (selector.empty()) return true;
  size_t pos = 0;
  while (pos < selector.size()) {
    size_t comma = selector.find(',', pos);
    if (comma == std::string::npos) comma = selector.size();
    std::string term = selector.substr(pos, comma - pos);
    pos = comma + 1;
    size_t eq = term.find('=');
    if (eq == std::string::npos) continue;
    std::string field = term.substr(0, eq);
    std::string value = term.substr(term[eq + 1] == '=' ? eq + 2 : eq + 1);
    const Json* cur = &obj;
    size_t p = 0;
    while (p <= field.size()) {
      size_t dot = field.find('.', p);
      if (dot == std::string::npos) dot = field.size();
      std::string part = field.substr(p, dot - p);
      if (!cur->is_object() || !cur->contains(part)) {
        cur = nullptr;
        break;
      }
      cur = &(*cur)[part];
      p = dot + 1;
    }
    std::string actual = cur && cur->is_string() ? cur->get<std::string>() : "";
    if (actual != value) return false;
  }
  return true;
}

std::string NsOf(const Resource& r, std::string_view ns) {
  return r.namespaced ? std::string(ns) : std::string();
}

Json SpecLike(const Json& obj) {
  Json c = obj;
  if (c.is_object()) {
    c.erase("metadata");
    c.erase("status");
  }
  return c;
}

}  // namespace

class FakeClient::Watcher : public kube::WatchStream {
 public:
  Watcher(FakeClient* owner, Resource r, std::string ns, kube::WatchOptions opts)
      : owner_(owner), resource_(std::move(r)), ns_(std::move(ns)), opts_(std::move(opts)) {}
  ~Watcher() override {
    Stop();
    std::lock_guard<std::mutex> l(owner_->mu_);
    owner_->watchers_.erase(this);
  }

  bool Next(kube::WatchEvent* ev) override {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [&] { return stopped_ || !queue_.empty(); });
    if (queue_.empty()) return false;
    *ev = std::move(queue_.front());
    queue_.pop_front();
    return true;
  }
  void Stop() override {
    std::lock_guard<std::mutex> l(mu_);
    stopped_ = true;
    cv_.notify_all();
  }
  absl::Status status() const override { return absl::OkStatus(); }

  // Called with owner_->mu_ held.
  void Offer(const std::string& resource, const kube::WatchEvent& ev) {
    if (resource != resource_.resource) return;
    const Json& md = ev.object.contains("metadata") ? ev.object["metadata"] : Json::object();
    if (!ns_.empty() && md.value("namespace", "") != ns_) return;
    if (!opts_.label_selector.empty() &&
        !SelectorMatches(opts_.label_selector, md.value("labels", Json::object()))) {
      return;
    }
    if (!FieldMatches(opts_.field_selector, ev.object)) return;
    Push(ev);
  }
  void Push(kube::WatchEvent ev) {
    std::lock_guard<std::mutex> l(mu_);
    if (stopped_) return;
    queue_.push_back(std::move(ev));
    cv_.notify_all();
  }

 private:
  FakeClient* owner_;
  Resource resource_;
  std::string ns_;
  kube::WatchOptions opts_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<kube::WatchEvent> queue_;
  bool stopped_ = false;
};

FakeClient::FakeClient(Clock& clock) : clock_(clock) {}

FakeClient::~FakeClient() {
  std::lock_guard<std::mutex> l(mu_);
  for (auto* w : watchers_) w->Stop();
}

Json FakeClient::Seed(const Resource& r, Json obj) {
  std::lock_guard<std::mutex> l(mu_);
  Key k{r.resource, NsOf(r, obj["metadata"].value("namespace", "")),
        obj["metadata"].value("name", "")};
  bool created = !objects_.count(k);
  if (r.namespaced && obj["metadata"].value("namespace", "").empty()) {
    obj["metadata"]["namespace"] = "default";
    k.ns = "default";
  }
  return StoreLocked(r, std::move(obj), created);
}

std::optional<Json> FakeClient::Object(const Resource& r, std::string_view ns,
                                       std::string_view name) const {
  std::lock_guard<std::mutex> l(mu_);
  auto it = objects_.find({r.resource, NsOf(r, ns), std::string(name)});
  if (it == objects_.end()) return std::nullopt;
  return it->second;
}

std::vector<Json> FakeClient::Objects(const Resource& r, std::string_view ns) const {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<Json> out;
  for (const auto& [k, v] : objects_) {
    if (k.resource == r.resource && (ns.empty() || k.ns == ns)) out.push_back(v);
  }
  return out;
}

std::vector<FakeClient::Action> FakeClient::Actions() const {
  std::lock_guard<std::mutex> l(mu_);
  return actions_;
}

std::vector<FakeClient::Action> FakeClient::Writes() const {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<Action> out;
  for (const auto& a : actions_) {
    if (a.verb == "create" || a.verb == "update" || a.verb == "patch" || a.verb == "delete") {
      out.push_back(a);
    }
  }
  return out;
}

void FakeClient::ClearActions() {
  std::lock_guard<std::mutex> l(mu_);
  actions_.clear();
}

void FakeClient::FailNext(std::string verb, std::string resource, absl::Status status, int count) {
  std::lock_guard<std::mutex> l(mu_);
  failures_.push_back({std::move(verb), std::move(resource), std::move(status), count});
}

void FakeClient::DropWatches() {
  std::lock_guard<std::mutex> l(mu_);
  for (auto* w : watchers_) w->Stop();
}

void FakeClient::Compact() {
  std::lock_guard<std::mutex> l(mu_);
  compacted_rv_ = rv_;
  history_.clear();
}

absl::Status FakeClient::MaybeFail(const std::string& verb, const Resource& r) {
  for (auto it = failures_.begin(); it != failures_.end(); ++it) {
    if ((it->verb == "*" || it->verb == verb) &&
        (it->resource.empty() || it->resource == r.resource)) {
      absl::Status s = it->status;
      if (--it->count <= 0) failures_.erase(it);
      return s;
    }
  }
  return absl::OkStatus();
}

void FakeClient::Record(std::string verb, const Resource& r, std::string_view ns,
                        std::string_view name, std::string_view sub, Json obj) {
  actions_.push_back({std::move(verb), r.resource, NsOf(r, ns), std::string(name), std::string(sub),
                      std::move(obj)});
}

void FakeClient::EmitLocked(const Resource& r, kube::WatchEvent::Type type, const Json& obj) {
  kube::WatchEvent ev{type, obj};
  history_.push_back({rv_, r.resource, ev});
  if (history_.size() > 10000) history_.pop_front();
  for (auto* w : watchers_) w->Offer(r.resource, ev);
}

Json FakeClient::StoreLocked(const Resource& r, Json obj, bool created) {
  Json& md = obj["metadata"];
  if (!md.contains("uid")) md["uid"] = "fake-uid-" + std::to_string(++uid_counter_);
  if (!md.contains("creationTimestamp")) md["creationTimestamp"] = FormatRfc3339(clock_.WallNow());
  if (!md.contains("generation")) md["generation"] = 1;
  if (!obj.contains("apiVersion")) obj["apiVersion"] = r.ApiVersion();
  if (!obj.contains("kind")) obj["kind"] = r.kind;
  md["resourceVersion"] = std::to_string(++rv_);
  Key k{r.resource, NsOf(r, md.value("namespace", "")), md.value("name", "")};
  objects_[k] = obj;
  EmitLocked(r, created ? kube::WatchEvent::Type::kAdded : kube::WatchEvent::Type::kModified, obj);
  return obj;
}

void FakeClient::DeleteLocked(const Resource& r, const Key& k) {
  auto it = objects_.find(k);
  if (it == objects_.end()) return;
  Json obj = std::move(it->second);
  objects_.erase(it);
  obj["metadata"]["resourceVersion"] = std::to_string(++rv_);
  EmitLocked(r, kube::WatchEvent::Type::kDeleted, obj);
  // Background garbage collection of dependents.
  std::string uid = obj["metadata"].value("uid", "");
  std::vector<std::pair<Resource, Key>> dependents;
  for (const auto& [dk, dv] : objects_) {
    for (const auto& ref : dv["metadata"].value("ownerReferences", Json::array())) {
      if (ref.value("uid", "") == uid) {
        Resource dr{"", "", dk.resource, dv.value("kind", ""), !dk.ns.empty()};
        dependents.push_back({dr, dk});
      }
    }
  }
  for (const auto& [dr, dk] : dependents) DeleteLocked(dr, dk);
}

Json FakeClient::ToScale(const Json& d) {
  return {{"kind", "Scale"},
          {"apiVersion", "autoscaling/v1"},
          {"metadata",
           {{"name", d["metadata"]["name"]},
            {"namespace", d["metadata"].value("namespace", "")},
            {"resourceVersion", d["metadata"]["resourceVersion"]},
            {"uid", d["metadata"].value("uid", "")}}},
          {"spec", {{"replicas", d.value("spec", Json::object()).value("replicas", 0)}}},
          {"status", {{"replicas", d.value("status", Json::object()).value("replicas", 0)}}}};
}

absl::StatusOr<Json> FakeClient::Get(const Resource& r, std::string_view ns, std::string_view name,
                                     std::string_view sub) {
  std::lock_guard<std::mutex> l(mu_);
  Record("get", r, ns, name, sub, nullptr);
  if (auto s = MaybeFail("get", r); !s.ok()) return s;
  auto it = objects_.find({r.resource, NsOf(r, ns), std::string(name)});
  if (it == objects_.end()) return kube::NotFoundError(r.GroupResource(), name);
  if (sub == "scale") return ToScale(it->second);
  return it->second;
}

absl::StatusOr<Json> FakeClient::List(const Resource& r, std::string_view ns,
                                      const kube::ListOptions& opts) {
  std::lock_guard<std::mutex> l(mu_);
  Record("list", r, ns, "", "", nullptr);
  if (auto s = MaybeFail("list", r); !s.ok()) return s;
  Json items = Json::array();
  for (const auto& [k, v] : objects_) {
    if (k.resource != r.resource) continue;
    if (r.namespaced && !ns.empty() && k.ns != ns) continue;
    if (!opts.label_selector.empty() &&
        !SelectorMatches(opts.label_selector, v["metadata"].value("labels", Json::object()))) {
      continue;
    }
    if (!FieldMatches(opts.field_selector, v)) continue;
    items.push_back(v);
  }
  return Json{{"kind", r.kind + "List"},
              {"apiVersion", r.ApiVersion()},
              {"metadata", {{"resourceVersion", std::to_string(rv_)}}},
              {"items", std::move(items)}};
}

absl::StatusOr<Json> FakeClient::Create(const Resource& r, std::string_view ns, const Json& obj,
                                        const kube::WriteOptions&) {
  std::lock_guard<std::mutex> l(mu_);
  Json o = obj;
  std::string name = o["metadata"].value("name", "");
  if (name.empty() && o["metadata"].contains("generateName")) {
    name = o["metadata"]["generateName"].get<std::string>() + std::to_string(++uid_counter_);
    o["metadata"]["name"] = name;
  }
  Record("create", r, ns, name, "", obj);
  if (auto s = MaybeFail("create", r); !s.ok()) return s;
  if (name.empty()) {
    return kube::InvalidError(
        r.kind, r.group, "",
        {{"FieldValueRequired", "name or generateName is required", "metadata.name"}});
  }
  if (r.namespaced) o["metadata"]["namespace"] = std::string(ns.empty() ? "default" : ns);
  Key k{r.resource, NsOf(r, o["metadata"].value("namespace", "")), name};
  if (objects_.count(k)) return kube::AlreadyExistsError(r.GroupResource(), name);
  o["metadata"].erase("resourceVersion");
  o["metadata"].erase("uid");
  o["metadata"]["generation"] = 1;
  return StoreLocked(r, std::move(o), true);
}

absl::StatusOr<Json> FakeClient::WriteLocked(const Resource& r, std::string_view ns, Json obj,
                                             std::string_view sub, bool check_rv) {
  std::string name = obj["metadata"].value("name", "");
  Key k{r.resource, NsOf(r, ns), name};
  auto it = objects_.find(k);
  if (it == objects_.end()) return kube::NotFoundError(r.GroupResource(), name);
  const Json& cur = it->second;
  if (check_rv && obj["metadata"].contains("resourceVersion") &&
      obj["metadata"]["resourceVersion"] != cur["metadata"]["resourceVersion"]) {
    return kube::ConflictError(r.GroupResource(), name);
  }
  Json next;
  if (sub == "status") {
    next = cur;
    if (obj.contains("status"))
      next["status"] = obj["status"];
    else
      next.erase("status");
  } else if (sub == "scale") {
    next = cur;
    next["spec"]["replicas"] = obj.value("spec", Json::object()).value("replicas", 0);
  } else {
    next = obj;
    // Server-owned metadata survives.
    for (const char* f : {"uid", "creationTimestamp", "generation", "namespace"}) {
      if (cur["metadata"].contains(f)) next["metadata"][f] = cur["metadata"][f];
    }
    if (HasStatusSubresource(r)) {
      if (cur.contains("status"))
        next["status"] = cur["status"];
      else
        next.erase("status");
    }
  }
  if (SpecLike(next) != SpecLike(cur)) {
    next["metadata"]["generation"] = cur["metadata"].value("generation", 1) + 1;
  }
  Json stored = StoreLocked(r, std::move(next), false);
  if (sub == "scale") return ToScale(stored);
  return stored;
}

absl::StatusOr<Json> FakeClient::Update(const Resource& r, std::string_view ns, const Json& obj,
                                        std::string_view sub, const kube::WriteOptions&) {
  std::lock_guard<std::mutex> l(mu_);
  std::string name = obj.contains("metadata") ? obj["metadata"].value("name", "") : "";
  Record("update", r, ns, name, sub, obj);
  if (auto s = MaybeFail("update", r); !s.ok()) return s;
  return WriteLocked(r, ns, obj, sub, /*check_rv=*/true);
}

absl::StatusOr<Json> FakeClient::Patch(const Resource& r, std::string_view ns,
                                       std::string_view name, kube::PatchType type,
                                       const Json& patch, std::string_view sub,
                                       const kube::PatchOptions&) {
  std::lock_guard<std::mutex> l(mu_);
  Record("patch", r, ns, name, sub, patch);
  if (auto s = MaybeFail("patch", r); !s.ok()) return s;
  auto it = objects_.find({r.resource, NsOf(r, ns), std::string(name)});
  if (it == objects_.end()) {
    if (type == kube::PatchType::kApply) {
      Json o = patch;
      o["metadata"]["name"] = std::string(name);
      if (r.namespaced) o["metadata"]["namespace"] = std::string(ns.empty() ? "default" : ns);
      return StoreLocked(r, std::move(o), true);
    }
    return kube::NotFoundError(r.GroupResource(), name);
  }
  Json base = sub == "scale" ? ToScale(it->second) : it->second;
  Json next = base;
  try {
    if (type == kube::PatchType::kJson) {
      next = base.patch(patch);
    } else {
      next.merge_patch(patch);
    }
  } catch (const std::exception& e) {
    return kube::MakeApiError(422, "Invalid",
                              std::string("the patch could not be applied: ") + e.what());
  }
  next["metadata"]["name"] = std::string(name);
  bool check_rv = patch.is_object() && patch.contains("metadata") &&
                  patch["metadata"].contains("resourceVersion");
  if (!check_rv) next["metadata"]["resourceVersion"] = it->second["metadata"]["resourceVersion"];
  return WriteLocked(r, ns, std::move(next), sub, check_rv);
}

absl::StatusOr<Json> FakeClient::Delete(const Resource& r, std::string_view ns,
                                        std::string_view name, const kube::DeleteOptions&) {
  std::lock_guard<std::mutex> l(mu_);
  Record("delete", r, ns, name, "", nullptr);
  if (auto s = MaybeFail("delete", r); !s.ok()) return s;
  Key k{r.resource, NsOf(r, ns), std::string(name)};
  auto it = objects_.find(k);
  if (it == objects_.end()) return kube::NotFoundError(r.GroupResource(), name);
  Json obj = it->second;
  DeleteLocked(r, k);
  return obj;
}

absl::StatusOr<std::unique_ptr<kube::WatchStream>> FakeClient::Watch(
    const Resource& r, std::string_view ns, const kube::WatchOptions& opts) {
  std::lock_guard<std::mutex> l(mu_);
  Record("watch", r, ns, "", "", nullptr);
  if (auto s = MaybeFail("watch", r); !s.ok()) return s;
  auto w = std::make_unique<Watcher>(this, r, NsOf(r, ns), opts);
  const std::string& rv = opts.resource_version;
  if (rv.empty() || rv == "0") {
    for (const auto& [k, v] : objects_) {
      if (k.resource != r.resource) continue;
      w->Offer(r.resource, {kube::WatchEvent::Type::kAdded, v});
    }
  } else {
    uint64_t from = std::stoull(rv);
    if (from < compacted_rv_) {
      w->Push({kube::WatchEvent::Type::kError,
               kube::ToStatusJson(kube::GoneError("too old resource version: " + rv + " (" +
                                                  std::to_string(compacted_rv_) + ")"))});
      w->Stop();
      return std::unique_ptr<kube::WatchStream>(std::move(w));
    }
    for (const auto& h : history_) {
      if (h.rv > from) w->Offer(h.resource, h.event);
    }
  }
  watchers_.insert(w.get());
  return std::unique_ptr<kube::WatchStream>(std::move(w));
}

bool WaitFor(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return pred();
}

}  // namespace kfaas::testing
