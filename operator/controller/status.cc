#include "operator/controller/status.h"

#include <set>

#include "common/base/time_format.h"

namespace kfaas::op {

Condition SummarizeReady(const std::vector<Condition>& parts, const Condition& summary_from) {
  for (const auto& c : parts) {
    if (c.status == kFalse) return {kConditionReady, kFalse, c.reason, c.message, c.warn};
  }
  for (const auto& c : parts) {
    if (c.status == kUnknown) return {kConditionReady, kUnknown, c.reason, c.message, false};
  }
  return {kConditionReady, kTrue, summary_from.reason, summary_from.message, false};
}

const Json* FindCondition(const Json& conditions, const std::string& type) {
  if (!conditions.is_array()) return nullptr;
  for (const auto& c : conditions) {
    if (c.is_object() && c.value("type", "") == type) return &c;
  }
  return nullptr;
}

Json MergeConditions(const Json& existing, const std::vector<Condition>& conds, int64_t generation,
                     WallTime now) {
  Json out = Json::array();
  std::set<std::string> ours;
  for (const auto& c : conds) {
    ours.insert(c.type);
    std::string ltt;
    if (const Json* old = FindCondition(existing, c.type);
        old && old->value("status", "") == c.status && (*old)["lastTransitionTime"].is_string()) {
      ltt = (*old)["lastTransitionTime"].get<std::string>();
    } else {
      ltt = FormatRfc3339(now);
    }
    out.push_back({{"type", c.type},
                   {"status", c.status},
                   {"reason", c.reason},
                   {"message", c.message},
                   {"lastTransitionTime", ltt},
                   {"observedGeneration", generation}});
  }
  if (existing.is_array()) {
    for (const auto& c : existing) {
      if (c.is_object() && !ours.count(c.value("type", ""))) out.push_back(c);
    }
  }
  return out;
}

bool OwnedStatusEqual(const Json& status, const Json& owned) {
  for (const char* f : kOwnedStatusFields) {
    auto a = status.is_object() ? status.find(f) : status.end();
    auto b = owned.find(f);
    bool has_a = status.is_object() && a != status.end() && !a->is_null();
    bool has_b = b != owned.end() && !b->is_null();
    if (has_a != has_b) return false;
    if (has_a && *a != *b) return false;
  }
  return true;
}

bool OnlyScalingDiffers(const Json& status, const Json& owned) {
  if (!status.is_object()) return false;
  for (const char* f : {"observedGeneration", "url"}) {
    auto a = status.find(f);
    auto b = owned.find(f);
    if (a == status.end() || b == owned.end() || *a != *b) return false;
  }
  Json none = Json::array();
  const Json& old_conds = status.contains("conditions") ? status["conditions"] : none;
  const Json& new_conds = owned.contains("conditions") ? owned["conditions"] : none;
  for (const char* type : {kConditionSpecValid, kConditionServiceReady}) {
    const Json* a = FindCondition(old_conds, type);
    const Json* b = FindCondition(new_conds, type);
    if (!a || !b) return false;
    for (const char* k : {"status", "reason", "message"}) {
      if (a->value(k, "") != b->value(k, "")) return false;
    }
  }
  return true;
}

}  // namespace kfaas::op
