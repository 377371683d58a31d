#include "activator/net/upstream_pool.h"

namespace kfaas::activator::net {

std::unique_ptr<UpstreamConn> UpstreamPool::Take(const Instance& inst) {
  auto it = idle_.find(inst.id);
  if (it == idle_.end()) return nullptr;
  if (inst.removed.load(std::memory_order_relaxed)) {
    idle_.erase(it);
    return nullptr;
  }
  auto& v = it->second;
  if (v.empty()) return nullptr;
  auto conn = std::move(v.back());
  v.pop_back();
  return conn;
}

void UpstreamPool::Put(const Instance& inst, std::unique_ptr<UpstreamConn> conn) {
  if (inst.removed.load(std::memory_order_relaxed)) return;
  auto& v = idle_[inst.id];
  if (v.size() >= max_idle_per_instance_) return;
  conn->instance_id = inst.id;
  v.push_back(std::move(conn));
}

size_t UpstreamPool::IdleCount() const {
  size_t n = 0;
  for (const auto& [k, v] : idle_) n += v.size();
  return n;
}

void UpstreamPool::Clear() { idle_.clear(); }

}  // namespace kfaas::activator::net
