#include "common/kube/rest_client.h"

#include <algorithm>
#include <deque>
#include <mutex>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "common/base/log.h"
#include "common/kube/retry.h"
#include "common/kube/watch_decoder.h"

namespace kfaas::kube {
namespace {

constexpr Duration kInitialBackoff = std::chrono::milliseconds(100);
constexpr Duration kMaxBackoff = std::chrono::seconds(5);
constexpr Duration kMaxRetryAfter = std::chrono::seconds(30);

std::string ReasonForCode(int code) {
  switch (code) {
    case 400:
      return "BadRequest";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "NotFound";
    case 405:
      return "MethodNotAllowed";
    case 406:
      return "NotAcceptable";
    case 409:
      return "Conflict";
    case 410:
      return "Expired";
    case 413:
      return "RequestEntityTooLarge";
    case 415:
      return "UnsupportedMediaType";
    case 422:
      return "Invalid";
    case 429:
      return "TooManyRequests";
    case 500:
      return "InternalError";
    case 503:
      return "ServiceUnavailable";
    case 504:
      return "Timeout";
    default:
      return code >= 500 ? "InternalError" : "";
  }
}

std::string Excerpt(const std::string& s, size_t n = 300) {
  std::string out = s.size() > n ? s.substr(0, n) + "..." : s;
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

int ParseRetryAfter(const std::string& v) {
  int s = 0;
  if (!v.empty() && absl::SimpleAtoi(v, &s) && s > 0) return s;
  return 0;
}

class Query {
 public:
  Query& Add(std::string_view key, std::string_view value) {
    if (value.empty()) return *this;
    q_ += q_.empty() ? "?" : "&";
    q_ += std::string(key) + "=" + UrlEncode(value);
    return *this;
  }
  const std::string& str() const { return q_; }

 private:
  std::string q_;
};

std::string Path(const Resource& r, const std::string& ns, std::string_view name,
                 std::string_view subresource) {
  std::string p = r.PathPrefix();
  if (r.namespaced && !ns.empty()) p += "/namespaces/" + UrlEncode(ns);
  p += "/" + r.resource;
  if (!name.empty()) p += "/" + UrlEncode(name);
  if (!subresource.empty()) p += "/" + std::string(subresource);
  return p;
}

std::string MetaString(const Json& obj, const char* field) {
  if (!obj.is_object()) return "";
  auto m = obj.find("metadata");
  if (m == obj.end() || !m->is_object()) return "";
  auto f = m->find(field);
  if (f == m->end() || !f->is_string()) return "";
  return f->get<std::string>();
}

// A watch over a streamed response body.
class RestWatchStream final : public WatchStream {
 public:
  explicit RestWatchStream(std::unique_ptr<ResponseStream> body) : body_(std::move(body)) {}
  ~RestWatchStream() override { Stop(); }

  bool Next(WatchEvent* event) override {
    while (pending_.empty()) {
      if (done_) return false;
      // chunk_ and events_ keep their capacity: a busy watch reads thousands of chunks.
      if (!body_->Read(&chunk_)) {
        absl::Status s = body_->error();
        if (s.ok()) s = decoder_.Finish();
        End(stopped_ ? absl::CancelledError("watch stopped") : s);
        continue;
      }
      events_.clear();
      absl::Status s = decoder_.Feed(chunk_, &events_);
      for (auto& e : events_) pending_.push_back(std::move(e));
      if (!s.ok()) {
        End(s);
        body_->Cancel();
      }
    }
    *event = std::move(pending_.front());
    pending_.pop_front();
    return true;
  }

  void Stop() override {
    stopped_ = true;
    body_->Cancel();
  }

  absl::Status status() const override {
    std::lock_guard<std::mutex> l(mu_);
    return status_;
  }

 private:
  void End(absl::Status s) {
    done_ = true;
    std::lock_guard<std::mutex> l(mu_);
    status_ = std::move(s);
  }

  std::unique_ptr<ResponseStream> body_;
  WatchDecoder decoder_;
  std::string chunk_;
  std::vector<WatchEvent> events_;
  std::deque<WatchEvent> pending_;
  bool done_ = false;
  std::atomic<bool> stopped_{false};
  mutable std::mutex mu_;
  absl::Status status_;
};

}  // namespace

std::string UrlEncode(std::string_view s) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

// Client-side token bucket (golang.org/x/time/rate Wait semantics).
class RestClient::Limiter {
 public:
  Limiter(Clock& clock, double qps, int burst)
      : clock_(clock), qps_(qps), burst_(std::max(1, burst)), tokens_(burst_), last_(clock.Now()) {}
  // Reserves a token; returns how long the caller must wait before using it.
  Duration Reserve() {
    if (qps_ <= 0) return Duration::zero();
    std::lock_guard<std::mutex> l(mu_);
    SteadyTime now = clock_.Now();
    double elapsed = std::chrono::duration<double>(now - last_).count();
    if (elapsed > 0) {
      tokens_ = std::min<double>(burst_, tokens_ + elapsed * qps_);
      last_ = now;
    }
    tokens_ -= 1;
    if (tokens_ >= 0) return Duration::zero();
    return std::chrono::duration_cast<Duration>(std::chrono::duration<double>(-tokens_ / qps_));
  }

 private:
  Clock& clock_;
  const double qps_;
  const int burst_;
  std::mutex mu_;
  double tokens_;
  SteadyTime last_;
};

TransportConfig TransportConfigFor(const RestConfig& config) {
  TransportConfig tc;
  tc.base_url = config.host;
  tc.ca_pem = config.ca_pem;
  tc.client_cert_pem = config.client_cert_pem;
  tc.client_key_pem = config.client_key_pem;
  tc.tls_server_name = config.tls_server_name;
  tc.insecure_skip_tls_verify = config.insecure_skip_tls_verify;
  tc.timeout = config.timeout;
  return tc;
}

RestClient::RestClient(RestConfig config, std::shared_ptr<Transport> transport)
    : config_(std::move(config)),
      clock_(config_.clock ? *config_.clock : RealClock::Get()),
      transport_(std::move(transport)),
      tokens_(MakeTokenSource(config_, clock_)),
      limiter_(std::make_unique<Limiter>(clock_, config_.qps, config_.burst)) {}

RestClient::~RestClient() = default;

absl::StatusOr<std::shared_ptr<RestClient>> RestClient::New(RestConfig config,
                                                            std::shared_ptr<Transport> transport) {
  if (config.host.empty()) return absl::InvalidArgumentError("RestConfig.host is empty");
  while (config.host.size() > 8 && config.host.back() == '/') config.host.pop_back();
  if (!transport) {
    auto t = NewTransport(config.transport, TransportConfigFor(config));
    if (!t.ok()) return t.status();
    transport = std::move(*t);
  }
  return std::shared_ptr<RestClient>(new RestClient(std::move(config), std::move(transport)));
}

absl::StatusOr<std::shared_ptr<RestClient>> RestClient::FromOptions(
    const ConfigLoadOptions& opts, const std::function<void(RestConfig&)>& adjust) {
  auto config = LoadConfig(opts);
  if (!config.ok()) return config.status();
  if (adjust) adjust(*config);
  return New(std::move(*config));
}

RestClient::Stats RestClient::stats() const {
  Stats s;
  s.requests = requests_.load();
  s.retries = retries_.load();
  s.throttled = throttled_.load();
  return s;
}

void RestClient::SleepFor(Duration d) { kube::SleepFor(clock_, d); }

absl::Status RestClient::Authorize(HttpRequest* r, std::string* token) {
  if (tokens_) {
    auto t = tokens_->Token();
    if (!t.ok()) {
      return absl::UnauthenticatedError("getting credentials for " + config_.host + " (" +
                                        tokens_->Describe() +
                                        "): " + std::string(t.status().message()));
    }
    *token = std::move(*t);
    if (!token->empty()) r->headers.emplace_back("Authorization", "Bearer " + *token);
  } else if (!config_.username.empty()) {
    r->headers.emplace_back(
        "Authorization", "Basic " + absl::Base64Escape(config_.username + ":" + config_.password));
  }
  return absl::OkStatus();
}

absl::StatusOr<HttpResponse> RestClient::Do(HttpRequest req, bool idempotent) {
  bool auth_retried = false;
  int attempt = 0;
  Duration backoff = kInitialBackoff;
  if (std::none_of(req.headers.begin(), req.headers.end(),
                   [](const auto& h) { return h.first == "Accept"; })) {
    req.headers.emplace_back("Accept", "application/json");
  }
  req.headers.emplace_back("User-Agent", config_.user_agent);
  while (true) {
    if (Duration d = limiter_->Reserve(); d > Duration::zero()) {
      ++throttled_;
      SleepFor(d);
    }
    HttpRequest r = req;
    std::string token;
    if (auto s = Authorize(&r, &token); !s.ok()) return s;
    ++requests_;
    auto resp = transport_->RoundTrip(r);
    Duration wait = backoff;
    if (!resp.ok()) {
      const absl::Status& st = resp.status();
      bool retry =
          IsNotSent(st) || (idempotent && (st.code() == absl::StatusCode::kUnavailable ||
                                           st.code() == absl::StatusCode::kDeadlineExceeded));
      if (!retry || attempt >= config_.max_retries) return st;
      KFAAS_VLOG(2) << "retrying " << req.method << " " << req.target << ": " << st;
    } else {
      const int code = resp->status;
      if (code == 401 && tokens_ && !auth_retried && tokens_->Invalidate(token)) {
        auth_retried = true;
        continue;
      }
      int retry_after = ParseRetryAfter(resp->Header("Retry-After"));
      bool retry = code == 429 || (code == 503 && retry_after > 0) ||
                   (idempotent && code >= 500 && code != 501);
      if (!retry || attempt >= config_.max_retries) return resp;
      if (retry_after > 0) {
        wait = std::min<Duration>(std::chrono::seconds(retry_after), kMaxRetryAfter);
      }
      KFAAS_VLOG(2) << "retrying " << req.method << " " << req.target << " after HTTP " << code;
    }
    ++attempt;
    ++retries_;
    SleepFor(Jittered(wait, 0.2));
    backoff = std::min(backoff * 2, kMaxBackoff);
  }
}

absl::Status RestClient::ErrorFromResponse(int status, const std::string& body,
                                           const std::string& retry_after) const {
  absl::Status err;
  Json j = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_discarded() && j.is_object() && j.contains("kind") && j["kind"] == "Status") {
    if (!j.contains("details") && ParseRetryAfter(retry_after) > 0) {
      j["details"] = {{"retryAfterSeconds", ParseRetryAfter(retry_after)}};
    }
    err = FromStatusJson(j, status);
  } else {
    std::string msg = "the server responded with HTTP " + std::to_string(status);
    if (!body.empty()) msg += ": " + Excerpt(body);
    Json details = Json::object();
    if (int ra = ParseRetryAfter(retry_after); ra > 0) details["retryAfterSeconds"] = ra;
    err = MakeApiError(status, ReasonForCode(status), msg, details);
  }
  if (status == 401) {
    std::string creds = tokens_                            ? tokens_->Describe()
                        : !config_.client_cert_pem.empty() ? "client certificate"
                        : !config_.username.empty()        ? "username/password"
                                                           : "no credentials";
    std::string source = config_.source.empty() ? config_.host : config_.source;
    return MakeApiError(401, "Unauthorized",
                        "Unauthorized: " + config_.host + " rejected the credentials (" + creds +
                            " from " + source + "): " + std::string(err.message()) +
                            "; check the user's token, certificate or exec plugin");
  }
  return err;
}

absl::StatusOr<Json> RestClient::Decode(const HttpResponse& resp, const std::string& method,
                                        const std::string& target) const {
  if (resp.status >= 200 && resp.status < 300) {
    if (resp.body.empty()) return Json::object();
    Json j = Json::parse(resp.body, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) {
      return absl::DataLossError("decoding the response to " + method + " " + target +
                                 ": not JSON: " + Excerpt(resp.body, 120));
    }
    return j;
  }
  return ErrorFromResponse(resp.status, resp.body, resp.Header("Retry-After"));
}

absl::StatusOr<Json> RestClient::Call(std::string method, std::string target,
                                      std::string content_type, std::string body, bool idempotent) {
  HttpRequest req;
  req.method = std::move(method);
  req.target = std::move(target);
  if (!content_type.empty()) req.headers.emplace_back("Content-Type", std::move(content_type));
  req.body = std::move(body);
  auto resp = Do(req, idempotent);
  if (!resp.ok()) return resp.status();
  return Decode(*resp, req.method, req.target);
}

std::string RestClient::ResolveNamespace(const Resource& r, std::string_view ns,
                                         const Json* obj) const {
  if (!r.namespaced) return "";
  if (!ns.empty()) return std::string(ns);
  if (obj) {
    std::string from_obj = MetaString(*obj, "namespace");
    if (!from_obj.empty()) return from_obj;
  }
  return config_.default_namespace;
}

absl::StatusOr<Json> RestClient::Get(const Resource& r, std::string_view ns, std::string_view name,
                                     std::string_view subresource) {
  return Call("GET", Path(r, ResolveNamespace(r, ns, nullptr), name, subresource), "", "", true);
}

absl::StatusOr<Json> RestClient::List(const Resource& r, std::string_view ns,
                                      const ListOptions& opts) {
  Query q;
  q.Add("labelSelector", opts.label_selector)
      .Add("fieldSelector", opts.field_selector)
      .Add("limit", opts.limit > 0 ? std::to_string(opts.limit) : "")
      .Add("continue", opts.continue_token)
      .Add("resourceVersion", opts.resource_version)
      .Add("resourceVersionMatch", opts.resource_version_match);
  return Call("GET", Path(r, r.namespaced ? std::string(ns) : "", "", "") + q.str(), "", "", true);
}

absl::StatusOr<Json> RestClient::Create(const Resource& r, std::string_view ns, const Json& obj,
                                        const WriteOptions& opts) {
  Query q;
  q.Add("fieldManager", opts.field_manager).Add("dryRun", opts.dry_run ? "All" : "");
  return Call("POST", Path(r, ResolveNamespace(r, ns, &obj), "", "") + q.str(), "application/json",
              obj.dump(), /*idempotent=*/false);
}

absl::StatusOr<Json> RestClient::Update(const Resource& r, std::string_view ns, const Json& obj,
                                        std::string_view subresource, const WriteOptions& opts) {
  std::string name = MetaString(obj, "name");
  if (name.empty()) {
    return absl::InvalidArgumentError("Update " + r.GroupResource() +
                                      ": the object has no metadata.name");
  }
  Query q;
  q.Add("fieldManager", opts.field_manager).Add("dryRun", opts.dry_run ? "All" : "");
  return Call("PUT", Path(r, ResolveNamespace(r, ns, &obj), name, subresource) + q.str(),
              "application/json", obj.dump(), /*idempotent=*/true);
}

absl::StatusOr<Json> RestClient::Patch(const Resource& r, std::string_view ns,
                                       std::string_view name, PatchType type, const Json& patch,
                                       std::string_view subresource, const PatchOptions& opts) {
  std::string manager = opts.field_manager;
  if (type == PatchType::kApply && manager.empty()) manager = config_.user_agent;
  Query q;
  q.Add("fieldManager", manager)
      .Add("force", type == PatchType::kApply && opts.force ? "true" : "")
      .Add("dryRun", opts.dry_run ? "All" : "");
  return Call("PATCH", Path(r, ResolveNamespace(r, ns, nullptr), name, subresource) + q.str(),
              std::string(ContentTypeFor(type)), patch.dump(),
              /*idempotent=*/type != PatchType::kJson);
}

absl::StatusOr<Json> RestClient::Delete(const Resource& r, std::string_view ns,
                                        std::string_view name, const DeleteOptions& opts) {
  Json body = {{"kind", "DeleteOptions"}, {"apiVersion", "v1"}};
  if (!opts.propagation_policy.empty()) body["propagationPolicy"] = opts.propagation_policy;
  if (opts.grace_period_seconds) body["gracePeriodSeconds"] = *opts.grace_period_seconds;
  if (!opts.precondition_uid.empty()) body["preconditions"]["uid"] = opts.precondition_uid;
  if (!opts.precondition_resource_version.empty()) {
    body["preconditions"]["resourceVersion"] = opts.precondition_resource_version;
  }
  return Call("DELETE", Path(r, ResolveNamespace(r, ns, nullptr), name, ""), "application/json",
              body.dump(), /*idempotent=*/true);
}

absl::StatusOr<std::unique_ptr<WatchStream>> RestClient::Watch(const Resource& r,
                                                               std::string_view ns,
                                                               const WatchOptions& opts) {
  Query q;
  q.Add("watch", "true")
      .Add("allowWatchBookmarks", opts.allow_bookmarks ? "true" : "")
      .Add("resourceVersion", opts.resource_version)
      .Add("labelSelector", opts.label_selector)
      .Add("fieldSelector", opts.field_selector)
      .Add("timeoutSeconds", opts.timeout_seconds > 0 ? std::to_string(opts.timeout_seconds) : "");
  HttpRequest req;
  req.method = "GET";
  req.target = Path(r, r.namespaced ? std::string(ns) : "", "", "") + q.str();
  req.headers.emplace_back("Accept", "application/json");
  req.headers.emplace_back("User-Agent", config_.user_agent);
  // The inactivity limit: a little past the server-side timeout.
  req.timeout = opts.timeout_seconds > 0 ? std::chrono::seconds(opts.timeout_seconds + 30)
                                         : Duration(std::chrono::hours(1));

  bool auth_retried = false;
  int attempt = 0;
  Duration backoff = kInitialBackoff;
  while (true) {
    if (Duration d = limiter_->Reserve(); d > Duration::zero()) {
      ++throttled_;
      SleepFor(d);
    }
    HttpRequest rq = req;
    std::string token;
    if (auto s = Authorize(&rq, &token); !s.ok()) return s;
    ++requests_;
    auto stream = transport_->Stream(rq);
    Duration wait = backoff;
    if (!stream.ok()) {
      const absl::Status& st = stream.status();
      bool retry = IsNotSent(st) || st.code() == absl::StatusCode::kUnavailable;
      if (!retry || attempt >= config_.max_retries) return st;
    } else {
      int code = (*stream)->status();
      if (code >= 200 && code < 300) {
        return std::unique_ptr<WatchStream>(std::make_unique<RestWatchStream>(std::move(*stream)));
      }
      std::string body, chunk;
      while ((*stream)->Read(&chunk) && body.size() < (1u << 20)) body += chunk;
      std::string retry_after_header = (*stream)->Header("Retry-After");
      (*stream)->Cancel();
      if (code == 401 && tokens_ && !auth_retried && tokens_->Invalidate(token)) {
        auth_retried = true;
        continue;
      }
      int retry_after = ParseRetryAfter(retry_after_header);
      bool retry = code == 429 || (code >= 500 && code != 501);
      if (!retry || attempt >= config_.max_retries) {
        return ErrorFromResponse(code, body, retry_after_header);
      }
      if (retry_after > 0) {
        wait = std::min<Duration>(std::chrono::seconds(retry_after), kMaxRetryAfter);
      }
    }
    ++attempt;
    ++retries_;
    SleepFor(Jittered(wait, 0.2));
    backoff = std::min(backoff * 2, kMaxBackoff);
  }
}

absl::StatusOr<Json> RestClient::GetPath(std::string_view path) {
  HttpRequest req;
  req.method = "GET";
  req.target = std::string(path);
  auto resp = Do(req, true);
  if (!resp.ok()) return resp.status();
  if (resp->status >= 200 && resp->status < 300) {
    Json j = Json::parse(resp->body, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return Json(resp->body);
    return j;
  }
  return ErrorFromResponse(resp->status, resp->body, resp->Header("Retry-After"));
}

}  // namespace kfaas::kube
