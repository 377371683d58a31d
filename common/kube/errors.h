// Kubernetes API errors carried in absl::Status.
//
// Every error that came from (or, in the local API server, will become) a meta/v1 Status keeps
// that Status JSON as a payload, so HTTP code, reason and causes survive the trip through
// absl::Status. Transport failures (connection refused, TLS) have no payload: HttpCode() == 0.
//
// absl codes: 404 kNotFound, 409 AlreadyExists kAlreadyExists, 409 Conflict kAborted,
// 400/422/415/406 kInvalidArgument, 410 kOutOfRange, 401 kUnauthenticated, 403
// kPermissionDenied, 429 kResourceExhausted, 503 kUnavailable, 504 kDeadlineExceeded,
// other 5xx kInternal.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"

namespace kfaas::kube {

using Json = nlohmann::json;

struct Cause {
  std::string reason;   // "FieldValueRequired", "FieldValueInvalid", "FieldValueNotSupported"...
  std::string message;  // "Required value"
  std::string field;    // "spec.image"
};

// Builds an API error. `details` is the Status.details object (name, group, kind, causes...).
absl::Status MakeApiError(int http_code, std::string_view reason, std::string_view message,
                          Json details = Json::object());
// Decodes a Status object received from a server; `http_code` is used when it has no "code".
absl::Status FromStatusJson(const Json& status, int http_code);
// The meta/v1 Status JSON for any absl::Status. Non-API errors become 500 InternalError.
Json ToStatusJson(const absl::Status& s);

int HttpCode(const absl::Status& s);        // 0 when the error did not come from an API server
std::string Reason(const absl::Status& s);  // "NotFound", "Conflict", ... or ""
std::vector<Cause> Causes(const absl::Status& s);
int RetryAfterSeconds(const absl::Status& s);  // details.retryAfterSeconds, 0 if absent

// For 404 and 409 AlreadyExists use absl::IsNotFound(s) and absl::IsAlreadyExists(s): the codes
// map one to one (and a kube:: overload would be ambiguous through argument-dependent lookup).
inline bool IsConflict(const absl::Status& s) { return Reason(s) == "Conflict"; }
inline bool IsInvalid(const absl::Status& s) { return Reason(s) == "Invalid"; }
inline bool IsGone(const absl::Status& s) { return HttpCode(s) == 410; }
inline bool IsTooManyRequests(const absl::Status& s) { return HttpCode(s) == 429; }
// 5xx, 429 and transport errors: worth retrying with backoff.
bool IsRetryable(const absl::Status& s);

// Constructors with the messages the real API server uses. `group_resource` is the qualified
// plural, e.g. "deployments.apps" or "functions.kfaas.dev".
absl::Status NotFoundError(std::string_view group_resource, std::string_view name);
absl::Status AlreadyExistsError(std::string_view group_resource, std::string_view name);
// "Operation cannot be fulfilled on <gr> \"<name>\": <detail>"
absl::Status ConflictError(std::string_view group_resource, std::string_view name,
                           std::string_view detail =
                               "the object has been modified; please apply your changes to the "
                               "latest version and try again");
// 422: "<Kind>.<group> \"<name>\" is invalid: [<field>: <message>, ...]"
absl::Status InvalidError(std::string_view kind, std::string_view group, std::string_view name,
                          const std::vector<Cause>& causes);
absl::Status BadRequestError(std::string_view message);
absl::Status GoneError(std::string_view message);  // 410 Expired
absl::Status UnsupportedMediaTypeError(std::string_view content_type);
absl::Status MethodNotAllowedError(std::string_view message);
absl::Status UnauthorizedError(std::string_view message);
absl::Status ForbiddenError(std::string_view message);
absl::Status TooManyRequestsError(std::string_view message, int retry_after_seconds);
absl::Status InternalApiError(std::string_view message);
absl::Status ServiceUnavailableError(std::string_view message);
absl::Status TimeoutError(std::string_view message);  // 504 Timeout

}  // namespace kfaas::kube
