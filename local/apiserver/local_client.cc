#include "local/apiserver/local_client.h"

#include <thread>

#include "common/kube/errors.h"

namespace kfaas::local {
namespace {

absl::Status Stopped() { return kube::ServiceUnavailableError("the local API server has stopped"); }

kube::WatchEvent::Type ToType(EventType t) {
  switch (t) {
    case EventType::kAdded:
      return kube::WatchEvent::Type::kAdded;
    case EventType::kModified:
      return kube::WatchEvent::Type::kModified;
    case EventType::kDeleted:
      return kube::WatchEvent::Type::kDeleted;
    case EventType::kBookmark:
      return kube::WatchEvent::Type::kBookmark;
    case EventType::kError:
      return kube::WatchEvent::Type::kError;
  }
  return kube::WatchEvent::Type::kError;
}

class LocalWatchStream final : public kube::WatchStream {
 public:
  LocalWatchStream(std::shared_ptr<ServerCore> core, ResourcePtr r, WatcherPtr w,
                   std::optional<Json> error, std::chrono::steady_clock::time_point deadline)
      : core_(std::move(core)),
        r_(std::move(r)),
        w_(std::move(w)),
        error_(std::move(error)),
        deadline_(deadline) {}
  ~LocalWatchStream() override { Stop(); }

  bool Next(kube::WatchEvent* event) override {
    if (error_) {
      event->type = kube::WatchEvent::Type::kError;
      event->object = std::move(*error_);
      error_.reset();
      return true;
    }
    if (!w_) return false;
    WatchItem item;
    if (!w_->WaitNext(&item, deadline_)) {
      auto reason = w_->close_reason();
      if (reason == Watcher::CloseReason::kTooSlow) {
        std::lock_guard lock(mu_);
        status_ = kube::MakeApiError(500, "InternalError",
                                     "the watch was closed: the client fell too far behind");
      }
      return false;
    }
    core_->faults.events_sent++;
    event->type = ToType(item.type);
    event->shared.reset();
    if (item.type == EventType::kBookmark) {
      Json meta = {{"resourceVersion", std::to_string(item.rv)}};
      if (item.initial_events_end) {
        meta["annotations"] = {{"k8s.io/initial-events-end", "true"}};
      }
      event->object = {{"kind", r_->kind}, {"apiVersion", r_->ApiVersion()}, {"metadata", meta}};
    } else if (item.type == EventType::kError) {
      event->object = item.error;
    } else if (share_) {
      ObjectPtr stored = core_->api.AtVersion(*r_, item.obj);
      event->object = Json();
      event->shared = std::shared_ptr<const Json>(stored, &stored->obj);
    } else {
      event->object = core_->api.AtVersion(*r_, item.obj)->obj;
    }
    return true;
  }

  void ShareObjects() override { share_ = true; }

  void Stop() override {
    if (w_ && !stopped_.exchange(true)) core_->store.Unwatch(w_);
  }

  absl::Status status() const override {
    std::lock_guard lock(mu_);
    return status_;
  }

 private:
  std::shared_ptr<ServerCore> core_;
  ResourcePtr r_;
  WatcherPtr w_;
  std::optional<Json> error_;
  std::chrono::steady_clock::time_point deadline_;
  std::atomic<bool> stopped_{false};
  bool share_ = false;
  mutable std::mutex mu_;
  absl::Status status_;
};

}  // namespace

LocalClient::LocalClient(std::shared_ptr<ServerCore> core, std::string user_agent)
    : core_(std::move(core)) {
  caller_.user = "system:kfaas-local";
  caller_.user_agent = std::move(user_agent);
}

absl::StatusOr<ResourcePtr> LocalClient::Resolve(const kube::Resource& r) const {
  if (core_->stopped) return Stopped();
  core_->faults.requests++;
  return core_->api.Resolve(r.group, r.version, r.resource);
}

void LocalClient::Delay(const kube::Resource& r, const char* verb) const {
  auto d = core_->faults.Latency(r.resource, verb);
  if (d.count() > 0) std::this_thread::sleep_for(d);
}

absl::StatusOr<Json> LocalClient::Get(const kube::Resource& r, std::string_view ns,
                                      std::string_view name, std::string_view subresource) {
  auto info = Resolve(r);
  if (!info.ok()) return info.status();
  Delay(r, "get");
  return core_->api.Get(**info, std::string(ns), std::string(name), std::string(subresource), "");
}

absl::StatusOr<Json> LocalClient::List(const kube::Resource& r, std::string_view ns,
                                       const kube::ListOptions& opts) {
  auto info = Resolve(r);
  if (!info.ok()) return info.status();
  Delay(r, "list");
  auto res = core_->api.List(**info, std::string(ns), opts);
  if (!res.ok()) return res.status();
  Json items = Json::array();
  for (const auto& o : res->items) items.push_back(o->obj);
  Json meta = {{"resourceVersion", std::to_string(res->rv)}};
  if (!res->continue_token.empty()) meta["continue"] = res->continue_token;
  if (res->remaining) meta["remainingItemCount"] = *res->remaining;
  return Json{{"kind", (*info)->list_kind},
              {"apiVersion", (*info)->ApiVersion()},
              {"metadata", meta},
              {"items", std::move(items)}};
}

absl::StatusOr<Json> LocalClient::Create(const kube::Resource& r, std::string_view ns,
                                         const Json& obj, const kube::WriteOptions& opts) {
  auto info = Resolve(r);
  if (!info.ok()) return info.status();
  Delay(r, "create");
  std::string n(ns);
  if ((*info)->namespaced && n.empty() && obj.is_object() && obj.contains("metadata") &&
      obj["metadata"].is_object()) {
    n = obj["metadata"].value("namespace", "");
  }
  WriteOpts wo;
  wo.dry_run = opts.dry_run;
  wo.field_manager = opts.field_manager;
  auto res = core_->api.Create(**info, n, obj, wo, caller_);
  if (!res.ok()) return res.status();
  return std::move(res->object);
}

absl::StatusOr<Json> LocalClient::Update(const kube::Resource& r, std::string_view ns,
                                         const Json& obj, std::string_view subresource,
                                         const kube::WriteOptions& opts) {
  auto info = Resolve(r);
  if (!info.ok()) return info.status();
  Delay(r, "update");
  if (!obj.is_object() || !obj.contains("metadata") || !obj["metadata"].is_object() ||
      !obj["metadata"].contains("name") || !obj["metadata"]["name"].is_string()) {
    return kube::BadRequestError("an update needs the object's metadata.name");
  }
  std::string n(ns);
  if ((*info)->namespaced && n.empty()) n = obj["metadata"].value("namespace", "");
  WriteOpts wo;
  wo.dry_run = opts.dry_run;
  wo.field_manager = opts.field_manager;
  auto res = core_->api.Update(**info, n, obj["metadata"]["name"].get<std::string>(), obj,
                               std::string(subresource), wo, caller_);
  if (!res.ok()) return res.status();
  return std::move(res->object);
}

absl::StatusOr<Json> LocalClient::Patch(const kube::Resource& r, std::string_view ns,
                                        std::string_view name, kube::PatchType type,
                                        const Json& patch, std::string_view subresource,
                                        const kube::PatchOptions& opts) {
  auto info = Resolve(r);
  if (!info.ok()) return info.status();
  Delay(r, "patch");
  WriteOpts wo;
  wo.dry_run = opts.dry_run;
  wo.field_manager = opts.field_manager;
  if (type == kube::PatchType::kApply && wo.field_manager.empty()) {
    wo.field_manager = caller_.user_agent.substr(0, caller_.user_agent.find('/'));
  }
  wo.force = opts.force;
  auto res = core_->api.Patch(**info, std::string(ns), std::string(name), type, patch,
                              std::string(subresource), wo, caller_);
  if (!res.ok()) return res.status();
  return std::move(res->object);
}

absl::StatusOr<Json> LocalClient::Delete(const kube::Resource& r, std::string_view ns,
                                         std::string_view name, const kube::DeleteOptions& opts) {
  auto info = Resolve(r);
  if (!info.ok()) return info.status();
  Delay(r, "delete");
  DeleteOpts d;
  d.propagation = opts.propagation_policy;
  d.grace_period_seconds = opts.grace_period_seconds;
  d.precondition_uid = opts.precondition_uid;
  d.precondition_rv = opts.precondition_resource_version;
  auto res = core_->api.Delete(**info, std::string(ns), std::string(name), d, caller_);
  if (!res.ok()) return res.status();
  return std::move(res->object);
}

absl::StatusOr<std::unique_ptr<kube::WatchStream>> LocalClient::Watch(
    const kube::Resource& r, std::string_view ns, const kube::WatchOptions& opts) {
  auto info = Resolve(r);
  if (!info.ok()) return info.status();
  Delay(r, "watch");
  WatchOpts wo;
  wo.label_selector = opts.label_selector;
  wo.field_selector = opts.field_selector;
  wo.resource_version = opts.resource_version;
  wo.allow_bookmarks = opts.allow_bookmarks;
  int timeout = opts.timeout_seconds > 0 ? opts.timeout_seconds : 1800;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout);
  auto w = core_->api.Watch(**info, std::string(ns), wo);
  if (!w.ok()) {
    if (kube::IsGone(w.status())) {
      // As over HTTP: the watch "succeeds" and delivers one ERROR event.
      return std::unique_ptr<kube::WatchStream>(std::make_unique<LocalWatchStream>(
          core_, *info, nullptr, kube::ToStatusJson(w.status()), deadline));
    }
    return w.status();
  }
  return std::unique_ptr<kube::WatchStream>(
      std::make_unique<LocalWatchStream>(core_, *info, *w, std::nullopt, deadline));
}

}  // namespace kfaas::local
