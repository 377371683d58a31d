#include "operator/controller/slim.h"

#include <initializer_list>

#include "operator/resources/resources.h"

namespace kfaas::op {
namespace {

// Moves the listed keys of `from` (when present) into a new object.
Json Pick(Json& from, std::initializer_list<const char*> keys) {
  Json out = Json::object();
  if (!from.is_object()) return out;
  for (const char* k : keys) {
    auto it = from.find(k);
    if (it != from.end()) out[k] = std::move(*it);
  }
  return out;
}

Json Base(Json& obj) {
  Json out = Pick(obj, {"apiVersion", "kind"});
  auto md = obj.find("metadata");
  out["metadata"] =
      md == obj.end()
          ? Json::object()
          : Pick(*md, {"name", "namespace", "uid", "resourceVersion", "generation", "labels",
                       "ownerReferences", "deletionTimestamp", "creationTimestamp"});
  return out;
}

}  // namespace

Json SlimDeployment(Json obj) {
  if (!obj.is_object()) return obj;
  Json out = Base(obj);
  auto spec = obj.find("spec");
  if (spec != obj.end() && spec->is_object()) {
    Json s = Pick(*spec, {"replicas", "selector", "strategy"});
    auto tmpl = spec->find("template");
    if (tmpl != spec->end() && tmpl->is_object()) {
      Json t = Json::object();
      if (auto tm = tmpl->find("metadata"); tm != tmpl->end())
        t["metadata"] = Pick(*tm, {"labels"});
      if (auto ps = tmpl->find("spec"); ps != tmpl->end() && ps->is_object()) {
        Json p = Pick(*ps, {"terminationGracePeriodSeconds", "enableServiceLinks", "volumes"});
        if (auto cs = ps->find("containers"); cs != ps->end() && cs->is_array()) {
          Json containers = Json::array();
          for (auto& c : *cs) {
            containers.push_back(
                Pick(c, {"name", "image", "command", "args", "env", "ports", "resources",
                         "readinessProbe", "securityContext", "volumeMounts"}));
          }
          p["containers"] = std::move(containers);
        }
        t["spec"] = std::move(p);
      }
      s["template"] = std::move(t);
    }
    out["spec"] = std::move(s);
  }
  auto status = obj.find("status");
  if (status != obj.end() && status->is_object()) {
    Json st = Pick(*status, {"replicas", "readyReplicas"});
    if (auto conds = status->find("conditions"); conds != status->end() && conds->is_array()) {
      for (auto& c : *conds) {
        if (c.is_object() && c.value("type", "") == "Progressing") {
          st["conditions"] = Json::array({Pick(c, {"type", "status", "reason", "message"})});
        }
      }
    }
    out["status"] = std::move(st);
  }
  return out;
}

Json SlimService(Json obj) {
  if (!obj.is_object()) return obj;
  Json out = Base(obj);
  if (auto spec = obj.find("spec"); spec != obj.end()) {
    out["spec"] = Pick(*spec, {"type", "selector", "ports"});
  }
  return out;
}

Json SlimFunction(Json obj) {
  if (!obj.is_object()) return obj;
  Json out = std::move(obj);
  auto md = out.find("metadata");
  if (md == out.end() || !md->is_object()) return out;
  md->erase("managedFields");
  if (auto ann = md->find("annotations"); ann != md->end() && ann->is_object()) {
    ann->erase("kubectl.kubernetes.io/last-applied-configuration");
    if (ann->empty()) md->erase("annotations");
  }
  return out;
}

namespace {
constexpr char kPacked[] = "kfaas.dev/packed";
constexpr char kPackedController[] = "kfaas.dev/controller";
}  // namespace

bool IsPacked(const Json& obj) {
  if (!obj.is_object()) return false;
  auto it = obj.find(kPacked);
  return it != obj.end() && it->is_binary();
}

Json Pack(Json obj) {
  if (!obj.is_object()) return obj;
  Json out = Json::object();
  for (const char* k : {"apiVersion", "kind"}) {
    if (auto it = obj.find(k); it != obj.end()) out[k] = *it;
  }
  Json md = Json::object();
  if (auto m = obj.find("metadata"); m != obj.end() && m->is_object()) {
    for (const char* k : {"name", "namespace", "uid", "resourceVersion"}) {
      if (auto it = m->find(k); it != m->end()) md[k] = *it;
    }
  }
  out["metadata"] = std::move(md);
  if (auto spec = obj.find("spec"); spec != obj.end() && spec->is_object()) {
    if (auto hosts = spec->find("hosts"); hosts != spec->end()) out["spec"]["hosts"] = *hosts;
  }
  out[kPacked] = Json::binary(Json::to_cbor(obj));
  return out;
}

Json Unpack(const Json& obj) {
  if (!IsPacked(obj)) return obj;
  return Json::from_cbor(obj.find(kPacked)->get_binary());
}

std::string PackedControllerKey(const Json& obj) {
  if (!IsPacked(obj)) return ControllerFunctionKey(obj);
  auto it = obj.find(kPackedController);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : "";
}

namespace {
Json PackChild(Json slim) {
  std::string key = ControllerFunctionKey(slim);
  Json out = Pack(std::move(slim));
  if (!key.empty()) out[kPackedController] = std::move(key);
  return out;
}
}  // namespace

Json CacheFunction(Json obj) { return Pack(SlimFunction(std::move(obj))); }
Json CacheDeployment(Json obj) { return PackChild(SlimDeployment(std::move(obj))); }
Json CacheService(Json obj) { return PackChild(SlimService(std::move(obj))); }

namespace {

class SlimStream : public kube::WatchStream {
 public:
  SlimStream(std::unique_ptr<kube::WatchStream> inner, Json (*slim)(Json))
      : inner_(std::move(inner)), slim_(slim) {}
  bool Next(kube::WatchEvent* ev) override {
    if (!inner_->Next(ev)) return false;
    if (ev->type == kube::WatchEvent::Type::kAdded ||
        ev->type == kube::WatchEvent::Type::kModified ||
        ev->type == kube::WatchEvent::Type::kDeleted) {
      ev->object = slim_(std::move(ev->object));
    }
    return true;
  }
  void Stop() override { inner_->Stop(); }
  absl::Status status() const override { return inner_->status(); }

 private:
  std::unique_ptr<kube::WatchStream> inner_;
  Json (*slim_)(Json);
};

class Slimming : public kube::Client {
 public:
  Slimming(std::shared_ptr<kube::Client> inner, Json (*slim)(Json))
      : inner_(std::move(inner)), slim_(slim) {}

  absl::StatusOr<Json> Get(const kube::Resource& r, std::string_view ns, std::string_view name,
                           std::string_view sub) override {
    return inner_->Get(r, ns, name, sub);
  }
  absl::StatusOr<Json> List(const kube::Resource& r, std::string_view ns,
                            const kube::ListOptions& opts) override {
    auto list = inner_->List(r, ns, opts);
    if (list.ok()) {
      if (auto items = list->find("items"); items != list->end() && items->is_array()) {
        for (auto& item : *items) item = slim_(std::move(item));
      }
    }
    return list;
  }
  absl::StatusOr<Json> Create(const kube::Resource& r, std::string_view ns, const Json& obj,
                              const kube::WriteOptions& opts) override {
    return inner_->Create(r, ns, obj, opts);
  }
  absl::StatusOr<Json> Update(const kube::Resource& r, std::string_view ns, const Json& obj,
                              std::string_view sub, const kube::WriteOptions& opts) override {
    return inner_->Update(r, ns, obj, sub, opts);
  }
  absl::StatusOr<Json> Patch(const kube::Resource& r, std::string_view ns, std::string_view name,
                             kube::PatchType type, const Json& patch, std::string_view sub,
                             const kube::PatchOptions& opts) override {
    return inner_->Patch(r, ns, name, type, patch, sub, opts);
  }
  absl::StatusOr<Json> Delete(const kube::Resource& r, std::string_view ns, std::string_view name,
                              const kube::DeleteOptions& opts) override {
    return inner_->Delete(r, ns, name, opts);
  }
  absl::StatusOr<std::unique_ptr<kube::WatchStream>> Watch(
      const kube::Resource& r, std::string_view ns, const kube::WatchOptions& opts) override {
    auto w = inner_->Watch(r, ns, opts);
    if (!w.ok()) return w.status();
    return std::unique_ptr<kube::WatchStream>(std::make_unique<SlimStream>(std::move(*w), slim_));
  }

 private:
  std::shared_ptr<kube::Client> inner_;
  Json (*slim_)(Json);
};

}  // namespace

std::shared_ptr<kube::Client> SlimmingClient(std::shared_ptr<kube::Client> inner,
                                             Json (*slim)(Json)) {
  return std::make_shared<Slimming>(std::move(inner), slim);
}

}  // namespace kfaas::op
