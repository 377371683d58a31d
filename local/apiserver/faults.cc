#include "local/apiserver/faults.h"

#include "common/kube/errors.h"

namespace kfaas::local {
namespace {

std::string DefaultReason(int code) {
  switch (code) {
    case 400:
      return "BadRequest";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "NotFound";
    case 409:
      return "Conflict";
    case 410:
      return "Expired";
    case 422:
      return "Invalid";
    case 429:
      return "TooManyRequests";
    case 503:
      return "ServiceUnavailable";
    case 504:
      return "Timeout";
    default:
      return code >= 500 ? "InternalError" : "Unknown";
  }
}

bool ResourceMatches(const std::string& want, const std::string& resource,
                     const std::string& subresource) {
  if (want.empty()) return true;
  if (want == resource && (subresource.empty() || want.find('/') == std::string::npos)) {
    return true;
  }
  return !subresource.empty() && want == resource + "/" + subresource;
}

}  // namespace

void Faults::FailWrites(WriteFault f) {
  if (f.count <= 0) return;
  std::lock_guard lock(mu_);
  write_faults_.push_back(std::move(f));
}

void Faults::SetLatency(LatencyFault l) {
  std::lock_guard lock(mu_);
  latency_ = std::move(l);
}

void Faults::Reset() {
  std::lock_guard lock(mu_);
  write_faults_.clear();
  latency_ = {};
}

absl::Status Faults::CheckWrite(const std::string& resource, const std::string& subresource,
                                const std::string& verb, const std::string& user_agent) {
  std::lock_guard lock(mu_);
  for (auto it = write_faults_.begin(); it != write_faults_.end(); ++it) {
    if (!ResourceMatches(it->resource, resource, subresource)) continue;
    if (!it->verb.empty() && it->verb != verb) continue;
    if (!it->user_agent.empty() && user_agent.find(it->user_agent) == std::string::npos) continue;
    WriteFault f = *it;
    if (--it->count <= 0) write_faults_.erase(it);
    ++injected_failures;
    std::string reason = f.reason.empty() ? DefaultReason(f.code) : f.reason;
    std::string message =
        f.message.empty() ? "injected fault (" + verb + " " + resource + ")" : f.message;
    if (f.code == 409 && f.message.empty()) {
      message = "Operation cannot be fulfilled on " + resource +
                ": the object has been modified; please apply your changes to the latest "
                "version and try again (injected fault)";
    }
    Json details = Json::object();
    if (f.code == 429 || f.code == 503) details["retryAfterSeconds"] = 1;
    return kube::MakeApiError(f.code, reason, message, details);
  }
  return absl::OkStatus();
}

std::chrono::milliseconds Faults::Latency(const std::string& resource,
                                          const std::string& verb) const {
  std::lock_guard lock(mu_);
  if (latency_.delay.count() <= 0) return std::chrono::milliseconds(0);
  if (!latency_.resource.empty() && latency_.resource != resource) {
    return std::chrono::milliseconds(0);
  }
  if (!latency_.verb.empty() && latency_.verb != verb) return std::chrono::milliseconds(0);
  return latency_.delay;
}

absl::Status Faults::ApplyJson(const Json& req, JsonActions* actions) {
  if (!req.is_object()) return absl::InvalidArgumentError("the fault request must be an object");
  try {
    if (req.value("reset", false)) Reset();
    actions->drop_watches = req.value("dropWatches", false);
    actions->compact = req.value("compact", false);
    if (req.contains("failWrites")) {
      const Json& f = req["failWrites"];
      if (!f.is_object()) return absl::InvalidArgumentError("failWrites must be an object");
      WriteFault wf;
      wf.count = f.value("count", 1);
      wf.code = f.value("code", 500);
      wf.reason = f.value("reason", "");
      wf.message = f.value("message", "");
      wf.resource = f.value("resource", "");
      wf.verb = f.value("verb", "");
      wf.user_agent = f.value("userAgent", "");
      if (wf.code < 400 || wf.code > 599) {
        return absl::InvalidArgumentError("failWrites.code must be an HTTP error code (400-599)");
      }
      FailWrites(wf);
    }
    if (req.contains("latency")) {
      const Json& l = req["latency"];
      if (!l.is_object()) return absl::InvalidArgumentError("latency must be an object");
      LatencyFault lf;
      lf.delay = std::chrono::milliseconds(l.value("ms", 0));
      lf.resource = l.value("resource", "");
      lf.verb = l.value("verb", "");
      SetLatency(lf);
    }
  } catch (const Json::exception& e) {
    return absl::InvalidArgumentError(std::string("bad fault request: ") + e.what());
  }
  return absl::OkStatus();
}

Json Faults::StateJson() const {
  Json out = {{"counters",
               {{"requests", requests.load()},
                {"writes", writes.load()},
                {"watchesOpened", watches_opened.load()},
                {"eventsSent", events_sent.load()},
                {"injectedFailures", injected_failures.load()},
                {"watchesDropped", watches_dropped.load()}}}};
  std::lock_guard lock(mu_);
  Json wf = Json::array();
  for (const auto& f : write_faults_) {
    wf.push_back({{"count", f.count},
                  {"code", f.code},
                  {"resource", f.resource},
                  {"verb", f.verb},
                  {"userAgent", f.user_agent}});
  }
  out["failWrites"] = wf;
  out["latency"] = {
      {"ms", latency_.delay.count()}, {"resource", latency_.resource}, {"verb", latency_.verb}};
  return out;
}

}  // namespace kfaas::local
