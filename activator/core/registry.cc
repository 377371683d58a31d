#include "activator/core/registry.h"

#include <algorithm>

#include "common/base/log.h"

namespace kfaas::activator {

Registry::Registry(CoreDeps deps) : deps_(std::move(deps)) {
  table_.store(std::make_shared<const Table>());
}

Registry::~Registry() {
  std::lock_guard<std::mutex> l(mu_);
  functions_.clear();
}

std::shared_ptr<FunctionState> Registry::GetOrCreateLocked(const std::string& ns,
                                                           const std::string& name) {
  auto& slot = functions_[FunctionKey(ns, name)];
  if (!slot) slot = std::make_shared<FunctionState>(ns, name, &deps_);
  return slot;
}

void Registry::RebuildLocked() {
  // Oldest claim first (creation time, then namespace/name), as the operator decides who owns
  // a host listed by several Functions; an unknown time sorts last.
  std::vector<std::pair<std::string, Table::Entry>> ordered;
  for (const auto& [key, fs] : functions_) {
    if (!fs->HasSpec()) continue;
    FunctionSpec spec = fs->spec();
    ordered.push_back({spec.created, {spec.ns, spec.name, spec.hosts, fs}});
  }
  std::stable_sort(ordered.begin(), ordered.end(), [](const auto& a, const auto& b) {
    if (a.first.empty() != b.first.empty()) return b.first.empty();
    return a.first < b.first;  // RFC 3339 UTC times of one precision compare as strings
  });
  std::vector<Table::Entry> entries;
  entries.reserve(ordered.size());
  for (auto& [created, entry] : ordered) entries.push_back(std::move(entry));
  std::vector<std::string> conflicts;
  auto table = std::make_shared<const Table>(entries, deps_.options.domain, &conflicts);
  for (const auto& c : conflicts) KFAAS_LOG(WARNING) << "routing: host " << c;
  table_.store(std::move(table));
  version_.fetch_add(1, std::memory_order_release);
}

void Registry::OnFunction(const nlohmann::json& function) {
  auto spec = ParseFunctionSpec(function);
  if (!spec.ok()) {
    KFAAS_LOG(WARNING) << "ignoring a Function: " << spec.status().message();
    return;
  }
  std::lock_guard<std::mutex> l(mu_);
  auto fs = GetOrCreateLocked(spec->ns, spec->name);
  bool had = fs->HasSpec();
  FunctionSpec old = fs->spec();
  fs->SetSpec(*spec);
  if (!had) {
    KFAAS_LOG(INFO) << "function " << spec->Key() << " routed (host " << spec->name << "."
                    << spec->ns << "." << deps_.options.domain << ", path /fn/" << spec->ns << "/"
                    << spec->name << "/)";
  }
  if (!had || old.hosts != spec->hosts) RebuildLocked();
}

void Registry::OnFunctionDeleted(const std::string& ns, const std::string& name) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = functions_.find(FunctionKey(ns, name));
  if (it == functions_.end()) return;
  it->second->ClearSpec();
  if (!it->second->HasEndpointSources()) functions_.erase(it);
  KFAAS_LOG(INFO) << "function " << ns << "/" << name << " deleted: no longer routed";
  RebuildLocked();
}

void Registry::OnEndpointSlice(const nlohmann::json& slice) {
  SliceInfo info = ParseEndpointSlice(slice);
  if (info.ns.empty() || info.name.empty()) return;
  std::string slice_key = info.ns + "/" + info.name;
  std::lock_guard<std::mutex> l(mu_);
  auto owner = slice_owner_.find(slice_key);
  std::string fn_key = info.function.empty() ? "" : FunctionKey(info.ns, info.function);
  if (owner != slice_owner_.end() && owner->second != fn_key) {
    // The slice changed hands (or lost its label): drop it from its old function.
    if (auto it = functions_.find(owner->second); it != functions_.end()) {
      it->second->RemoveSlice(info.name);
    }
    slice_owner_.erase(owner);
  }
  if (fn_key.empty()) return;
  slice_owner_[slice_key] = fn_key;
  GetOrCreateLocked(info.ns, info.function)->SetSliceEndpoints(info.name, info.endpoints);
}

void Registry::OnEndpointSliceDeleted(const nlohmann::json& slice) {
  SliceInfo info = ParseEndpointSlice(slice);
  std::string slice_key = info.ns + "/" + info.name;
  std::lock_guard<std::mutex> l(mu_);
  auto owner = slice_owner_.find(slice_key);
  if (owner == slice_owner_.end()) return;
  auto it = functions_.find(owner->second);
  slice_owner_.erase(owner);
  if (it == functions_.end()) return;
  it->second->RemoveSlice(info.name);
  if (!it->second->HasSpec() && !it->second->HasEndpointSources()) functions_.erase(it);
}

void Registry::OnPod(const nlohmann::json& pod) {
  PodInfo info = ParsePod(pod);
  if (info.ns.empty() || info.name.empty()) return;
  std::string pod_key = info.ns + "/" + info.name;
  std::string fn_key = info.function.empty() ? "" : FunctionKey(info.ns, info.function);
  std::shared_ptr<FunctionState> old_owner, fs;
  {
    std::lock_guard<std::mutex> l(mu_);
    auto owner = pod_owner_.find(pod_key);
    if (owner != pod_owner_.end() && owner->second != fn_key) {
      // The pod changed hands (or lost its label).
      if (auto it = functions_.find(owner->second); it != functions_.end()) old_owner = it->second;
      pod_owner_.erase(owner);
    }
    if (!fn_key.empty()) {
      auto it = functions_.find(fn_key);
      // A pod without a known address, of a function not known yet, creates no state.
      if (it != functions_.end() || info.endpoint) {
        fs = it != functions_.end() ? it->second : GetOrCreateLocked(info.ns, info.function);
        pod_owner_[pod_key] = fn_key;
      }
    }
  }
  if (old_owner) old_owner->SetPodEndpoint(info.name, std::nullopt);
  if (!fs) return;
  if (!info.endpoint && fs->HasSpec()) {
    // No annotation and no named port: the function's spec.port.
    PodInfo again = ParsePod(pod, fs->spec().port);
    info.endpoint = again.endpoint;
  }
  fs->SetPodEndpoint(info.name, info.endpoint);
}

void Registry::OnPodDeleted(const nlohmann::json& pod) {
  PodInfo info = ParsePod(pod);
  std::string pod_key = info.ns + "/" + info.name;
  std::shared_ptr<FunctionState> fs;
  {
    std::lock_guard<std::mutex> l(mu_);
    auto owner = pod_owner_.find(pod_key);
    if (owner == pod_owner_.end()) return;
    auto it = functions_.find(owner->second);
    pod_owner_.erase(owner);
    if (it == functions_.end()) return;
    fs = it->second;
  }
  fs->SetPodEndpoint(info.name, std::nullopt);
  std::lock_guard<std::mutex> l(mu_);
  auto it = functions_.find(FunctionKey(fs->ns(), fs->name()));
  if (it != functions_.end() && it->second == fs && !fs->HasSpec() && !fs->HasEndpointSources()) {
    functions_.erase(it);
  }
}

std::shared_ptr<const Registry::Table> Registry::Snapshot() const { return table_.load(); }

const Registry::Table& Registry::Current() {
  struct Cache {
    const Registry* owner = nullptr;
    uint64_t version = 0;
    std::shared_ptr<const Table> table;
  };
  thread_local Cache cache;
  uint64_t v = version_.load(std::memory_order_acquire);
  if (cache.owner != this || cache.version != v) {
    cache.table = table_.load();
    cache.owner = this;
    cache.version = v;
  }
  return *cache.table;
}

std::shared_ptr<FunctionState> Registry::Find(const std::string& ns,
                                              const std::string& name) const {
  std::lock_guard<std::mutex> l(mu_);
  auto it = functions_.find(FunctionKey(ns, name));
  return it == functions_.end() ? nullptr : it->second;
}

size_t Registry::CancelWaitersForShutdown() {
  std::vector<std::shared_ptr<FunctionState>> all;
  {
    std::lock_guard<std::mutex> l(mu_);
    for (const auto& [key, fs] : functions_) all.push_back(fs);
  }
  size_t n = 0;
  for (const auto& fs : all) n += fs->CancelWaitersForShutdown();  // no registry lock held
  return n;
}

void Registry::Tick() {
  std::vector<std::shared_ptr<FunctionState>> all;
  {
    std::lock_guard<std::mutex> l(mu_);
    for (auto& [k, fs] : functions_) all.push_back(fs);
  }
  SteadyTime now = deps_.clock->Now();
  for (auto& fs : all) fs->Tick(now);
}

std::vector<FunctionStats> Registry::Stats() const {
  std::vector<std::shared_ptr<FunctionState>> all;
  {
    std::lock_guard<std::mutex> l(mu_);
    for (auto& [k, fs] : functions_) all.push_back(fs);
  }
  std::vector<FunctionStats> out;
  for (auto& fs : all) out.push_back(fs->Stats());
  return out;
}

std::vector<StatsReader::Delta> StatsReader::Read() {
  std::vector<Delta> out;
  std::lock_guard<std::mutex> l(mu_);
  for (const auto& s : registry_->Stats()) {
    auto& last = last_[FunctionKey(s.ns, s.name)];
    Delta d;
    d.ns = s.ns;
    d.name = s.name;
    d.in_flight = s.in_flight;
    d.queued = s.queued;
    d.arrivals = s.arrivals - last.first;
    d.completions = s.completions - last.second;
    d.ready_instances = s.ready_instances;
    last = {s.arrivals, s.completions};
    out.push_back(d);
  }
  return out;
}

}  // namespace kfaas::activator
