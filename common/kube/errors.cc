#include "common/kube/errors.h"

#include <optional>

#include "absl/strings/cord.h"

namespace kfaas::kube {
namespace {

constexpr char kPayloadUrl[] = "type.kfaas.dev/k8s.io.apimachinery.pkg.apis.meta.v1.Status";

absl::StatusCode CodeFor(int http_code, std::string_view reason) {
  switch (http_code) {
    case 404:
      return absl::StatusCode::kNotFound;
    case 409:
      return reason == "AlreadyExists" ? absl::StatusCode::kAlreadyExists
                                       : absl::StatusCode::kAborted;
    case 400:
    case 406:
    case 413:
    case 415:
    case 422:
      return absl::StatusCode::kInvalidArgument;
    case 405:
      return absl::StatusCode::kUnimplemented;
    case 410:
      return absl::StatusCode::kOutOfRange;
    case 401:
      return absl::StatusCode::kUnauthenticated;
    case 403:
      return absl::StatusCode::kPermissionDenied;
    case 429:
      return absl::StatusCode::kResourceExhausted;
    case 503:
      return absl::StatusCode::kUnavailable;
    case 504:
      return absl::StatusCode::kDeadlineExceeded;
    default:
      return http_code >= 500 ? absl::StatusCode::kInternal : absl::StatusCode::kUnknown;
  }
}

int HttpCodeFor(absl::StatusCode c) {
  switch (c) {
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kAborted:
      return 409;
    case absl::StatusCode::kInvalidArgument:
      return 400;
    case absl::StatusCode::kOutOfRange:
      return 410;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kResourceExhausted:
      return 429;
    case absl::StatusCode::kUnavailable:
      return 503;
    case absl::StatusCode::kDeadlineExceeded:
      return 504;
    case absl::StatusCode::kUnimplemented:
      return 405;
    default:
      return 500;
  }
}

std::optional<Json> Payload(const absl::Status& s) {
  auto p = s.GetPayload(kPayloadUrl);
  if (!p) return std::nullopt;
  Json j = Json::parse(std::string(*p), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return std::nullopt;
  return j;
}

std::string Quote(std::string_view s) { return "\"" + std::string(s) + "\""; }

}  // namespace

absl::Status MakeApiError(int http_code, std::string_view reason, std::string_view message,
                          Json details) {
  Json st = {{"kind", "Status"},    {"apiVersion", "v1"}, {"metadata", Json::object()},
             {"status", "Failure"}, {"message", message}, {"reason", reason},
             {"code", http_code}};
  if (details.is_object() && !details.empty()) st["details"] = std::move(details);
  absl::Status s(CodeFor(http_code, reason), std::string(message));
  // A message may quote a client's bytes: invalid UTF-8 is replaced rather than thrown on.
  s.SetPayload(kPayloadUrl, absl::Cord(st.dump(-1, ' ', false, Json::error_handler_t::replace)));
  return s;
}

absl::Status FromStatusJson(const Json& status, int http_code) {
  int code = http_code;
  if (status.is_object() && status.contains("code") && status["code"].is_number_integer()) {
    code = status["code"].get<int>();
  }
  std::string reason, message;
  Json details = Json::object();
  if (status.is_object()) {
    if (status.contains("reason") && status["reason"].is_string()) reason = status["reason"];
    if (status.contains("message") && status["message"].is_string()) message = status["message"];
    if (status.contains("details") && status["details"].is_object()) details = status["details"];
  }
  if (message.empty()) message = "the server responded with HTTP " + std::to_string(code);
  return MakeApiError(code, reason, message, std::move(details));
}

Json ToStatusJson(const absl::Status& s) {
  if (auto p = Payload(s)) return *p;
  int code = HttpCodeFor(s.code());
  std::string reason = code == 500 ? "InternalError" : "";
  Json st = {{"kind", "Status"},
             {"apiVersion", "v1"},
             {"metadata", Json::object()},
             {"status", "Failure"},
             {"message", std::string(s.message())},
             {"reason", reason},
             {"code", code}};
  return st;
}

int HttpCode(const absl::Status& s) {
  if (auto p = Payload(s)) return p->value("code", 0);
  return 0;
}

std::string Reason(const absl::Status& s) {
  if (auto p = Payload(s)) return p->value("reason", "");
  return "";
}

std::vector<Cause> Causes(const absl::Status& s) {
  std::vector<Cause> out;
  auto p = Payload(s);
  if (!p || !p->contains("details")) return out;
  const Json& d = (*p)["details"];
  if (!d.contains("causes") || !d["causes"].is_array()) return out;
  for (const auto& c : d["causes"]) {
    out.push_back({c.value("reason", ""), c.value("message", ""), c.value("field", "")});
  }
  return out;
}

int RetryAfterSeconds(const absl::Status& s) {
  auto p = Payload(s);
  if (!p || !p->contains("details")) return 0;
  return (*p)["details"].value("retryAfterSeconds", 0);
}

bool IsRetryable(const absl::Status& s) {
  if (s.ok()) return false;
  int code = HttpCode(s);
  if (code == 0) {
    return s.code() == absl::StatusCode::kUnavailable ||
           s.code() == absl::StatusCode::kDeadlineExceeded ||
           s.code() == absl::StatusCode::kInternal || s.code() == absl::StatusCode::kUnknown;
  }
  return code == 429 || code >= 500;
}

namespace {
std::pair<std::string, std::string> SplitGroupResource(std::string_view gr) {
  auto dot = gr.find('.');
  if (dot == std::string_view::npos) return {std::string(gr), ""};
  return {std::string(gr.substr(0, dot)), std::string(gr.substr(dot + 1))};
}
}  // namespace

absl::Status NotFoundError(std::string_view group_resource, std::string_view name) {
  auto [res, group] = SplitGroupResource(group_resource);
  return MakeApiError(404, "NotFound",
                      std::string(group_resource) + " " + Quote(name) + " not found",
                      {{"name", name}, {"group", group}, {"kind", res}});
}

absl::Status AlreadyExistsError(std::string_view group_resource, std::string_view name) {
  auto [res, group] = SplitGroupResource(group_resource);
  return MakeApiError(409, "AlreadyExists",
                      std::string(group_resource) + " " + Quote(name) + " already exists",
                      {{"name", name}, {"group", group}, {"kind", res}});
}

absl::Status ConflictError(std::string_view group_resource, std::string_view name,
                           std::string_view detail) {
  auto [res, group] = SplitGroupResource(group_resource);
  return MakeApiError(409, "Conflict",
                      "Operation cannot be fulfilled on " + std::string(group_resource) + " " +
                          Quote(name) + ": " + std::string(detail),
                      {{"name", name}, {"group", group}, {"kind", res}});
}

absl::Status InvalidError(std::string_view kind, std::string_view group, std::string_view name,
                          const std::vector<Cause>& causes) {
  std::string qualified =
      group.empty() ? std::string(kind) : std::string(kind) + "." + std::string(group);
  std::string msg = qualified + " " + Quote(name) + " is invalid: ";
  Json jc = Json::array();
  std::string joined;
  for (size_t i = 0; i < causes.size(); ++i) {
    const auto& c = causes[i];
    if (i) joined += ", ";
    joined += c.field.empty() ? c.message : c.field + ": " + c.message;
    jc.push_back({{"reason", c.reason}, {"message", c.message}, {"field", c.field}});
  }
  msg += causes.size() == 1 ? joined : "[" + joined + "]";
  return MakeApiError(422, "Invalid", msg,
                      {{"name", name}, {"group", group}, {"kind", kind}, {"causes", jc}});
}

absl::Status BadRequestError(std::string_view message) {
  return MakeApiError(400, "BadRequest", message);
}
absl::Status GoneError(std::string_view message) { return MakeApiError(410, "Expired", message); }
absl::Status UnsupportedMediaTypeError(std::string_view content_type) {
  return MakeApiError(415, "UnsupportedMediaType",
                      "the body of the request was in an unknown format - accepted media types "
                      "include: application/json-patch+json, application/merge-patch+json, "
                      "application/apply-patch+yaml (got " +
                          std::string(content_type) + ")");
}
absl::Status MethodNotAllowedError(std::string_view message) {
  return MakeApiError(405, "MethodNotAllowed", message);
}
absl::Status UnauthorizedError(std::string_view message) {
  return MakeApiError(401, "Unauthorized", message);
}
absl::Status ForbiddenError(std::string_view message) {
  return MakeApiError(403, "Forbidden", message);
}
absl::Status TooManyRequestsError(std::string_view message, int retry_after_seconds) {
  return MakeApiError(429, "TooManyRequests", message,
                      {{"retryAfterSeconds", retry_after_seconds}});
}
absl::Status InternalApiError(std::string_view message) {
  return MakeApiError(500, "InternalError", message);
}
absl::Status ServiceUnavailableError(std::string_view message) {
  return MakeApiError(503, "ServiceUnavailable", message);
}
absl::Status TimeoutError(std::string_view message) {
  return MakeApiError(504, "Timeout", message);
}

}  // namespace kfaas::kube
