#include "local/apiserver/http_server.h"

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>

#include "common/base/log.h"
#include "common/base/yaml_json.h"
#include "common/http/admin_server.h"
#include "common/kube/errors.h"
#include "local/apiserver/discovery.h"
#include "local/apiserver/protobuf.h"
#include "local/apiserver/table.h"

namespace kfaas::local {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;

namespace {

constexpr char kVersionJson[] =
    R"({"major":"1","minor":"32","gitVersion":"v1.32.4-kfaas","gitCommit":"kfaas-local",)"
    R"("gitTreeState":"clean","buildDate":"2026-01-01T00:00:00Z","goVersion":"go1.23.8",)"
    R"("compiler":"gc","platform":"linux/amd64"})";

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == sep) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(cur);
  return out;
}

struct MediaType {
  std::string type;  // "application/json"
  std::map<std::string, std::string> params;
};

MediaType ParseMediaType(const std::string& s) {
  MediaType m;
  auto parts = Split(s, ';');
  m.type = Lower(Trim(parts[0]));
  for (size_t i = 1; i < parts.size(); ++i) {
    auto kv = Trim(parts[i]);
    auto eq = kv.find('=');
    if (eq == std::string::npos) continue;
    m.params[Lower(Trim(kv.substr(0, eq)))] = Trim(kv.substr(eq + 1));
  }
  return m;
}

std::vector<MediaType> ParseAccept(const std::string& accept) {
  std::vector<MediaType> out;
  if (Trim(accept).empty()) return out;
  for (const auto& part : Split(accept, ',')) {
    if (!Trim(part).empty()) out.push_back(ParseMediaType(part));
  }
  return out;
}

enum class Output { kJson, kYaml, kTable, kPartial };

struct Negotiated {
  Output output = Output::kJson;
  bool ok = true;
};

Negotiated Negotiate(const std::string& accept) {
  auto types = ParseAccept(accept);
  if (types.empty()) return {};
  for (const auto& m : types) {
    std::string as = m.params.count("as") ? m.params.at("as") : "";
    bool json = m.type == "application/json" || m.type == "*/*" || m.type == "application/*";
    if (json && as == "Table") return {Output::kTable, true};
    if (json && (as == "PartialObjectMetadata" || as == "PartialObjectMetadataList")) {
      return {Output::kPartial, true};
    }
    if (json && as.empty()) return {Output::kJson, true};
    if (m.type == "application/yaml" && as.empty()) return {Output::kYaml, true};
  }
  return {Output::kJson, false};
}

// The aggregated discovery version the client accepts ("" = legacy).
std::string AggregatedVersion(const std::string& accept) {
  for (const auto& m : ParseAccept(accept)) {
    if (m.type != "application/json") continue;
    auto as = m.params.find("as");
    auto g = m.params.find("g");
    auto v = m.params.find("v");
    if (as != m.params.end() && as->second == "APIGroupDiscoveryList" && g != m.params.end() &&
        g->second == "apidiscovery.k8s.io" && v != m.params.end() &&
        (v->second == "v2" || v->second == "v2beta1")) {
      return v->second;
    }
    if (as == m.params.end()) return "";
  }
  return "";
}

struct Response {
  int code = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

constexpr size_t kMaxJsonDepth = 512;

// The deepest nesting of arrays and objects in a JSON text (strings skipped), stopping early
// once past kMaxJsonDepth.
size_t JsonNestingDepth(std::string_view text) {
  size_t depth = 0, max_depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size() && max_depth <= kMaxJsonDepth; ++i) {
    char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      max_depth = std::max(max_depth, ++depth);
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return max_depth;
}

// True when the (decoded) path has a "." or ".." segment.
bool HasDotSegment(std::string_view path) {
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    std::string_view seg = path.substr(start, slash - start);
    if (seg == "." || seg == "..") return true;
    start = slash + 1;
  }
  return false;
}

Response StatusResponse(const absl::Status& st) {
  Json j = kube::ToStatusJson(st);
  Response r;
  r.code = j.value("code", 500);
  if (r.code < 100 || r.code > 599) r.code = 500;
  // A message may quote the client's bytes (e.g. a JSON parse error): never let invalid UTF-8
  // turn a 400 into a 500.
  r.body = j.dump(-1, ' ', false, Json::error_handler_t::replace);
  return r;
}

Response JsonResponse(int code, const Json& j) {
  Response r;
  r.code = code;
  r.body = j.dump();
  return r;
}

absl::Status NotFoundPath() {
  return kube::MakeApiError(404, "NotFound", "the server could not find the requested resource");
}

absl::StatusOr<bool> ParseBool(const std::map<std::string, std::string>& q, const char* key) {
  auto it = q.find(key);
  if (it == q.end() || it->second.empty()) return false;
  if (it->second == "true" || it->second == "1" || it->second == "True") return true;
  if (it->second == "false" || it->second == "0" || it->second == "False") return false;
  return kube::BadRequestError(std::string(key) + ": Invalid value: \"" + it->second +
                               "\": must be true or false");
}

absl::StatusOr<int64_t> ParseInt(const std::map<std::string, std::string>& q, const char* key,
                                 int64_t def) {
  auto it = q.find(key);
  if (it == q.end() || it->second.empty()) return def;
  try {
    size_t pos = 0;
    int64_t v = std::stoll(it->second, &pos);
    if (pos != it->second.size()) throw std::invalid_argument("trailing");
    return v;
  } catch (const std::exception&) {
    return kube::BadRequestError(std::string(key) + ": Invalid value: \"" + it->second +
                                 "\": must be an integer");
  }
}

std::string Get(const std::map<std::string, std::string>& q, const char* key) {
  auto it = q.find(key);
  return it == q.end() ? "" : it->second;
}

// A parsed request path.
struct Route {
  enum Kind {
    kNotFound,
    kVersion,
    kHealth,
    kApi,
    kApis,
    kLegacyGroup,
    kGroupVersion,
    kOpenApiRoot,
    kOpenApiGv,
    kFaults,
    kResource
  } kind = kNotFound;
  std::string group, version, resource, ns, name, sub;
  bool watch_path = false;
  bool has_ns = false;
};

Route ParseRoute(const std::string& path) {
  Route r;
  std::string p = path;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  if (p == "/version") {
    r.kind = Route::kVersion;
    return r;
  }
  if (p == "/healthz" || p == "/livez" || p == "/readyz" || p.starts_with("/healthz/") ||
      p.starts_with("/livez/") || p.starts_with("/readyz/")) {
    r.kind = Route::kHealth;
    return r;
  }
  if (p == "/kfaas/faults") {
    r.kind = Route::kFaults;
    return r;
  }
  if (p == "/api") {
    r.kind = Route::kApi;
    return r;
  }
  if (p == "/apis") {
    r.kind = Route::kApis;
    return r;
  }
  if (p == "/openapi/v3") {
    r.kind = Route::kOpenApiRoot;
    return r;
  }
  if (p.starts_with("/openapi/v3/")) {
    auto segs = Split(p.substr(strlen("/openapi/v3/")), '/');
    if (segs.size() == 2 && segs[0] == "api") {
      r.kind = Route::kOpenApiGv;
      r.version = segs[1];
    } else if (segs.size() == 3 && segs[0] == "apis") {
      r.kind = Route::kOpenApiGv;
      r.group = segs[1];
      r.version = segs[2];
    }
    return r;
  }
  std::vector<std::string> segs;
  if (p.starts_with("/api/")) {
    segs = Split(p.substr(5), '/');
    if (segs.empty() || segs[0].empty()) return r;
    r.version = segs[0];
    segs.erase(segs.begin());
  } else if (p.starts_with("/apis/")) {
    segs = Split(p.substr(6), '/');
    if (segs.empty() || segs[0].empty()) return r;
    r.group = segs[0];
    segs.erase(segs.begin());
    if (segs.empty()) {
      r.kind = Route::kLegacyGroup;
      return r;
    }
    r.version = segs[0];
    segs.erase(segs.begin());
  } else {
    return r;
  }
  if (segs.empty()) {
    r.kind = Route::kGroupVersion;
    return r;
  }
  for (const auto& s : segs) {
    if (s.empty()) return r;
  }
  if (segs[0] == "watch") {
    r.watch_path = true;
    segs.erase(segs.begin());
    if (segs.empty()) return r;
  }
  if (segs[0] == "namespaces" && segs.size() >= 3 &&
      !(segs.size() == 3 && (segs[2] == "status" || segs[2] == "finalize"))) {
    r.ns = segs[1];
    r.has_ns = true;
    segs.erase(segs.begin(), segs.begin() + 2);
  }
  if (segs.size() > 3) return r;
  r.resource = segs[0];
  if (segs.size() > 1) r.name = segs[1];
  if (segs.size() > 2) r.sub = segs[2];
  r.kind = Route::kResource;
  return r;
}

std::string VerbFor(const std::string& method, const Route& r, bool watch) {
  if (method == "GET") {
    if (watch || r.watch_path) return "watch";
    return r.name.empty() ? "list" : "get";
  }
  if (method == "POST") return "create";
  if (method == "PUT") return "update";
  if (method == "PATCH") return "patch";
  if (method == "DELETE") return r.name.empty() ? "deletecollection" : "delete";
  return Lower(method);
}

std::string Chunk(const std::string& data) {
  char hex[20];
  snprintf(hex, sizeof(hex), "%zx\r\n", data.size());
  return std::string(hex) + data + "\r\n";
}

}  // namespace

// What a request turned into: a complete response, or a stream for the session to run.
struct RouteResult {
  Response resp;
  // Watch stream.
  WatcherPtr watcher;
  ResourcePtr resource;
  Output output = Output::kJson;
  IncludeObject include = IncludeObject::kMetadata;
  std::optional<Json> watch_error;  // 410: one ERROR event
  std::chrono::seconds timeout{0};
  bool is_watch = false;
  // Log stream.
  bool is_log_follow = false;
  std::string log_path;
  ObjectKey pod;
  int64_t limit_bytes = 0;
  std::string log_initial;  // sent first (tail/limit applied)
  int64_t log_offset = 0;   // file offset to follow from
};

class HttpServer::Impl : public std::enable_shared_from_this<HttpServer::Impl> {
 public:
  Impl(std::shared_ptr<ServerCore> core, HttpConfig cfg)
      : core_(std::move(core)),
        cfg_(std::move(cfg)),
        ioc_(std::max(1, cfg_.threads)),
        flush_timer_(ioc_) {}

  absl::Status Start();
  void Stop();
  uint16_t secure_port() const { return secure_port_; }
  uint16_t insecure_port() const { return insecure_port_; }

  // Request handling (called on a connection's strand).
  struct Request {
    const bhttp::request<bhttp::string_body>* raw = nullptr;
    std::string method, path;
    std::map<std::string, std::string> query;
    std::string user;
    bool secure = false;
    bool authenticated = false;
  };
  Route Classify(const Request& req) const { return ParseRoute(req.path); }
  std::chrono::milliseconds LatencyFor(const Request& req, const Route& route) const;
  RouteResult Handle(const Request& req, const Route& route);
  std::string Authenticate(const bhttp::request<bhttp::string_body>& req,
                           const std::string& cert_user, bool* ok) const;

  ServerCore& core() { return *core_; }
  const HttpConfig& cfg() const { return cfg_; }
  asio::io_context& ioc() { return ioc_; }
  ssl::context* tls() { return tls_.get(); }

  // Live sessions, closed on Stop().
  void Register(std::weak_ptr<void> s, std::function<void()> closer) {
    std::lock_guard lock(sessions_mu_);
    sessions_[s.lock().get()] = std::move(closer);
  }
  void Unregister(void* s) {
    std::lock_guard lock(sessions_mu_);
    sessions_.erase(s);
  }
  bool stopping() const { return stopping_; }

  // Watch write coalescing: a watch that sent less than cfg().watch_batch_interval ago joins
  // the next flush tick instead of writing at once. One timer serves every watch (armed only
  // while some watch waits), so a burst of N events costs each watcher about
  // burst-duration / interval writes instead of N, and a lone event is written at once.
  void AtNextFlush(std::function<void()> fn) {
    std::lock_guard lock(flush_mu_);
    flush_pending_.push_back(std::move(fn));
    if (flush_armed_) return;
    flush_armed_ = true;
    flush_timer_.expires_after(cfg_.watch_batch_interval);
    std::weak_ptr<Impl> weak = shared_from_this();
    flush_timer_.async_wait([weak](beast::error_code) {
      auto self = weak.lock();
      if (!self) return;
      std::vector<std::function<void()>> fns;
      {
        std::lock_guard lock(self->flush_mu_);
        fns.swap(self->flush_pending_);
        self->flush_armed_ = false;
      }
      for (auto& f : fns) f();
    });
  }

 private:
  RouteResult HandleResource(const Request& req, const Route& route);
  absl::StatusOr<Json> ParseBody(const Request& req, bool allow_patch_types,
                                 kube::PatchType* patch_type);
  Response Serialize(const Request& req, const ResourceInfo& r, const Json& obj, int code,
                     const std::vector<std::string>& warnings);
  Response SerializeList(const Request& req, const ResourceInfo& r, const ListResult& list);
  Response Discovery(const Request& req, const Route& route);
  Response OpenApi(const Route& route);
  Response Faults(const Request& req);
  RouteResult Log(const Request& req, const Route& route);

  void Accept(tcp::acceptor& acc, bool secure);

  std::shared_ptr<ServerCore> core_;
  HttpConfig cfg_;
  asio::io_context ioc_;
  std::unique_ptr<ssl::context> tls_;
  std::unique_ptr<tcp::acceptor> secure_acc_, insecure_acc_;
  uint16_t secure_port_ = 0, insecure_port_ = 0;
  std::vector<std::thread> threads_;
  std::atomic<bool> stopping_{false};
  std::mutex sessions_mu_;
  std::map<void*, std::function<void()>> sessions_;
  std::mutex flush_mu_;
  asio::steady_timer flush_timer_;  // guarded by flush_mu_ (waits only while flush_armed_)
  bool flush_armed_ = false;
  std::vector<std::function<void()>> flush_pending_;
  std::mutex openapi_mu_;
  uint64_t openapi_gen_ = 0;
  std::map<std::string, std::string> openapi_cache_;
};

// ---------------------------------------------------------------------------------------------
// Session

namespace {

template <class Stream>
beast::tcp_stream& Lowest(Stream& s) {
  return beast::get_lowest_layer(s);
}

template <class Stream>
class Session : public std::enable_shared_from_this<Session<Stream>> {
 public:
  using Impl = HttpServer::Impl;
  Session(std::shared_ptr<Impl> impl, Stream stream, bool secure)
      : impl_(std::move(impl)), stream_(std::move(stream)), secure_(secure) {}

  void Start() {
    auto self = this->shared_from_this();
    std::weak_ptr<Session> weak = self;
    impl_->Register(self, [weak] {
      if (auto s = weak.lock()) {
        asio::post(s->stream_.get_executor(), [s] { s->Close(); });
      }
    });
    if constexpr (std::is_same_v<Stream, beast::ssl_stream<beast::tcp_stream>>) {
      Lowest(stream_).expires_after(std::chrono::seconds(30));
      stream_.async_handshake(ssl::stream_base::server, [self](beast::error_code ec) {
        if (ec) return self->Close();
        if (X509* peer = SSL_get_peer_certificate(self->stream_.native_handle())) {
          if (SSL_get_verify_result(self->stream_.native_handle()) == X509_V_OK) {
            char buf[256] = {0};
            X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, buf,
                                      sizeof(buf));
            self->cert_user_ = buf;
          }
          X509_free(peer);
        }
        self->Read();
      });
    } else {
      Read();
    }
  }

  ~Session() { impl_->Unregister(this); }

 private:
  void Read() {
    if (closed_) return;
    parser_.emplace();
    parser_->body_limit(impl_->cfg().max_body_bytes);
    parser_->header_limit(impl_->cfg().max_header_bytes);
    if (buffer_.size() > 0) return ReadHeader();  // a pipelined request is already here
    // An idle keep-alive connection may wait long for its next request; once its first byte
    // arrives, the whole header must follow within header_timeout (slowloris).
    Lowest(stream_).expires_after(std::chrono::seconds(300));
    auto self = this->shared_from_this();
    stream_.async_read_some(buffer_.prepare(4096), [self](beast::error_code ec, size_t n) {
      if (ec) return self->Close();
      self->buffer_.commit(n);
      self->ReadHeader();
    });
  }

  void ReadHeader() {
    Lowest(stream_).expires_after(impl_->cfg().header_timeout);
    auto self = this->shared_from_this();
    bhttp::async_read_header(stream_, buffer_, *parser_, [self](beast::error_code ec, size_t) {
      if (ec == bhttp::error::header_limit || ec == bhttp::error::buffer_overflow) {
        return self->Refuse(
            kube::MakeApiError(431, "RequestHeaderFieldsTooLarge",
                               "Request header fields too large: limit is " +
                                   std::to_string(self->impl_->cfg().max_header_bytes) + " bytes"));
      }
      if (ec == bhttp::error::body_limit) return self->RefuseBody();
      if (ec && ec.category() == beast::error_code(bhttp::error::bad_method).category() &&
          ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message) {
        return self->Refuse(kube::BadRequestError("malformed HTTP request: " + ec.message()));
      }
      if (ec) return self->Close();  // closed, or header_timeout passed
      self->ReadBody();
    });
  }

  void ReadBody() {
    if (parser_->is_done()) return OnRequest();
    Lowest(stream_).expires_after(std::chrono::seconds(300));
    auto self = this->shared_from_this();
    bhttp::async_read(stream_, buffer_, *parser_, [self](beast::error_code ec, size_t) {
      if (ec == bhttp::error::body_limit) return self->RefuseBody();
      if (ec) return self->Close();
      self->OnRequest();
    });
  }

  // Answers a request that cannot be read on and closes the connection after the response.
  void Refuse(const absl::Status& st) {
    keep_alive_ = false;
    Write(StatusResponse(st));
  }
  void RefuseBody() {
    keep_alive_ = false;
    drain_after_write_ = true;
    Write(StatusResponse(kube::MakeApiError(
        413, "RequestEntityTooLarge",
        "Request entity too large: limit is " + std::to_string(impl_->cfg().max_body_bytes))));
  }

  void OnRequest() {
    req_ = parser_->release();
    keep_alive_ = req_.keep_alive();
    impl_->core().faults.requests++;
    Impl::Request r;
    r.raw = &req_;
    r.method = std::string(req_.method_string());
    std::string target(req_.target());
    auto q = target.find('?');
    r.path = http::PercentDecode(target.substr(0, q));
    if (q != std::string::npos) r.query = http::ParseQuery(target.substr(q + 1));
    r.secure = secure_;
    bool ok = true;
    if (secure_) {
      r.user = impl_->Authenticate(req_, cert_user_, &ok);
      r.authenticated = ok && !r.user.empty();
    }
    if (HasDotSegment(r.path)) {
      // As kube-apiserver's path-segment-name checks: a namespace or name may not be "." or
      // ".." (no path tricks reach another namespace's objects).
      return Write(StatusResponse(kube::BadRequestError(
          "invalid request path \"" + r.path +
          "\": a path segment (namespace, resource or name) may not be \".\" or \"..\"")));
    }
    Route route = impl_->Classify(r);
    if (secure_ && !r.authenticated) {
      bool public_path = route.kind == Route::kVersion || route.kind == Route::kHealth;
      if (!ok || !public_path) {
        return Write(StatusResponse(kube::UnauthorizedError("Unauthorized")));
      }
    }
    req_info_ = std::move(r);
    route_ = route;
    auto delay = impl_->LatencyFor(req_info_, route_);
    if (delay.count() > 0) {
      timer_.emplace(stream_.get_executor());
      timer_->expires_after(delay);
      auto self = this->shared_from_this();
      timer_->async_wait([self](beast::error_code ec) {
        if (ec) return self->Close();
        self->Dispatch();
      });
      return;
    }
    Dispatch();
  }

  void Dispatch() {
    RouteResult rr;
    try {
      rr = impl_->Handle(req_info_, route_);
    } catch (const std::exception& e) {
      KFAAS_LOG(ERROR) << "internal error serving " << req_info_.method << " " << req_info_.path
                       << ": " << e.what();
      rr.resp = StatusResponse(kube::InternalApiError(std::string("internal error: ") + e.what()));
    }
    if (rr.is_watch) return StartWatch(std::move(rr));
    if (rr.is_log_follow) return StartLog(std::move(rr));
    Write(std::move(rr.resp));
  }

  void Write(Response r) {
    res_ = {};
    res_.version(11);
    res_.result(static_cast<bhttp::status>(r.code));
    res_.set(bhttp::field::content_type, r.content_type);
    res_.set(bhttp::field::cache_control, "no-cache, private");
    for (const auto& [k, v] : r.headers) res_.insert(k, v);
    res_.keep_alive(keep_alive_);
    res_.body() = std::move(r.body);
    res_.prepare_payload();
    auto self = this->shared_from_this();
    bhttp::async_write(stream_, res_, [self](beast::error_code ec, size_t) {
      if (!ec && self->drain_after_write_) return self->DrainAndClose();
      if (ec || !self->keep_alive_) return self->Close();
      self->Read();
    });
  }

  // After refusing a request whose body is still arriving: stop sending, read and discard
  // what the client still sends (so it can finish writing and read the response), then close.
  void DrainAndClose() {
    beast::error_code ec;
    Lowest(stream_).socket().shutdown(tcp::socket::shutdown_send, ec);
    Lowest(stream_).expires_after(std::chrono::seconds(5));
    DrainRead();
  }
  void DrainRead() {
    auto self = this->shared_from_this();
    Lowest(stream_).async_read_some(asio::buffer(peek_, sizeof(peek_)),
                                    [self](beast::error_code ec, size_t) {
                                      if (ec) return self->Close();
                                      self->DrainRead();
                                    });
  }

  // --- Watch -------------------------------------------------------------------------------

  void StartStreamHeader(const std::string& content_type, std::function<void()> then) {
    Lowest(stream_).expires_never();
    hdr_.emplace(bhttp::status::ok, 11);
    hdr_->set(bhttp::field::content_type, content_type);
    hdr_->set(bhttp::field::cache_control, "no-cache, private");
    hdr_->chunked(true);
    hdr_->keep_alive(false);
    sr_.emplace(*hdr_);
    auto self = this->shared_from_this();
    bhttp::async_write_header(stream_, *sr_, [self, then](beast::error_code ec, size_t) {
      if (ec) return self->Close();
      self->WatchForDisconnect();
      then();
    });
  }

  void WatchForDisconnect() {
    auto self = this->shared_from_this();
    stream_.async_read_some(asio::buffer(peek_, sizeof(peek_)),
                            [self](beast::error_code ec, size_t) {
                              if (ec) {
                                self->client_gone_ = true;
                                self->StopStream();
                                return;
                              }
                              self->WatchForDisconnect();
                            });
  }

  void StartWatch(RouteResult rr) {
    watch_ = std::move(rr);
    StartStreamHeader("application/json", [self = this->shared_from_this()] {
      if (self->watch_.watch_error) {
        Json ev = {{"type", "ERROR"}, {"object", *self->watch_.watch_error}};
        self->out_ = Chunk(ev.dump() + "\n") + "0\r\n\r\n";
        self->finishing_ = true;
        self->WriteOut();
        return;
      }
      std::weak_ptr<Session> weak = self;
      auto exec = self->stream_.get_executor();
      self->watch_.watcher->SetNotify([weak, exec] {
        if (auto s = weak.lock()) asio::post(exec, [s] { s->Pump(); });
      });
      self->timer_.emplace(exec);
      self->timer_->expires_after(self->watch_.timeout);
      self->timer_->async_wait([self](beast::error_code ec) {
        if (!ec) self->impl_->core().store.Unwatch(self->watch_.watcher);
        if (!ec) self->Pump();
      });
      self->Pump();
    });
  }

  // Called when the watcher has items (and after each write). `flush`: from the flush tick.
  void Pump(bool flush = false) {
    if (flush) flush_scheduled_ = false;
    if (writing_ || closed_ || finishing_ || flush_scheduled_) return;
    auto interval = impl_->cfg().watch_batch_interval;
    if (!flush && interval.count() > 0 && !watch_.watcher->closed() &&
        std::chrono::steady_clock::now() - last_send_ < interval) {
      // Sent just now: let more events gather until the next tick (the watcher does not
      // notify again until it is drained).
      flush_scheduled_ = true;
      std::weak_ptr<Session> weak = this->shared_from_this();
      auto exec = stream_.get_executor();
      impl_->AtNextFlush([weak, exec] {
        if (auto s = weak.lock()) asio::post(exec, [s] { s->Pump(true); });
      });
      return;
    }
    std::vector<WatchItem>& items = items_;  // reused: its capacity stays
    items.clear();
    bool open = watch_.watcher->Drain(&items);
    if (!open) {
      if (watch_.watcher->close_reason() == Watcher::CloseReason::kDropped) {
        impl_->core().faults.watches_dropped++;
      }
      out_ = "0\r\n\r\n";
      finishing_ = true;
      return WriteOut();
    }
    if (items.empty()) return;
    // The chunk is built in place in out_, whose capacity is kept across writes (no allocation
    // per batch): a placeholder for the chunk-size line, the events, then the size is written.
    constexpr size_t kSizeLine = 10;  // 8 hex digits + CRLF
    std::string& data = out_;
    data.assign(kSizeLine, ' ');
    const ResourceInfo& r = *watch_.resource;
    auto& api = impl_->core().api;
    for (const auto& it : items) {
      const char* type = EventTypeName(it.type);
      if (it.type == EventType::kBookmark) {
        Json meta = {{"resourceVersion", std::to_string(it.rv)}, {"creationTimestamp", nullptr}};
        if (it.initial_events_end) meta["annotations"] = {{"k8s.io/initial-events-end", "true"}};
        Json obj = {{"kind", r.kind}, {"apiVersion", r.ApiVersion()}, {"metadata", meta}};
        if (watch_.output == Output::kTable) {
          obj = {{"kind", "Table"},
                 {"apiVersion", "meta.k8s.io/v1"},
                 {"metadata", meta},
                 {"columnDefinitions", Json::array()},
                 {"rows", Json::array()}};
        } else if (watch_.output == Output::kPartial) {
          obj = {{"kind", "PartialObjectMetadata"},
                 {"apiVersion", "meta.k8s.io/v1"},
                 {"metadata", meta}};
        }
        data += R"({"type":"BOOKMARK","object":)";
        data += obj.dump();
        data += "}\n";
        continue;
      }
      ObjectPtr o = api.AtVersion(r, it.obj);
      if (watch_.output == Output::kTable) {
        auto cols =
            r.custom ? CustomResourceColumns(r.printer_columns) : BuiltinColumns(r.resource);
        Json table = BuildTable(r.resource, cols, {o->obj}, api.clock().WallNow(), watch_.include,
                                !sent_columns_);
        sent_columns_ = true;
        data += R"({"type":")";
        data += type;
        data += R"(","object":)";
        data += table.dump();
        data += "}\n";
      } else if (watch_.output == Output::kPartial) {
        Json pm = {{"kind", "PartialObjectMetadata"},
                   {"apiVersion", "meta.k8s.io/v1"},
                   {"metadata", o->obj["metadata"]}};
        data += R"({"type":")";
        data += type;
        data += R"(","object":)";
        data += pm.dump();
        data += "}\n";
      } else {
        data += R"({"type":")";
        data += type;
        data += R"(","object":)";
        data += o->bytes;
        data += "}\n";
      }
    }
    impl_->core().faults.events_sent += items.size();
    items.clear();
    char hex[kSizeLine + 1];
    snprintf(hex, sizeof(hex), "%08zx\r\n", data.size() - kSizeLine);
    data.replace(0, kSizeLine, hex, kSizeLine);
    data += "\r\n";
    last_send_ = std::chrono::steady_clock::now();
    WriteOut();
  }

  void WriteOut() {
    writing_ = true;
    auto self = this->shared_from_this();
    asio::async_write(stream_, asio::buffer(out_), [self](beast::error_code ec, size_t) {
      self->writing_ = false;
      if (ec) return self->Close();
      if (self->finishing_) return self->Close();
      if (self->watch_.is_watch) {
        self->Pump();
      } else if (self->log_.is_log_follow) {
        self->ScheduleLogPoll(std::chrono::milliseconds(0));
      }
    });
  }

  void StopStream() {
    if (watch_.watcher) impl_->core().store.Unwatch(watch_.watcher);
    if (timer_) timer_->cancel();
    if (client_gone_) Close();
  }

  // --- Log follow ----------------------------------------------------------------------------

  void StartLog(RouteResult rr) {
    log_ = std::move(rr);
    StartStreamHeader("text/plain", [self = this->shared_from_this()] {
      self->timer_.emplace(self->stream_.get_executor());
      self->log_offset_ = self->log_.log_offset;
      self->log_sent_ = static_cast<int64_t>(self->log_.log_initial.size());
      if (!self->log_.log_initial.empty()) {
        self->out_ = Chunk(self->log_.log_initial);
        return self->WriteOut();
      }
      self->ScheduleLogPoll(std::chrono::milliseconds(0));
    });
  }

  void ScheduleLogPoll(std::chrono::milliseconds delay) {
    if (closed_ || finishing_) return;
    timer_->expires_after(delay);
    auto self = this->shared_from_this();
    timer_->async_wait([self](beast::error_code ec) {
      if (ec || self->closed_) return;
      self->PollLog();
    });
  }

  void PollLog() {
    std::string data;
    {
      std::ifstream f(log_.log_path, std::ios::binary);
      if (f) {
        f.seekg(0, std::ios::end);
        int64_t size = f.tellg();
        if (size < log_offset_) log_offset_ = 0;  // truncated
        if (size > log_offset_) {
          int64_t n = size - log_offset_;
          if (log_.limit_bytes > 0) n = std::min(n, log_.limit_bytes - log_sent_);
          if (n > 0) {
            data.resize(static_cast<size_t>(n));
            f.seekg(log_offset_);
            f.read(data.data(), n);
            data.resize(static_cast<size_t>(f.gcount()));
            log_offset_ += static_cast<int64_t>(data.size());
            log_sent_ += static_cast<int64_t>(data.size());
          }
        }
      }
    }
    bool done = !impl_->core().store.Get(log_.pod) ||
                (log_.limit_bytes > 0 && log_sent_ >= log_.limit_bytes);
    if (!data.empty() || done) {
      out_ = data.empty() ? "" : Chunk(data);
      if (done) {
        out_ += "0\r\n\r\n";
        finishing_ = true;
      }
      return WriteOut();
    }
    ScheduleLogPoll(std::chrono::milliseconds(100));
  }

  void Close() {
    if (closed_) return;
    closed_ = true;
    if (watch_.watcher) impl_->core().store.Unwatch(watch_.watcher);
    if (timer_) timer_->cancel();
    beast::error_code ec;
    if constexpr (std::is_same_v<Stream, beast::ssl_stream<beast::tcp_stream>>) {
      Lowest(stream_).socket().shutdown(tcp::socket::shutdown_both, ec);
    } else {
      stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    }
    Lowest(stream_).close();
  }

  std::shared_ptr<Impl> impl_;
  Stream stream_;
  bool secure_;
  std::string cert_user_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  bhttp::request<bhttp::string_body> req_;
  bhttp::response<bhttp::string_body> res_;
  Impl::Request req_info_;
  Route route_;
  bool keep_alive_ = true;
  bool drain_after_write_ = false;
  bool closed_ = false;
  std::optional<asio::steady_timer> timer_;
  // Streaming.
  std::optional<bhttp::response<bhttp::empty_body>> hdr_;
  std::optional<bhttp::response_serializer<bhttp::empty_body>> sr_;
  RouteResult watch_;
  RouteResult log_;
  std::vector<WatchItem> items_;
  std::chrono::steady_clock::time_point last_send_{};
  bool flush_scheduled_ = false;
  std::string out_;
  bool writing_ = false;
  bool finishing_ = false;
  bool sent_columns_ = false;
  bool client_gone_ = false;
  char peek_[512];
  int64_t log_offset_ = 0;
  int64_t log_sent_ = 0;
};

}  // namespace

// ---------------------------------------------------------------------------------------------
// Impl: lifecycle

absl::Status HttpServer::Impl::Start() {
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(cfg_.bind_address, ec);
  if (ec) return absl::InvalidArgumentError("bad bind address \"" + cfg_.bind_address + "\"");
  auto listen = [&](int port, std::unique_ptr<tcp::acceptor>* acc,
                    uint16_t* bound) -> absl::Status {
    auto a = std::make_unique<tcp::acceptor>(ioc_);
    tcp::endpoint ep(addr, static_cast<uint16_t>(port));
    a->open(ep.protocol(), ec);
    if (!ec) a->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) a->bind(ep, ec);
    if (!ec) a->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return absl::UnavailableError("cannot listen on " + cfg_.bind_address + ":" +
                                    std::to_string(port) + ": " + ec.message());
    }
    *bound = a->local_endpoint().port();
    *acc = std::move(a);
    return absl::OkStatus();
  };
  if (cfg_.secure_port >= 0) {
    tls_ = std::make_unique<ssl::context>(ssl::context::tls_server);
    tls_->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                      ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    try {
      tls_->use_certificate_chain(asio::buffer(cfg_.cert_pem));
      tls_->use_private_key(asio::buffer(cfg_.key_pem), ssl::context::pem);
      tls_->add_certificate_authority(asio::buffer(cfg_.ca_pem));
    } catch (const std::exception& e) {
      return absl::InternalError(std::string("loading the serving certificate: ") + e.what());
    }
    tls_->set_verify_mode(ssl::verify_peer);
    // Unverifiable client certificates do not fail the handshake: the request is then
    // unauthenticated (401), as with the real server.
    tls_->set_verify_callback([](bool, ssl::verify_context&) { return true; });
    if (auto st = listen(cfg_.secure_port, &secure_acc_, &secure_port_); !st.ok()) return st;
  }
  if (cfg_.insecure_port >= 0) {
    if (auto st = listen(cfg_.insecure_port, &insecure_acc_, &insecure_port_); !st.ok()) return st;
  }
  if (secure_acc_) Accept(*secure_acc_, true);
  if (insecure_acc_) Accept(*insecure_acc_, false);
  for (int i = 0; i < std::max(1, cfg_.threads); ++i) {
    threads_.emplace_back([this] {
      for (;;) {
        try {
          ioc_.run();
          return;
        } catch (const std::exception& e) {
          KFAAS_LOG(ERROR) << "io thread: " << e.what();
        }
      }
    });
  }
  return absl::OkStatus();
}

void HttpServer::Impl::Stop() {
  if (stopping_.exchange(true)) return;
  asio::post(ioc_, [this] {
    beast::error_code ec;
    if (secure_acc_) secure_acc_->close(ec);
    if (insecure_acc_) insecure_acc_->close(ec);
  });
  std::vector<std::function<void()>> closers;
  {
    std::lock_guard lock(sessions_mu_);
    for (auto& [p, c] : sessions_) closers.push_back(c);
  }
  for (auto& c : closers) c();
  // Let the closes run, then stop.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (std::chrono::steady_clock::now() < deadline) {
    {
      std::lock_guard lock(sessions_mu_);
      if (sessions_.empty()) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ioc_.stop();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
  // Handlers still queued or pending own shared_ptrs to this Impl, which owns the io_context: a
  // cycle that kept the whole server alive after Stop() (found by LeakSanitizer). The
  // acceptors' close posted above may not even have run when there was no session to wait for.
  // With the threads gone, close what is left here and run the context dry.
  ioc_.restart();
  beast::error_code ec;
  if (secure_acc_) secure_acc_->close(ec);
  if (insecure_acc_) insecure_acc_->close(ec);
  closers.clear();
  {
    std::lock_guard lock(sessions_mu_);
    for (auto& [p, c] : sessions_) closers.push_back(c);
  }
  for (auto& c : closers) c();
  ioc_.run_for(std::chrono::seconds(2));
}

void HttpServer::Impl::Accept(tcp::acceptor& acc, bool secure) {
  acc.async_accept(asio::make_strand(ioc_), [this, &acc, secure, self = shared_from_this()](
                                                beast::error_code ec, tcp::socket socket) {
    if (ec) {
      if (ec == asio::error::operation_aborted || stopping_) return;
    } else if (!stopping_) {
      socket.set_option(tcp::no_delay(true), ec);
      if (secure) {
        std::make_shared<Session<beast::ssl_stream<beast::tcp_stream>>>(
            self, beast::ssl_stream<beast::tcp_stream>(beast::tcp_stream(std::move(socket)), *tls_),
            true)
            ->Start();
      } else {
        std::make_shared<Session<beast::tcp_stream>>(self, beast::tcp_stream(std::move(socket)),
                                                     false)
            ->Start();
      }
    }
    if (!stopping_) Accept(acc, secure);
  });
}

std::string HttpServer::Impl::Authenticate(const bhttp::request<bhttp::string_body>& req,
                                           const std::string& cert_user, bool* ok) const {
  *ok = true;
  auto it = req.find(bhttp::field::authorization);
  if (it != req.end()) {
    std::string v(it->value());
    if (v.size() > 7 && Lower(v.substr(0, 7)) == "bearer ") {
      std::string token = Trim(v.substr(7));
      auto t = cfg_.tokens.find(token);
      if (t != cfg_.tokens.end()) return t->second;
      *ok = false;
      return "";
    }
  }
  return cert_user;
}

std::chrono::milliseconds HttpServer::Impl::LatencyFor(const Request& req,
                                                       const Route& route) const {
  if (route.kind != Route::kResource) return std::chrono::milliseconds(0);
  bool watch = Get(req.query, "watch") == "true" || Get(req.query, "watch") == "1";
  return core_->faults.Latency(route.resource, VerbFor(req.method, route, watch));
}

// ---------------------------------------------------------------------------------------------
// Impl: routing

RouteResult HttpServer::Impl::Handle(const Request& req, const Route& route) {
  RouteResult rr;
  auto only_get = [&]() -> bool {
    if (req.method == "GET" || req.method == "HEAD") return true;
    rr.resp = StatusResponse(kube::MethodNotAllowedError(
        "the server does not allow this method on the requested resource"));
    return false;
  };
  switch (route.kind) {
    case Route::kVersion:
      if (only_get()) rr.resp = {200, "application/json", kVersionJson, {}};
      return rr;
    case Route::kHealth:
      if (only_get()) rr.resp = {200, "text/plain; charset=utf-8", "ok", {}};
      return rr;
    case Route::kFaults:
      rr.resp = Faults(req);
      return rr;
    case Route::kApi:
    case Route::kApis:
    case Route::kLegacyGroup:
    case Route::kGroupVersion:
      if (only_get()) rr.resp = Discovery(req, route);
      return rr;
    case Route::kOpenApiRoot:
    case Route::kOpenApiGv:
      if (only_get()) rr.resp = OpenApi(route);
      return rr;
    case Route::kResource:
      return HandleResource(req, route);
    case Route::kNotFound:
      break;
  }
  rr.resp = StatusResponse(NotFoundPath());
  return rr;
}

Response HttpServer::Impl::Discovery(const Request& req, const Route& route) {
  const Registry& reg = core_->registry;
  std::string accept;
  if (auto it = req.raw->find(bhttp::field::accept); it != req.raw->end()) {
    accept = std::string(it->value());
  }
  if (route.kind == Route::kApi || route.kind == Route::kApis) {
    std::string v = AggregatedVersion(accept);
    if (!v.empty()) {
      Response r;
      r.body = AggregatedDiscovery(reg, route.kind == Route::kApi, v).dump();
      r.content_type =
          "application/json;g=apidiscovery.k8s.io;v=" + v + ";as=APIGroupDiscoveryList";
      r.headers.push_back({"Vary", "Accept"});
      return r;
    }
    return JsonResponse(200,
                        route.kind == Route::kApi ? LegacyApiVersions() : LegacyGroupList(reg));
  }
  if (route.kind == Route::kLegacyGroup) {
    Json g = LegacyGroup(reg, route.group);
    if (g.is_null()) return StatusResponse(NotFoundPath());
    return JsonResponse(200, g);
  }
  Json l = LegacyResourceList(reg, route.group, route.version);
  if (l.is_null()) return StatusResponse(NotFoundPath());
  return JsonResponse(200, l);
}

Response HttpServer::Impl::OpenApi(const Route& route) {
  const Registry& reg = core_->registry;
  std::lock_guard lock(openapi_mu_);
  if (openapi_gen_ != reg.generation()) {
    openapi_cache_.clear();
    openapi_gen_ = reg.generation();
  }
  std::string key = route.kind == Route::kOpenApiRoot ? "" : route.group + "/" + route.version;
  auto it = openapi_cache_.find(key);
  if (it == openapi_cache_.end()) {
    Json doc = route.kind == Route::kOpenApiRoot
                   ? OpenApiRoot(reg)
                   : OpenApiGroupVersion(reg, route.group, route.version);
    if (doc.is_null()) return StatusResponse(NotFoundPath());
    it = openapi_cache_.emplace(key, doc.dump()).first;
  }
  Response r;
  r.body = it->second;
  if (route.kind == Route::kOpenApiGv)
    r.headers.push_back({"Etag", "\"" + ContentHash(r.body) + "\""});
  return r;
}

Response HttpServer::Impl::Faults(const Request& req) {
  if (req.secure && req.user != cfg_.admin_user) {
    return StatusResponse(kube::ForbiddenError(
        "the fault endpoint is available on the insecure port or with the admin token only"));
  }
  if (req.method == "GET") return JsonResponse(200, core_->faults.StateJson());
  if (req.method != "POST") {
    return StatusResponse(kube::MethodNotAllowedError("use GET or POST on /kfaas/faults"));
  }
  Json body = Json::parse(req.raw->body(), nullptr, false);
  if (body.is_discarded()) {
    return StatusResponse(kube::BadRequestError("the fault request body is not valid JSON"));
  }
  Faults::JsonActions actions;
  if (auto st = core_->faults.ApplyJson(body, &actions); !st.ok()) {
    return StatusResponse(kube::BadRequestError(std::string(st.message())));
  }
  if (actions.compact) core_->store.Compact();
  if (actions.drop_watches) core_->store.DropAllWatches();
  return JsonResponse(200, core_->faults.StateJson());
}

absl::StatusOr<Json> HttpServer::Impl::ParseBody(const Request& req, bool allow_patch_types,
                                                 kube::PatchType* patch_type) {
  std::string ct;
  if (auto it = req.raw->find(bhttp::field::content_type); it != req.raw->end()) {
    ct = std::string(it->value());
  }
  MediaType m = ParseMediaType(ct);
  const std::string& body = req.raw->body();
  bool yaml = false;
  if (allow_patch_types) {
    if (m.type == "application/merge-patch+json") {
      *patch_type = kube::PatchType::kMerge;
    } else if (m.type == "application/json-patch+json") {
      *patch_type = kube::PatchType::kJson;
    } else if (m.type == "application/strategic-merge-patch+json") {
      *patch_type = kube::PatchType::kStrategicMerge;
    } else if (m.type == "application/apply-patch+yaml") {
      *patch_type = kube::PatchType::kApply;
      yaml = true;
    } else {
      return kube::UnsupportedMediaTypeError(ct);
    }
  } else if (m.type.empty() || m.type == "application/json" || m.type == "*/*") {
  } else if (m.type == "application/yaml") {
    yaml = true;
  } else if (m.type == "application/vnd.kubernetes.protobuf") {
    return DecodeKubernetesProtobuf(body);
  } else {
    return kube::MakeApiError(415, "UnsupportedMediaType",
                              "the body of the request was in an unknown format - accepted media "
                              "types include: application/json, application/yaml (got " +
                                  ct + ")");
  }
  if (Trim(body).empty()) {
    return kube::BadRequestError("the request body is empty: send a JSON or YAML object");
  }
  if (yaml) {
    auto j = YamlToJson(body);
    if (!j.ok()) {
      return kube::BadRequestError("the request body is not valid YAML: " +
                                   std::string(j.status().message()));
    }
    return *j;
  }
  // Copying, comparing and serializing a JSON value recurses once per level: refuse deep
  // nesting before parsing, so a hostile body cannot overflow a server thread's stack.
  if (size_t depth = JsonNestingDepth(body); depth > kMaxJsonDepth) {
    return kube::BadRequestError("the request body is nested deeper than " +
                                 std::to_string(kMaxJsonDepth) + " levels");
  }
  Json j = Json::parse(body, nullptr, false);
  if (j.is_discarded()) {
    try {
      Json ignored = Json::parse(body);
      (void)ignored;
    } catch (const Json::parse_error& e) {
      return kube::BadRequestError(std::string("the request body is not valid JSON: ") + e.what());
    }
    return kube::BadRequestError("the request body is not valid JSON");
  }
  return j;
}

Response HttpServer::Impl::Serialize(const Request& req, const ResourceInfo& r, const Json& obj,
                                     int code, const std::vector<std::string>& warnings) {
  std::string accept;
  if (auto it = req.raw->find(bhttp::field::accept); it != req.raw->end()) {
    accept = std::string(it->value());
  }
  Negotiated n = Negotiate(accept);
  Response resp;
  resp.code = code;
  for (const auto& w : warnings) {
    resp.headers.push_back({"Warning", "299 - " + Json(w).dump()});
  }
  bool is_object = obj.value("kind", "") == r.kind;
  if (n.output == Output::kTable && is_object) {
    auto cols = r.custom ? CustomResourceColumns(r.printer_columns) : BuiltinColumns(r.resource);
    IncludeObject inc = IncludeObject::kMetadata;
    std::string io = Get(req.query, "includeObject");
    if (io == "None") inc = IncludeObject::kNone;
    if (io == "Object") inc = IncludeObject::kObject;
    resp.body = BuildTable(r.resource, cols, {obj}, core_->api.clock().WallNow(), inc, true).dump();
  } else if (n.output == Output::kPartial && is_object) {
    resp.body = Json{{"kind", "PartialObjectMetadata"},
                     {"apiVersion", "meta.k8s.io/v1"},
                     {"metadata", obj["metadata"]}}
                    .dump();
  } else if (n.output == Output::kYaml) {
    resp.content_type = "application/yaml";
    resp.body = JsonToYaml(obj);
  } else {
    resp.body = obj.dump();
  }
  return resp;
}

Response HttpServer::Impl::SerializeList(const Request& req, const ResourceInfo& r,
                                         const ListResult& list) {
  std::string accept;
  if (auto it = req.raw->find(bhttp::field::accept); it != req.raw->end()) {
    accept = std::string(it->value());
  }
  Negotiated n = Negotiate(accept);
  Json meta = {{"resourceVersion", std::to_string(list.rv)}};
  if (!list.continue_token.empty()) meta["continue"] = list.continue_token;
  if (list.remaining) meta["remainingItemCount"] = *list.remaining;
  Response resp;
  if (n.output == Output::kTable) {
    auto cols = r.custom ? CustomResourceColumns(r.printer_columns) : BuiltinColumns(r.resource);
    IncludeObject inc = IncludeObject::kMetadata;
    std::string io = Get(req.query, "includeObject");
    if (io == "None") inc = IncludeObject::kNone;
    if (io == "Object") inc = IncludeObject::kObject;
    std::vector<Json> objs;
    objs.reserve(list.items.size());
    for (const auto& o : list.items) objs.push_back(o->obj);
    resp.body =
        BuildTable(r.resource, cols, objs, core_->api.clock().WallNow(), inc, true, meta).dump();
    return resp;
  }
  if (n.output == Output::kPartial) {
    Json items = Json::array();
    for (const auto& o : list.items) {
      items.push_back({{"kind", "PartialObjectMetadata"},
                       {"apiVersion", "meta.k8s.io/v1"},
                       {"metadata", o->obj["metadata"]}});
    }
    resp.body = Json{
        {"kind", "PartialObjectMetadataList"},
        {"apiVersion", "meta.k8s.io/v1"},
        {"metadata", meta},
        {"items",
         items}}.dump();
    return resp;
  }
  if (n.output == Output::kYaml) {
    Json items = Json::array();
    for (const auto& o : list.items) items.push_back(o->obj);
    resp.content_type = "application/yaml";
    resp.body = JsonToYaml(Json{{"kind", r.list_kind},
                                {"apiVersion", r.ApiVersion()},
                                {"metadata", meta},
                                {"items", items}});
    return resp;
  }
  std::string& b = resp.body;
  size_t total = 128;
  for (const auto& o : list.items) total += o->bytes.size() + 1;
  b.reserve(total);
  b += R"({"kind":)" + Json(r.list_kind).dump() + R"(,"apiVersion":)" +
       Json(r.ApiVersion()).dump() + R"(,"metadata":)" + meta.dump() + R"(,"items":[)";
  for (size_t i = 0; i < list.items.size(); ++i) {
    if (i) b += ',';
    b += list.items[i]->bytes;
  }
  b += "]}";
  return resp;
}

RouteResult HttpServer::Impl::Log(const Request& req, const Route& route) {
  RouteResult rr;
  auto fail = [&](const absl::Status& st) {
    rr.resp = StatusResponse(st);
    return rr;
  };
  auto follow = ParseBool(req.query, "follow");
  if (!follow.ok()) return fail(follow.status());
  auto tail = ParseInt(req.query, "tailLines", -1);
  if (!tail.ok()) return fail(tail.status());
  auto limit = ParseInt(req.query, "limitBytes", 0);
  if (!limit.ok()) return fail(limit.status());
  if (*limit < 0) return fail(kube::BadRequestError("limitBytes: Invalid value: must be > 0"));
  auto path = core_->api.ResolvePodLog(route.ns, route.name, Get(req.query, "container"));
  if (!path.ok()) return fail(path.status());
  std::ifstream f(*path, std::ios::binary);
  if (!f) {
    std::string container = path->substr(path->rfind('_') + 1);
    container = container.substr(0, container.size() - 4);
    return fail(kube::BadRequestError("container \"" + container + "\" in pod \"" + route.name +
                                      "\" is waiting to start: ContainerCreating"));
  }
  std::stringstream ss;
  ss << f.rdbuf();
  std::string data = ss.str();
  int64_t start_offset = static_cast<int64_t>(data.size());
  if (*tail >= 0) {
    size_t pos = data.size();
    int64_t lines = 0;
    if (pos > 0 && data[pos - 1] == '\n') --pos;
    while (pos > 0) {
      if (data[pos - 1] == '\n') {
        if (++lines == *tail) break;
      }
      --pos;
    }
    if (*tail == 0) pos = data.size();
    data = data.substr(pos);
  }
  if (*limit > 0 && static_cast<int64_t>(data.size()) > *limit) {
    data.resize(static_cast<size_t>(*limit));
  }
  if (!*follow) {
    rr.resp = {200, "text/plain", std::move(data), {}};
    return rr;
  }
  rr.is_log_follow = true;
  rr.log_path = *path;
  rr.pod = {"/pods", route.ns, route.name};
  rr.limit_bytes = *limit;
  rr.log_initial = std::move(data);
  rr.log_offset = start_offset;
  return rr;
}

RouteResult HttpServer::Impl::HandleResource(const Request& req, const Route& route) {
  RouteResult rr;
  auto fail = [&](const absl::Status& st) {
    rr.resp = StatusResponse(st);
    return rr;
  };
  auto info = core_->api.Resolve(route.group, route.version, route.resource);
  if (!info.ok()) return fail(info.status());
  const ResourceInfo& r = **info;
  if (route.has_ns && !r.namespaced) return fail(NotFoundPath());
  std::string ns = route.ns;
  const auto& q = req.query;
  auto watch = ParseBool(q, "watch");
  if (!watch.ok()) return fail(watch.status());
  std::string verb = VerbFor(req.method, route, *watch);
  Caller caller;
  caller.user = req.user.empty() ? "system:anonymous" : req.user;
  if (auto it = req.raw->find(bhttp::field::user_agent); it != req.raw->end()) {
    caller.user_agent = std::string(it->value());
  }
  // Subresources.
  if (!route.sub.empty()) {
    if (route.sub == "log") {
      if (!r.log_subresource || verb != "get") return fail(NotFoundPath());
      return Log(req, route);
    }
    if (route.sub == "finalize" && r.resource == "namespaces" && r.group.empty()) {
      if (req.method != "PUT") {
        return fail(kube::MethodNotAllowedError("only PUT is allowed on namespaces/finalize"));
      }
      kube::PatchType pt;
      auto body = ParseBody(req, false, &pt);
      if (!body.ok()) return fail(body.status());
      Json fins = body->is_object() && body->contains("spec") && (*body)["spec"].is_object()
                      ? (*body)["spec"].value("finalizers", Json::array())
                      : Json::array();
      auto res = core_->api.Mutate(
          r, {r.StorageKey(), "", route.name},
          [&](Json& o) {
            if (o["spec"].value("finalizers", Json::array()) == fins) return false;
            o["spec"]["finalizers"] = fins;
            return true;
          },
          "namespace-finalize");
      if (!res.ok()) return fail(res.status());
      rr.resp = JsonResponse(200, (*res)->obj);
      return rr;
    }
    if (route.sub != "status" && route.sub != "scale") return fail(NotFoundPath());
  }
  if (!route.name.empty() && r.namespaced && !route.has_ns) return fail(NotFoundPath());
  if (r.namespaced && !route.has_ns && (verb == "create" || verb == "deletecollection")) {
    return fail(kube::MethodNotAllowedError(
        "the server does not allow this method on the requested resource (" + r.resource +
        " is namespaced: use /namespaces/<namespace>/" + r.resource + ")"));
  }
  auto dry = Get(q, "dryRun");
  if (!dry.empty() && dry != "All") {
    return fail(kube::BadRequestError("dryRun: Unsupported value: \"" + dry +
                                      "\": supported values: \"All\""));
  }
  auto fv = ParseFieldValidation(Get(q, "fieldValidation"));
  if (!fv.ok()) return fail(fv.status());
  WriteOpts wo;
  wo.dry_run = dry == "All";
  wo.field_manager = Get(q, "fieldManager");
  wo.validation = *fv;
  auto force = ParseBool(q, "force");
  if (!force.ok()) return fail(force.status());
  wo.force = *force;

  if (verb == "get") {
    auto obj = core_->api.Get(r, ns, route.name, route.sub, Get(q, "resourceVersion"));
    if (!obj.ok()) return fail(obj.status());
    rr.resp = Serialize(req, r, *obj, 200, {});
    return rr;
  }
  if (verb == "list" || verb == "watch") {
    if (!route.sub.empty()) return fail(NotFoundPath());
    std::string accept;
    if (auto it = req.raw->find(bhttp::field::accept); it != req.raw->end()) {
      accept = std::string(it->value());
    }
    Negotiated n = Negotiate(accept);
    if (!n.ok) {
      return fail(kube::MakeApiError(406, "NotAcceptable",
                                     "only the following media types are accepted: "
                                     "application/json, application/yaml, "
                                     "application/json;as=Table;v=v1;g=meta.k8s.io"));
    }
    if (verb == "list") {
      kube::ListOptions lo;
      lo.label_selector = Get(q, "labelSelector");
      lo.field_selector = Get(q, "fieldSelector");
      auto limit = ParseInt(q, "limit", 0);
      if (!limit.ok()) return fail(limit.status());
      lo.limit = *limit;
      lo.continue_token = Get(q, "continue");
      lo.resource_version = Get(q, "resourceVersion");
      lo.resource_version_match = Get(q, "resourceVersionMatch");
      auto list = core_->api.List(r, ns, lo);
      if (!list.ok()) return fail(list.status());
      rr.resp = SerializeList(req, r, *list);
      return rr;
    }
    WatchOpts wo2;
    wo2.label_selector = Get(q, "labelSelector");
    wo2.field_selector = Get(q, "fieldSelector");
    wo2.resource_version = Get(q, "resourceVersion");
    wo2.resource_version_match = Get(q, "resourceVersionMatch");
    wo2.name = route.name;
    auto bm = ParseBool(q, "allowWatchBookmarks");
    if (!bm.ok()) return fail(bm.status());
    wo2.allow_bookmarks = *bm;
    auto sie = ParseBool(q, "sendInitialEvents");
    if (!sie.ok()) return fail(sie.status());
    wo2.send_initial_events = *sie;
    auto timeout = ParseInt(q, "timeoutSeconds", 0);
    if (!timeout.ok()) return fail(timeout.status());
    rr.is_watch = true;
    rr.resource = *info;
    rr.output = n.output == Output::kYaml ? Output::kJson : n.output;
    std::string io = Get(q, "includeObject");
    if (io == "None") rr.include = IncludeObject::kNone;
    if (io == "Object") rr.include = IncludeObject::kObject;
    rr.timeout = *timeout > 0 ? std::chrono::seconds(*timeout) : cfg_.default_watch_timeout;
    auto w = core_->api.Watch(r, ns, wo2);
    if (!w.ok()) {
      if (kube::IsGone(w.status())) {
        rr.watch_error = kube::ToStatusJson(w.status());
        return rr;
      }
      rr.is_watch = false;
      return fail(w.status());
    }
    rr.watcher = *w;
    return rr;
  }
  if (verb == "create") {
    if (!route.name.empty() || !route.sub.empty()) {
      return fail(kube::MethodNotAllowedError(
          "the server does not allow this method on the requested resource"));
    }
    kube::PatchType pt;
    auto body = ParseBody(req, false, &pt);
    if (!body.ok()) return fail(body.status());
    auto res = core_->api.Create(r, ns, std::move(*body), wo, caller);
    if (!res.ok()) return fail(res.status());
    rr.resp = Serialize(req, r, res->object, res->code, res->warnings);
    return rr;
  }
  if (verb == "update") {
    if (route.name.empty()) {
      return fail(kube::MethodNotAllowedError(
          "the server does not allow this method on the requested resource"));
    }
    kube::PatchType pt;
    auto body = ParseBody(req, false, &pt);
    if (!body.ok()) return fail(body.status());
    auto res = core_->api.Update(r, ns, route.name, std::move(*body), route.sub, wo, caller);
    if (!res.ok()) return fail(res.status());
    rr.resp = Serialize(req, r, res->object, res->code, res->warnings);
    return rr;
  }
  if (verb == "patch") {
    if (route.name.empty()) {
      return fail(kube::MethodNotAllowedError(
          "the server does not allow this method on the requested resource"));
    }
    kube::PatchType pt = kube::PatchType::kMerge;
    auto body = ParseBody(req, true, &pt);
    if (!body.ok()) return fail(body.status());
    auto res = core_->api.Patch(r, ns, route.name, pt, *body, route.sub, wo, caller);
    if (!res.ok()) return fail(res.status());
    rr.resp = Serialize(req, r, res->object, res->code, res->warnings);
    return rr;
  }
  if (verb == "delete" || verb == "deletecollection") {
    if (!route.sub.empty()) return fail(NotFoundPath());
    DeleteOpts d;
    d.dry_run = wo.dry_run;
    d.propagation = Get(q, "propagationPolicy");
    if (q.count("gracePeriodSeconds")) {
      auto g = ParseInt(q, "gracePeriodSeconds", 0);
      if (!g.ok()) return fail(g.status());
      d.grace_period_seconds = *g;
    }
    if (q.count("orphanDependents") && d.propagation.empty()) {
      auto o = ParseBool(q, "orphanDependents");
      if (!o.ok()) return fail(o.status());
      d.propagation = *o ? "Orphan" : "Background";
    }
    if (!Trim(req.raw->body()).empty()) {
      kube::PatchType pt;
      auto body = ParseBody(req, false, &pt);
      if (!body.ok()) return fail(body.status());
      const Json& b = *body;
      if (!b.is_object()) return fail(kube::BadRequestError("DeleteOptions must be an object"));
      try {
        if (b.contains("propagationPolicy") && !b["propagationPolicy"].is_null()) {
          d.propagation = b["propagationPolicy"].get<std::string>();
        }
        if (b.contains("gracePeriodSeconds") && !b["gracePeriodSeconds"].is_null()) {
          d.grace_period_seconds = b["gracePeriodSeconds"].get<int64_t>();
        }
        if (b.contains("orphanDependents") && b["orphanDependents"].is_boolean() &&
            d.propagation.empty()) {
          d.propagation = b["orphanDependents"].get<bool>() ? "Orphan" : "Background";
        }
        if (b.contains("preconditions") && b["preconditions"].is_object()) {
          d.precondition_uid = b["preconditions"].value("uid", "");
          d.precondition_rv = b["preconditions"].value("resourceVersion", "");
        }
        if (b.contains("dryRun") && b["dryRun"].is_array() && !b["dryRun"].empty()) {
          d.dry_run = true;
        }
      } catch (const Json::exception& e) {
        return fail(kube::BadRequestError(std::string("invalid DeleteOptions: ") + e.what()));
      }
    }
    if (verb == "delete") {
      auto res = core_->api.Delete(r, ns, route.name, d, caller);
      if (!res.ok()) return fail(res.status());
      rr.resp = Serialize(req, r, res->object, res->code, res->warnings);
      return rr;
    }
    kube::ListOptions lo;
    lo.label_selector = Get(q, "labelSelector");
    lo.field_selector = Get(q, "fieldSelector");
    auto res = core_->api.DeleteCollection(r, ns, lo, d, caller);
    if (!res.ok()) return fail(res.status());
    rr.resp = JsonResponse(200, *res);
    return rr;
  }
  return fail(
      kube::MethodNotAllowedError("the server does not allow this method on the "
                                  "requested resource"));
}

// ---------------------------------------------------------------------------------------------

HttpServer::HttpServer(std::shared_ptr<ServerCore> core, HttpConfig config)
    : impl_(std::make_shared<Impl>(std::move(core), std::move(config))) {}
HttpServer::~HttpServer() { Stop(); }
absl::Status HttpServer::Start() { return impl_->Start(); }
void HttpServer::Stop() { impl_->Stop(); }
uint16_t HttpServer::secure_port() const { return impl_->secure_port(); }
uint16_t HttpServer::insecure_port() const { return impl_->insecure_port(); }

}  // namespace kfaas::local
