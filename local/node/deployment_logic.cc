#include "local/node/deployment_logic.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "common/base/json_fields.h"
#include "common/base/time_format.h"

namespace kfaas::node {
namespace {

constexpr char kAlphabet[] = "bcdfghjklmnpqrstvwxz2456789";
constexpr size_t kAlphabetSize = sizeof(kAlphabet) - 1;

using json::Field;
using json::Str;

int Replicas(const Json& deployment) {
  const Json& r = Field(Field(deployment, "spec"), "replicas");
  return r.is_number_integer() ? std::max(0, r.get<int>()) : 1;
}

int MinReadySeconds(const Json& deployment) {
  const Json& r = Field(Field(deployment, "spec"), "minReadySeconds");
  return r.is_number_integer() ? std::max(0, r.get<int>()) : 0;
}

bool Available(const PodSummary& p, int min_ready_seconds, WallTime now) {
  if (!p.ready || p.terminating || p.finished) return false;
  return min_ready_seconds == 0 || now - p.ready_since >= std::chrono::seconds(min_ready_seconds);
}

// Kubernetes' ActivePods ordering for scale-down: the pod to delete first sorts first.
bool DeleteFirst(const PodSummary& a, const PodSummary& b) {
  if (a.running != b.running) return !a.running;  // Pending before Running
  if (a.ready != b.ready) return !a.ready;        // not ready before ready
  if (a.ready && a.ready_since != b.ready_since) return a.ready_since > b.ready_since;
  if (a.restarts != b.restarts) return a.restarts > b.restarts;
  if (a.created != b.created) return a.created > b.created;  // newest first
  return a.name > b.name;
}

struct Strategy {
  bool recreate = false;
  int max_surge = 0;
  int max_unavailable = 0;
};

Strategy GetStrategy(const Json& deployment, int replicas) {
  Strategy s;
  const Json& st = Field(Field(deployment, "spec"), "strategy");
  s.recreate = Str(st, "type") == "Recreate";
  const Json& ru = Field(st, "rollingUpdate");
  s.max_surge = ScaledValue(Field(ru, "maxSurge"), replicas, true, 25);
  s.max_unavailable = ScaledValue(Field(ru, "maxUnavailable"), replicas, false, 25);
  if (s.max_surge == 0 && s.max_unavailable == 0) s.max_unavailable = 1;  // as the API defaults
  return s;
}

}  // namespace

int ScaledValue(const Json& value, int total, bool round_up, int default_percent) {
  if (value.is_number_integer()) return std::max(0, value.get<int>());
  double percent = default_percent;
  if (value.is_string()) {
    std::string s = value.get<std::string>();
    if (!s.empty() && s.back() == '%') {
      percent = std::atof(s.substr(0, s.size() - 1).c_str());
    } else if (!s.empty()) {
      return std::max(0, std::atoi(s.c_str()));
    }
  }
  double v = percent * total / 100.0;
  return std::max(0, static_cast<int>(round_up ? std::ceil(v) : std::floor(v)));
}

namespace {

// FNV-1a over the characters nlohmann's serializer writes, as they are written: the hash of
// dump() without building its string (a character at a time, for every reconcile).
class Fnv1aOutput : public nlohmann::detail::output_adapter_protocol<char> {
 public:
  void write_character(char c) override {
    h_ ^= static_cast<unsigned char>(c);
    h_ *= 16777619u;
  }
  void write_characters(const char* s, std::size_t length) override {
    for (std::size_t i = 0; i < length; ++i) write_character(s[i]);
  }
  uint32_t hash() const { return h_; }

 private:
  uint32_t h_ = 2166136261u;
};

}  // namespace

std::string PodTemplateHash(const Json& pod_template) {
  auto fnv = std::make_shared<Fnv1aOutput>();
  nlohmann::detail::serializer<Json> serializer(fnv, ' ');
  serializer.dump(pod_template, /*pretty_print=*/false, /*ensure_ascii=*/false,
                  /*indent_step=*/0);
  uint32_t h = fnv->hash();
  std::string digits = std::to_string(h);
  std::string out;
  for (unsigned char c : digits) out.push_back(kAlphabet[c % kAlphabetSize]);
  return out;
}

std::string RandomSuffix() {
  thread_local std::mt19937 rng(std::random_device{}());
  std::string s;
  for (int i = 0; i < 5; ++i) s.push_back(kAlphabet[rng() % kAlphabetSize]);
  return s;
}

std::string PodName(const std::string& deployment, const std::string& hash,
                    const std::string& suffix) {
  std::string prefix = deployment + "-" + hash + "-";
  if (prefix.size() > 58) prefix.resize(58);
  return prefix + suffix;
}

Json MakePod(const Json& deployment, const std::string& hash, const std::string& name,
             const std::string& node_name) {
  const Json& dmd = Field(deployment, "metadata");
  const Json& tmpl = Field(Field(deployment, "spec"), "template");
  const Json& tmd = Field(tmpl, "metadata");
  Json md = Json::object();
  md["name"] = name;
  md["namespace"] = Str(dmd, "namespace");
  Json labels = Field(tmd, "labels").is_object() ? Field(tmd, "labels") : Json::object();
  labels[kPodTemplateHashLabel] = hash;
  md["labels"] = labels;
  if (Field(tmd, "annotations").is_object() && !Field(tmd, "annotations").empty()) {
    md["annotations"] = Field(tmd, "annotations");
  }
  md["ownerReferences"] = Json::array({{{"apiVersion", "apps/v1"},
                                        {"kind", "Deployment"},
                                        {"name", Str(dmd, "name")},
                                        {"uid", Str(dmd, "uid")},
                                        {"controller", true},
                                        {"blockOwnerDeletion", true}}});
  Json spec = Field(tmpl, "spec").is_object() ? Field(tmpl, "spec") : Json::object();
  if (!node_name.empty() && !spec.contains("nodeName")) spec["nodeName"] = node_name;
  return {{"apiVersion", "v1"}, {"kind", "Pod"}, {"metadata", md}, {"spec", spec}};
}

PodSummary SummarizePod(const Json& pod) {
  PodSummary s;
  const Json& md = Field(pod, "metadata");
  s.name = Str(md, "name");
  s.uid = Str(md, "uid");
  s.hash = Str(Field(md, "labels"), kPodTemplateHashLabel);
  s.terminating = Field(md, "deletionTimestamp").is_string();
  if (auto t = ParseRfc3339(Str(md, "creationTimestamp"))) s.created = *t;
  const Json& st = Field(pod, "status");
  std::string phase = Str(st, "phase");
  s.finished = phase == "Succeeded" || phase == "Failed";
  s.running = phase == "Running";
  if (Field(st, "conditions").is_array()) {
    for (const auto& c : Field(st, "conditions")) {
      if (Str(c, "type") != "Ready") continue;
      s.ready = Str(c, "status") == "True";
      if (auto t = ParseRfc3339(Str(c, "lastTransitionTime"))) s.ready_since = *t;
    }
  }
  if (Field(st, "containerStatuses").is_array()) {
    for (const auto& c : Field(st, "containerStatuses")) {
      if (Field(c, "restartCount").is_number_integer()) s.restarts += c["restartCount"].get<int>();
    }
  }
  return s;
}

DeploymentPlan PlanDeployment(const Json& deployment, const std::vector<PodSummary>& pods,
                              const std::string& hash, WallTime now) {
  DeploymentPlan plan;
  const int replicas = Replicas(deployment);
  const int min_ready = MinReadySeconds(deployment);
  const Strategy strategy = GetStrategy(deployment, replicas);

  std::vector<PodSummary> fresh, old;
  bool old_terminating = false;
  for (const auto& p : pods) {
    if (p.terminating) {
      if (p.hash != hash) old_terminating = true;
      continue;
    }
    if (p.finished) {
      plan.deletions.push_back(p.name);  // a finished pod is replaced, as a ReplicaSet does
      continue;
    }
    (p.hash == hash ? fresh : old).push_back(p);
  }
  std::sort(fresh.begin(), fresh.end(), DeleteFirst);
  std::sort(old.begin(), old.end(), DeleteFirst);
  const int n_new = static_cast<int>(fresh.size());
  const int n_old = static_cast<int>(old.size());

  // minReadySeconds: come back when a ready pod turns available.
  if (min_ready > 0) {
    for (const auto& p : pods) {
      if (!p.ready || p.terminating || p.finished) continue;
      Duration left = std::chrono::seconds(min_ready) - (now - p.ready_since);
      if (left.count() > 0 && (plan.requeue_after.count() == 0 || left < plan.requeue_after)) {
        plan.requeue_after = left;
      }
    }
  }

  auto remove = [&](const std::vector<PodSummary>& from, int count) {
    for (int i = 0; i < count && i < static_cast<int>(from.size()); ++i) {
      plan.deletions.push_back(from[i].name);
    }
  };

  if (n_old == 0) {  // steady state: plain scaling of the current template
    if (strategy.recreate && old_terminating) return plan;  // Recreate waits for the old ones
    if (n_new < replicas) plan.create = replicas - n_new;
    if (n_new > replicas) remove(fresh, n_new - replicas);
    return plan;
  }

  if (strategy.recreate) {
    remove(old, n_old);
    if (n_new > replicas) remove(fresh, n_new - replicas);
    return plan;  // new pods after the old ones are gone
  }

  // Rolling update.
  int avail_new = 0, avail_old = 0;
  for (const auto& p : fresh) avail_new += Available(p, min_ready, now);
  for (const auto& p : old) avail_old += Available(p, min_ready, now);
  const int total = n_new + n_old;
  if (n_new > replicas) {
    remove(fresh, n_new - replicas);
  } else {
    int room = replicas + strategy.max_surge - total;
    plan.create = std::max(0, std::min(replicas - n_new, room));
  }
  const int min_available = replicas - strategy.max_unavailable;
  const int new_unavailable = std::min(n_new, replicas) - std::min(avail_new, replicas);
  int max_scale_down = total - min_available - std::max(0, new_unavailable);
  if (max_scale_down <= 0) return plan;
  // First the old pods that are not available anyway (no loss of capacity)...
  int removed = 0;
  std::vector<PodSummary> old_available;
  for (const auto& p : old) {
    if (!Available(p, min_ready, now)) {
      if (removed < max_scale_down) {
        plan.deletions.push_back(p.name);
        ++removed;
      }
    } else {
      old_available.push_back(p);
    }
  }
  // ...then available ones, as long as enough pods stay available.
  int can_lose = std::min(max_scale_down - removed, avail_new + avail_old - min_available);
  remove(old_available, can_lose);
  return plan;
}

Json DeploymentStatus(const Json& deployment, const std::vector<PodSummary>& pods,
                      const std::string& hash, const Json& old_status, WallTime now) {
  const int replicas = Replicas(deployment);
  const int min_ready = MinReadySeconds(deployment);
  const Strategy strategy = GetStrategy(deployment, replicas);
  int active = 0, updated = 0, ready = 0, available = 0, updated_available = 0, old = 0;
  for (const auto& p : pods) {
    if (p.terminating || p.finished) continue;
    ++active;
    bool is_new = p.hash == hash;
    updated += is_new;
    old += !is_new;
    ready += p.ready;
    bool avail = Available(p, min_ready, now);
    available += avail;
    updated_available += avail && is_new;
  }
  const std::string name = Str(Field(deployment, "metadata"), "name");
  const std::string rs = name + "-" + hash;

  Json status = Json::object();
  const Json& gen = Field(Field(deployment, "metadata"), "generation");
  status["observedGeneration"] = gen.is_number_integer() ? gen.get<int64_t>() : 1;
  status["replicas"] = active;
  status["updatedReplicas"] = updated;
  status["readyReplicas"] = ready;
  status["availableReplicas"] = available;
  status["unavailableReplicas"] = std::max(0, std::max(replicas, active) - available);

  // Conditions keep their transition times when the status does not flip.
  std::string now_s = FormatRfc3339(now);
  auto old_condition = [&](const std::string& type) -> Json {
    const Json& conds = Field(old_status, "conditions");
    if (conds.is_array()) {
      for (const auto& c : conds) {
        if (Str(c, "type") == type) return c;
      }
    }
    return Json();
  };
  auto condition = [&](const std::string& type, bool ok, const std::string& reason,
                       const std::string& message) {
    Json prev = old_condition(type);
    std::string st = ok ? "True" : "False";
    Json c = {{"type", type}, {"status", st}, {"reason", reason}, {"message", message}};
    bool same_status = prev.is_object() && Str(prev, "status") == st;
    bool same_text =
        same_status && Str(prev, "reason") == reason && Str(prev, "message") == message;
    c["lastTransitionTime"] = same_status ? Str(prev, "lastTransitionTime") : now_s;
    c["lastUpdateTime"] = same_text ? Str(prev, "lastUpdateTime") : now_s;
    return c;
  };

  bool min_available = available >= replicas - strategy.max_unavailable;
  Json avail_c =
      condition("Available", min_available,
                min_available ? "MinimumReplicasAvailable" : "MinimumReplicasUnavailable",
                min_available ? "Deployment has minimum availability."
                              : "Deployment does not have minimum availability.");
  bool complete =
      updated == replicas && updated_available == replicas && old == 0 && active == replicas;
  std::string reason = complete ? "NewReplicaSetAvailable" : "ReplicaSetUpdated";
  std::string message = complete ? "ReplicaSet \"" + rs + "\" has successfully progressed."
                                 : "ReplicaSet \"" + rs + "\" is progressing.";
  Json prog_c = condition("Progressing", true, reason, message);
  // progressDeadlineSeconds: a rollout whose counts have not moved for that long.
  const Json& pds = Field(Field(deployment, "spec"), "progressDeadlineSeconds");
  int deadline = pds.is_number_integer() ? pds.get<int>() : 600;
  Json prev_prog = old_condition("Progressing");
  if (!complete && prev_prog.is_object()) {
    bool counts_same = Field(old_status, "updatedReplicas") == status["updatedReplicas"] &&
                       Field(old_status, "availableReplicas") == status["availableReplicas"] &&
                       Field(old_status, "replicas") == status["replicas"];
    auto since = ParseRfc3339(Str(prev_prog, "lastUpdateTime"));
    if (!counts_same) {
      prog_c["lastUpdateTime"] = now_s;  // progress
    } else if (Str(prev_prog, "reason") == "ProgressDeadlineExceeded") {
      prog_c = prev_prog;
    } else if (since && now - *since > std::chrono::seconds(deadline)) {
      prog_c = condition("Progressing", false, "ProgressDeadlineExceeded",
                         "ReplicaSet \"" + rs + "\" has timed out progressing.");
    }
  }
  status["conditions"] = Json::array({avail_c, prog_c});
  return status;
}

bool SameDeploymentStatus(const Json& a, const Json& b) {
  auto strip = [](Json s) {
    if (!s.is_object()) return s;
    if (s.contains("conditions") && s["conditions"].is_array()) {
      for (auto& c : s["conditions"]) {
        if (c.is_object()) c.erase("lastUpdateTime");
      }
    }
    return s;
  };
  return strip(a) == strip(b);
}

}  // namespace kfaas::node
