#include "tests/common/kube_test_server.h"

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <deque>
#include <list>
#include <optional>

namespace kfaas::kube::testing {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;

namespace {

std::string PercentDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      out.push_back(static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else if (s[i] == '+') {
      out.push_back(' ');
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

template <class Stream>
class StreamChunkWriter final : public ChunkWriter {
 public:
  StreamChunkWriter(Stream& s, const std::atomic<bool>& stopping, int fd)
      : s_(s), stopping_(stopping), fd_(fd) {}
  bool Write(const std::string& data) override {
    if (closed_ || stopping_) return false;
    beast::error_code ec;
    net::write(s_, http::make_chunk(net::buffer(data)), ec);
    if (ec) closed_ = true;
    return !closed_;
  }
  bool Closed() const override { return closed_ || stopping_; }
  void Abort() override {
    closed_ = true;
    ::shutdown(fd_, SHUT_RDWR);
  }

 private:
  Stream& s_;
  const std::atomic<bool>& stopping_;
  int fd_;
  bool closed_ = false;
};

std::string PeerCn(SSL* ssl) {
  X509* cert = SSL_get1_peer_certificate(ssl);
  if (!cert) return "";
  char buf[256] = {0};
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, buf, sizeof(buf));
  X509_free(cert);
  return buf;
}

}  // namespace

struct TestServer::Impl {
  Impl(Handler h) : acceptor(ioc), handler(std::move(h)) {}
  net::io_context ioc;
  tcp::acceptor acceptor;
  std::optional<ssl::context> ssl_ctx;
  Handler handler;
  std::thread accept_thread;
  std::mutex mu;
  std::set<int> fds;
  std::list<std::thread> conns;
  std::atomic<bool> stopping{false};
  std::atomic<int64_t>* requests = nullptr;

  template <class Stream>
  void Loop(Stream& stream, const std::string& cn, int fd) {
    beast::flat_buffer buf;
    while (!stopping) {
      http::request<http::string_body> req;
      beast::error_code ec;
      http::read(stream, buf, req, ec);
      if (ec) return;
      ++*requests;
      TestRequest tr;
      tr.method = std::string(req.method_string());
      tr.target = std::string(req.target());
      auto q = tr.target.find('?');
      tr.path = PercentDecode(tr.target.substr(0, q));
      if (q != std::string::npos) {
        std::string_view qs = std::string_view(tr.target).substr(q + 1);
        while (!qs.empty()) {
          auto amp = qs.find('&');
          std::string_view kv = qs.substr(0, amp);
          auto eq = kv.find('=');
          tr.query[PercentDecode(kv.substr(0, eq))] =
              eq == std::string_view::npos ? "" : PercentDecode(kv.substr(eq + 1));
          if (amp == std::string_view::npos) break;
          qs = qs.substr(amp + 1);
        }
      }
      for (const auto& f : req) {
        std::string name(f.name_string());
        for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        tr.headers[name] = std::string(f.value());
      }
      tr.body = req.body();
      tr.client_cn = cn;
      TestResponse resp = handler(tr);
      if (resp.close_connection) return;
      if (resp.stream) {
        http::response<http::empty_body> res{static_cast<http::status>(resp.status), 11};
        res.set(http::field::content_type, resp.content_type);
        for (const auto& [k, v] : resp.headers) res.set(k, v);
        res.chunked(true);
        http::response_serializer<http::empty_body> sr{res};
        http::write_header(stream, sr, ec);
        if (ec) return;
        StreamChunkWriter<Stream> w(stream, stopping, fd);
        resp.stream(w);
        if (w.Closed()) return;  // aborted: close without the last chunk
        net::write(stream, http::make_chunk_last(), ec);
        if (ec) return;
        continue;
      }
      http::response<http::string_body> res{static_cast<http::status>(resp.status), 11};
      res.set(http::field::content_type, resp.content_type);
      for (const auto& [k, v] : resp.headers) res.set(k, v);
      res.body() = std::move(resp.body);
      res.keep_alive(req.keep_alive());
      res.prepare_payload();
      http::write(stream, res, ec);
      if (ec || !req.keep_alive()) return;
    }
  }

  void Serve(tcp::socket sock) {
    int fd = sock.native_handle();
    {
      std::lock_guard<std::mutex> l(mu);
      fds.insert(fd);
    }
    if (ssl_ctx) {
      beast::ssl_stream<tcp::socket&> s(sock, *ssl_ctx);
      beast::error_code ec;
      s.handshake(ssl::stream_base::server, ec);
      if (!ec) Loop(s, PeerCn(s.native_handle()), fd);
    } else {
      Loop(sock, "", fd);
    }
    {
      std::lock_guard<std::mutex> l(mu);
      fds.erase(fd);
    }
    beast::error_code ec;
    sock.shutdown(tcp::socket::shutdown_both, ec);
    sock.close(ec);
  }
};

TestServer::TestServer(Handler handler, Options opts)
    : impl_(std::make_unique<Impl>(std::move(handler))), tls_(opts.tls) {
  impl_->requests = &requests_;
  if (opts.tls) {
    impl_->ssl_ctx.emplace(ssl::context::tls_server);
    auto& ctx = *impl_->ssl_ctx;
    ctx.use_certificate_chain(net::buffer(opts.pki->server_cert));
    ctx.use_private_key(net::buffer(opts.pki->server_key), ssl::context::pem);
    ctx.add_certificate_authority(net::buffer(opts.pki->ca_cert));
    ctx.set_verify_mode(opts.require_client_cert
                            ? ssl::verify_peer | ssl::verify_fail_if_no_peer_cert
                            : ssl::verify_peer);
  }
  tcp::endpoint ep(net::ip::make_address("127.0.0.1"), 0);
  impl_->acceptor.open(ep.protocol());
  impl_->acceptor.set_option(net::socket_base::reuse_address(true));
  impl_->acceptor.bind(ep);
  impl_->acceptor.listen();
  port_ = impl_->acceptor.local_endpoint().port();
  impl_->accept_thread = std::thread([this] {
    while (!impl_->stopping) {
      beast::error_code ec;
      tcp::socket sock(impl_->ioc);
      impl_->acceptor.accept(sock, ec);
      if (ec) {
        if (impl_->stopping) return;
        continue;
      }
      std::lock_guard<std::mutex> l(impl_->mu);
      impl_->conns.emplace_back(
          [this, s = std::move(sock)]() mutable { impl_->Serve(std::move(s)); });
    }
  });
}

TestServer::~TestServer() { Stop(); }

std::string TestServer::url() const {
  return std::string(tls_ ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_);
}

void TestServer::DropConnections() {
  std::lock_guard<std::mutex> l(impl_->mu);
  for (int fd : impl_->fds) ::shutdown(fd, SHUT_RDWR);
}

void TestServer::Stop() {
  if (impl_->stopping.exchange(true)) return;
  ::shutdown(impl_->acceptor.native_handle(), SHUT_RDWR);
  impl_->accept_thread.join();
  beast::error_code ec;
  impl_->acceptor.close(ec);
  DropConnections();
  std::list<std::thread> conns;
  {
    std::lock_guard<std::mutex> l(impl_->mu);
    conns.swap(impl_->conns);
  }
  for (auto& t : conns) t.join();
}

// ---------------------------------------------------------------------------------------------
// FakeApiServer

namespace {

struct ParsedPath {
  bool ok = false;
  std::string prefix;  // "/api/v1" or "/apis/g/v"
  std::string resource;
  std::string ns;
  std::string name;
  std::string sub;
  std::string Collection() const { return prefix + "|" + resource + "|" + ns; }
  std::string Key() const { return Collection() + "|" + name; }
};

ParsedPath ParsePath(const std::string& path) {
  ParsedPath p;
  std::vector<std::string> seg;
  size_t i = 1;
  while (i <= path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    if (j > i) seg.push_back(path.substr(i, j - i));
    i = j + 1;
  }
  size_t k = 0;
  if (seg.size() >= 2 && seg[0] == "api") {
    p.prefix = "/api/" + seg[1];
    k = 2;
  } else if (seg.size() >= 3 && seg[0] == "apis") {
    p.prefix = "/apis/" + seg[1] + "/" + seg[2];
    k = 3;
  } else {
    return p;
  }
  if (seg.size() >= k + 3 && seg[k] == "namespaces") {
    p.ns = seg[k + 1];
    k += 2;
  }
  if (seg.size() <= k) return p;
  p.resource = seg[k++];
  if (seg.size() > k) p.name = seg[k++];
  if (seg.size() > k) p.sub = seg[k++];
  p.ok = seg.size() == k;
  return p;
}

bool KeyInCollection(const std::string& key, const std::string& collection) {
  // key: prefix|resource|ns|name ; collection: prefix|resource|ns (ns "" = all namespaces)
  auto last = key.rfind('|');
  std::string key_coll = key.substr(0, last);
  if (key_coll == collection) return true;
  // All namespaces: collection ends with "|".
  if (!collection.empty() && collection.back() == '|') {
    auto kns = key_coll.rfind('|');
    return key_coll.substr(0, kns + 1) == collection;
  }
  return false;
}

TestResponse StatusResponse(int code, const std::string& reason, const std::string& message,
                            Json details = Json::object()) {
  Json st = {{"kind", "Status"},    {"apiVersion", "v1"}, {"metadata", Json::object()},
             {"status", "Failure"}, {"message", message}, {"reason", reason},
             {"code", code}};
  if (!details.empty()) st["details"] = details;
  TestResponse r;
  r.status = code;
  r.body = st.dump();
  return r;
}

TestResponse JsonResponse(int code, const Json& j) {
  TestResponse r;
  r.status = code;
  r.body = j.dump();
  return r;
}

bool MatchesLabels(const Json& obj, const std::string& selector) {
  if (selector.empty()) return true;
  const Json* labels = nullptr;
  if (obj.contains("metadata") && obj["metadata"].contains("labels"))
    labels = &obj["metadata"]["labels"];
  size_t pos = 0;
  while (pos <= selector.size()) {
    size_t comma = selector.find(',', pos);
    std::string term =
        selector.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    auto eq = term.find('=');
    if (eq != std::string::npos) {
      std::string k = term.substr(0, eq), v = term.substr(eq + 1);
      if (!v.empty() && v[0] == '=') v = v.substr(1);
      if (!labels || !labels->contains(k) || (*labels)[k] != v) return false;
    }
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return true;
}

bool MatchesFields(const Json& obj, const std::string& selector) {
  if (selector.empty()) return true;
  auto eq = selector.find('=');
  if (eq == std::string::npos) return true;
  std::string f = selector.substr(0, eq), v = selector.substr(eq + 1);
  if (!v.empty() && v[0] == '=') v = v.substr(1);
  if (f == "metadata.name") return obj["metadata"].value("name", "") == v;
  if (f == "metadata.namespace") return obj["metadata"].value("namespace", "") == v;
  return true;
}

int64_t ToRv(const std::string& s) {
  if (s.empty()) return 0;
  try {
    return std::stoll(s);
  } catch (...) {
    return -1;
  }
}

}  // namespace

FakeApiServer::FakeApiServer(TestServer::Options opts) {
  server_ = std::make_unique<TestServer>([this](const TestRequest& r) { return Handle(r); }, opts);
}

FakeApiServer::~FakeApiServer() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stopping_ = true;
    cv_.notify_all();
  }
  server_->Stop();
}

void FakeApiServer::DropWatches() {
  std::lock_guard<std::mutex> l(mu_);
  ++watch_generation_;
  cv_.notify_all();
}

void FakeApiServer::CloseWatchesCleanly() {
  std::lock_guard<std::mutex> l(mu_);
  ++clean_close_generation_;
  cv_.notify_all();
}

void FakeApiServer::Compact() {
  std::lock_guard<std::mutex> l(mu_);
  compacted_rv_ = rv_;
  history_.clear();
}

void FakeApiServer::FailNext(int n, int status, const std::string& method, int retry_after) {
  std::lock_guard<std::mutex> l(mu_);
  failures_.push_back({n, status, method, retry_after});
}

void FakeApiServer::RequireToken(const std::string& token) {
  std::lock_guard<std::mutex> l(mu_);
  token_ = token;
}

void FakeApiServer::SetBookmarkInterval(std::chrono::milliseconds d) {
  std::lock_guard<std::mutex> l(mu_);
  bookmark_interval_ = d;
}

int64_t FakeApiServer::ResourceVersion() const {
  std::lock_guard<std::mutex> l(mu_);
  return rv_;
}

int FakeApiServer::OpenWatches() const {
  std::lock_guard<std::mutex> l(mu_);
  return open_watches_;
}

std::vector<std::string> FakeApiServer::Log() const {
  std::lock_guard<std::mutex> l(mu_);
  return log_;
}

bool FakeApiServer::InCollection(const std::string& key, const std::string& collection) {
  return KeyInCollection(key, collection);
}

Json FakeApiServer::StoreLocked(const std::string& type, const std::string& key, Json obj) {
  ++rv_;
  obj["metadata"]["resourceVersion"] = std::to_string(rv_);
  if (type == "DELETED") {
    objects_.erase(key);
  } else {
    objects_[key] = obj;
  }
  history_.push_back({type, key, obj, rv_});
  cv_.notify_all();
  return obj;
}

Json FakeApiServer::Create(const std::string& collection_path, Json obj) {
  ParsedPath p = ParsePath(collection_path);
  std::lock_guard<std::mutex> l(mu_);
  p.name = obj["metadata"]["name"];
  if (!p.ns.empty()) obj["metadata"]["namespace"] = p.ns;
  obj["metadata"]["uid"] = "uid-" + std::to_string(++uid_);
  return StoreLocked("ADDED", p.Key(), std::move(obj));
}

Json FakeApiServer::Update(const std::string& collection_path, Json obj) {
  ParsedPath p = ParsePath(collection_path);
  std::lock_guard<std::mutex> l(mu_);
  p.name = obj["metadata"]["name"];
  auto it = objects_.find(p.Key());
  if (it == objects_.end()) return Json();
  obj["metadata"]["uid"] = it->second["metadata"]["uid"];
  if (!p.ns.empty()) obj["metadata"]["namespace"] = p.ns;
  return StoreLocked("MODIFIED", p.Key(), std::move(obj));
}

bool FakeApiServer::Delete(const std::string& collection_path, const std::string& name) {
  ParsedPath p = ParsePath(collection_path);
  std::lock_guard<std::mutex> l(mu_);
  p.name = name;
  auto it = objects_.find(p.Key());
  if (it == objects_.end()) return false;
  StoreLocked("DELETED", p.Key(), it->second);
  return true;
}

std::vector<Json> FakeApiServer::Objects(const std::string& resource) const {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<Json> out;
  for (const auto& [k, v] : objects_) {
    auto first = k.find('|');
    auto second = k.find('|', first + 1);
    if (k.substr(first + 1, second - first - 1) == resource) out.push_back(v);
  }
  return out;
}

TestResponse FakeApiServer::Handle(const TestRequest& req) {
  {
    std::lock_guard<std::mutex> l(mu_);
    log_.push_back(req.method + " " + req.target);
    if (!token_.empty() && req.Header("authorization") != "Bearer " + token_) {
      return StatusResponse(401, "Unauthorized", "Unauthorized");
    }
    for (auto& f : failures_) {
      if (f.n > 0 && (f.method.empty() || f.method == req.method)) {
        --f.n;
        if (f.status == 0) {
          TestResponse r;
          r.close_connection = true;
          return r;
        }
        TestResponse r =
            StatusResponse(f.status, f.status == 429 ? "TooManyRequests" : "InternalError",
                           "injected failure " + std::to_string(f.status));
        if (f.retry_after > 0) r.headers.emplace_back("Retry-After", std::to_string(f.retry_after));
        return r;
      }
    }
  }
  if (req.path == "/version") {
    return JsonResponse(200, {{"major", "1"}, {"minor", "32"}, {"gitVersion", "v1.32.0-fake"}});
  }
  ParsedPath p = ParsePath(req.path);
  if (!p.ok)
    return StatusResponse(404, "NotFound", "the server could not find the requested resource");
  const std::string gr = p.resource;
  if (req.method == "GET" && p.name.empty()) {
    auto w = req.query.find("watch");
    if (w != req.query.end() && (w->second == "true" || w->second == "1")) {
      return HandleWatch(req, p.Collection());
    }
    return HandleList(req, p.Collection());
  }
  std::unique_lock<std::mutex> l(mu_);
  if (req.method == "GET") {
    auto it = objects_.find(p.Key());
    if (it == objects_.end())
      return StatusResponse(404, "NotFound", gr + " \"" + p.name + "\" not found");
    return JsonResponse(200, it->second);
  }
  if (req.method == "POST") {
    Json obj = Json::parse(req.body, nullptr, false);
    if (obj.is_discarded() || !obj.is_object())
      return StatusResponse(400, "BadRequest", "bad body");
    std::string name = obj["metadata"].value("name", "");
    if (name.empty()) return StatusResponse(422, "Invalid", "metadata.name: Required value");
    p.name = name;
    if (objects_.count(p.Key())) {
      return StatusResponse(409, "AlreadyExists", gr + " \"" + name + "\" already exists",
                            {{"name", name}, {"kind", p.resource}});
    }
    if (!p.ns.empty()) obj["metadata"]["namespace"] = p.ns;
    obj["metadata"]["uid"] = "uid-" + std::to_string(++uid_);
    return JsonResponse(201, StoreLocked("ADDED", p.Key(), std::move(obj)));
  }
  auto it = objects_.find(p.Key());
  if (req.method == "PUT") {
    Json obj = Json::parse(req.body, nullptr, false);
    if (obj.is_discarded() || !obj.is_object())
      return StatusResponse(400, "BadRequest", "bad body");
    if (it == objects_.end())
      return StatusResponse(404, "NotFound", gr + " \"" + p.name + "\" not found");
    std::string rv = obj["metadata"].value("resourceVersion", "");
    if (!rv.empty() && rv != it->second["metadata"].value("resourceVersion", "")) {
      return StatusResponse(409, "Conflict",
                            "Operation cannot be fulfilled on " + gr + " \"" + p.name +
                                "\": the object has been modified; please apply your changes to "
                                "the latest version and try again",
                            {{"name", p.name}, {"kind", p.resource}});
    }
    Json stored = it->second;
    if (p.sub == "status") {
      stored["status"] = obj.value("status", Json::object());
    } else {
      obj["metadata"]["uid"] = stored["metadata"]["uid"];
      if (!p.ns.empty()) obj["metadata"]["namespace"] = p.ns;
      stored = std::move(obj);
    }
    return JsonResponse(200, StoreLocked("MODIFIED", p.Key(), std::move(stored)));
  }
  if (req.method == "PATCH") {
    Json patch = Json::parse(req.body, nullptr, false);
    if (patch.is_discarded()) return StatusResponse(400, "BadRequest", "bad patch");
    std::string ct = req.Header("content-type");
    if (it == objects_.end()) {
      if (ct.find("apply-patch") != std::string::npos) {
        if (!p.ns.empty()) patch["metadata"]["namespace"] = p.ns;
        patch["metadata"]["uid"] = "uid-" + std::to_string(++uid_);
        return JsonResponse(201, StoreLocked("ADDED", p.Key(), std::move(patch)));
      }
      return StatusResponse(404, "NotFound", gr + " \"" + p.name + "\" not found");
    }
    Json obj = it->second;
    try {
      if (ct.find("json-patch") != std::string::npos) {
        obj = obj.patch(patch);
      } else {
        obj.merge_patch(patch);
      }
    } catch (const std::exception& e) {
      return StatusResponse(422, "Invalid", e.what());
    }
    return JsonResponse(200, StoreLocked("MODIFIED", p.Key(), std::move(obj)));
  }
  if (req.method == "DELETE") {
    if (it == objects_.end())
      return StatusResponse(404, "NotFound", gr + " \"" + p.name + "\" not found");
    Json opts = Json::parse(req.body.empty() ? "{}" : req.body, nullptr, false);
    if (opts.is_object() && opts.contains("preconditions")) {
      auto pre = opts["preconditions"];
      if (pre.contains("resourceVersion") &&
          pre["resourceVersion"] != it->second["metadata"]["resourceVersion"]) {
        return StatusResponse(
            409, "Conflict",
            "Operation cannot be fulfilled on " + gr + " \"" + p.name + "\": precondition failed");
      }
    }
    return JsonResponse(200, StoreLocked("DELETED", p.Key(), it->second));
  }
  return StatusResponse(405, "MethodNotAllowed", "method not allowed");
}

TestResponse FakeApiServer::HandleList(const TestRequest& req, const std::string& collection) {
  std::lock_guard<std::mutex> l(mu_);
  auto get = [&](const char* k) {
    auto it = req.query.find(k);
    return it == req.query.end() ? std::string() : it->second;
  };
  int64_t limit = get("limit").empty() ? 0 : std::stoll(get("limit"));
  std::string cont = get("continue");
  std::string after;
  int64_t list_rv = rv_;
  if (!cont.empty()) {
    auto slash = cont.find('/');
    list_rv = ToRv(cont.substr(0, slash));
    after = cont.substr(slash + 1);
    if (list_rv < compacted_rv_) {
      return StatusResponse(410, "Expired",
                            "The provided continue parameter is too old to display a consistent "
                            "list result. You can start a new list without the continue "
                            "parameter.");
    }
  }
  Json items = Json::array();
  std::string last;
  bool more = false;
  std::string coll = collection;
  for (auto it = after.empty() ? objects_.begin() : objects_.upper_bound(after);
       it != objects_.end(); ++it) {
    if (!KeyInCollection(it->first, coll)) continue;
    if (!MatchesLabels(it->second, get("labelSelector")) ||
        !MatchesFields(it->second, get("fieldSelector")))
      continue;
    if (limit > 0 && static_cast<int64_t>(items.size()) >= limit) {
      more = true;
      break;
    }
    items.push_back(it->second);
    last = it->first;
  }
  Json list = {{"kind", "List"},
               {"apiVersion", "v1"},
               {"metadata", {{"resourceVersion", std::to_string(list_rv)}}},
               {"items", std::move(items)}};
  if (more) list["metadata"]["continue"] = std::to_string(list_rv) + "/" + last;
  return JsonResponse(200, list);
}

TestResponse FakeApiServer::HandleWatch(const TestRequest& req, const std::string& collection) {
  auto get = [&](const char* k) {
    auto it = req.query.find(k);
    return it == req.query.end() ? std::string() : it->second;
  };
  std::string rv_param = get("resourceVersion");
  std::string labels = get("labelSelector");
  std::string fields = get("fieldSelector");
  bool bookmarks = get("allowWatchBookmarks") == "true";
  int timeout_s = get("timeoutSeconds").empty() ? 0 : std::stoi(get("timeoutSeconds"));
  TestResponse r;
  r.stream = [=, this](ChunkWriter& w) {
    std::unique_lock<std::mutex> l(mu_);
    ++open_watches_;
    struct Guard {
      FakeApiServer* s;
      ~Guard() { --s->open_watches_; }
    } guard{this};
    const int64_t gen = watch_generation_;
    const int64_t clean_gen = clean_close_generation_;
    auto deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s > 0 ? timeout_s : 3600);
    auto send = [&](const std::string& type, const Json& obj) {
      std::string line = Json{{"type", type}, {"object", obj}}.dump() + "\n";
      l.unlock();
      bool ok = w.Write(line);
      l.lock();
      return ok;
    };
    int64_t from = ToRv(rv_param);
    int64_t last_sent = from;
    if (from > 0 && from < compacted_rv_) {
      send("ERROR", {{"kind", "Status"},
                     {"apiVersion", "v1"},
                     {"metadata", Json::object()},
                     {"status", "Failure"},
                     {"message", "too old resource version: " + std::to_string(from) + " (" +
                                     std::to_string(compacted_rv_) + ")"},
                     {"reason", "Expired"},
                     {"code", 410}});
      return;
    }
    if (from <= 0) {
      std::vector<Json> initial;
      for (const auto& [k, v] : objects_) {
        if (KeyInCollection(k, collection) && MatchesLabels(v, labels) && MatchesFields(v, fields))
          initial.push_back(v);
      }
      last_sent = rv_;
      for (const auto& obj : initial) {
        if (!send("ADDED", obj)) return;
      }
    }
    auto next_bookmark = std::chrono::steady_clock::now() + bookmark_interval_;
    while (true) {
      if (stopping_ || watch_generation_ != gen) {
        w.Abort();
        return;
      }
      if (clean_close_generation_ != clean_gen) return;
      if (last_sent < compacted_rv_) {
        // History this watch had not sent yet was compacted away: the watch cache gives up.
        send("ERROR", {{"kind", "Status"},
                       {"apiVersion", "v1"},
                       {"metadata", Json::object()},
                       {"status", "Failure"},
                       {"message", "too old resource version: " + std::to_string(last_sent) + " (" +
                                       std::to_string(compacted_rv_) + ")"},
                       {"reason", "Expired"},
                       {"code", 410}});
        return;
      }
      // Events after last_sent, in order (history is sorted by rv).
      auto first = std::upper_bound(history_.begin(), history_.end(), last_sent,
                                    [](int64_t rv, const Event& e) { return rv < e.rv; });
      std::vector<Event> pending;
      for (auto it = first; it != history_.end(); ++it) {
        if (KeyInCollection(it->key, collection)) pending.push_back(*it);
      }
      if (first != history_.end()) last_sent = history_.back().rv;
      for (const auto& e : pending) {
        bool match = MatchesLabels(e.object, labels) && MatchesFields(e.object, fields);
        if (match && !send(e.type, e.object)) return;
      }
      if (first != history_.end()) continue;
      auto now = std::chrono::steady_clock::now();
      if (now >= deadline) return;
      if (bookmarks && bookmark_interval_.count() > 0 && now >= next_bookmark) {
        last_sent = std::max(last_sent, rv_);
        if (!send("BOOKMARK", {{"kind", "Bookmark"},
                               {"apiVersion", "v1"},
                               {"metadata", {{"resourceVersion", std::to_string(last_sent)}}}}))
          return;
        next_bookmark = std::chrono::steady_clock::now() + bookmark_interval_;
        continue;
      }
      auto wake = deadline;
      if (bookmarks && bookmark_interval_.count() > 0) wake = std::min(wake, next_bookmark);
      cv_.wait_until(l, std::min(wake, now + std::chrono::milliseconds(200)));
      if (w.Closed()) return;
    }
  };
  return r;
}

}  // namespace kfaas::kube::testing
