#include "local/node/pod_status.h"

#include "common/base/time_format.h"

namespace kfaas::node {
namespace {

Json Terminated(const TerminatedState& t) {
  Json j = {{"exitCode", t.exit_code},
            {"reason", t.reason},
            {"startedAt", FormatRfc3339(t.started_at)},
            {"finishedAt", FormatRfc3339(t.finished_at)}};
  if (t.signal) j["signal"] = t.signal;
  if (!t.message.empty()) j["message"] = t.message;
  if (!t.container_id.empty()) j["containerID"] = t.container_id;
  return j;
}

Json Condition(const char* type, bool status, WallTime at, const std::string& reason = "",
               const std::string& message = "") {
  Json c = {{"type", type},
            {"status", status ? "True" : "False"},
            {"lastProbeTime", nullptr},
            {"lastTransitionTime", FormatRfc3339(at)}};
  if (!status && !reason.empty()) c["reason"] = reason;
  if (!status && !message.empty()) c["message"] = message;
  return c;
}

}  // namespace

Json MakePodStatus(const PodView& v) {
  Json s = Json::object();
  s["phase"] = v.phase;
  if (!v.reason.empty()) s["reason"] = v.reason;
  if (!v.message.empty()) s["message"] = v.message;

  std::string not_ready;
  for (const auto& c : v.containers) {
    if (!c.ready) not_ready += (not_ready.empty() ? "" : " ") + c.name;
  }
  std::string msg = not_ready.empty() ? "" : "containers with unready status: [" + not_ready + "]";
  bool terminal = v.phase == "Succeeded" || v.phase == "Failed";
  s["conditions"] = Json::array({
      Condition("PodReadyToStartContainers", true, v.scheduled_at),
      Condition("Initialized", true, v.initialized_at),
      Condition("Ready", v.ready, v.ready_changed_at,
                terminal ? "PodCompleted" : v.not_ready_reason, msg),
      Condition("ContainersReady", v.ready, v.ready_changed_at,
                terminal ? "PodCompleted" : v.not_ready_reason, msg),
      Condition("PodScheduled", true, v.scheduled_at),
  });
  s["hostIP"] = v.host_ip;
  s["hostIPs"] = Json::array({{{"ip", v.host_ip}}});
  if (v.has_ip) {
    s["podIP"] = v.host_ip;
    s["podIPs"] = Json::array({{{"ip", v.host_ip}}});
  }
  s["startTime"] = FormatRfc3339(v.start_time);
  s["qosClass"] = v.qos_class;

  Json statuses = Json::array();
  for (const auto& c : v.containers) {
    Json cs = {{"name", c.name},   {"image", c.image},     {"imageID", ""},
               {"ready", c.ready}, {"started", c.started}, {"restartCount", c.restart_count}};
    if (!c.container_id.empty()) cs["containerID"] = c.container_id;
    switch (c.state) {
      case ContainerView::State::kWaiting: {
        Json w = {{"reason", c.waiting_reason}};
        if (!c.waiting_message.empty()) w["message"] = c.waiting_message;
        cs["state"] = {{"waiting", w}};
        break;
      }
      case ContainerView::State::kRunning:
        cs["state"] = {{"running", {{"startedAt", FormatRfc3339(c.running_since)}}}};
        break;
      case ContainerView::State::kTerminated:
        cs["state"] = {{"terminated", Terminated(c.terminated)}};
        break;
    }
    cs["lastState"] =
        c.last_terminated ? Json{{"terminated", Terminated(*c.last_terminated)}} : Json::object();
    statuses.push_back(std::move(cs));
  }
  s["containerStatuses"] = std::move(statuses);
  return s;
}

std::string QosClass(const Json& spec) {
  if (!spec.is_object() || !spec.contains("containers")) return "BestEffort";
  bool any = false, guaranteed = true;
  for (const auto& c : spec["containers"]) {
    Json res = c.value("resources", Json::object());
    Json req = res.value("requests", Json::object());
    Json lim = res.value("limits", Json::object());
    if (!req.empty() || !lim.empty()) any = true;
    for (const char* r : {"cpu", "memory"}) {
      if (!lim.contains(r)) {
        guaranteed = false;
      } else if (req.contains(r) && req[r] != lim[r]) {
        guaranteed = false;
      }
    }
  }
  if (!any) return "BestEffort";
  return guaranteed ? "Guaranteed" : "Burstable";
}

std::string ShortDuration(Duration d) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  if (ms < 1000) return std::to_string(ms) + "ms";
  auto s = ms / 1000;
  if (s < 60) return std::to_string(s) + "s";
  auto m = s / 60;
  s %= 60;
  return std::to_string(m) + "m" + (s ? std::to_string(s) + "s" : "");
}

}  // namespace kfaas::node
