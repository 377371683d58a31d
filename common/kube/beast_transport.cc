#include "common/kube/beast_transport.h"

#include <openssl/ssl.h>
#include <poll.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <limits>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/kube/tls.h"

namespace kfaas::kube {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

namespace {

struct Url {
  bool tls = false;
  std::string host;  // without brackets
  std::string port;
  std::string prefix;  // path prefix without a trailing '/'
  std::string host_header;
};

absl::StatusOr<Url> ParseUrl(const std::string& base) {
  Url u;
  std::string rest;
  if (base.rfind("https://", 0) == 0) {
    u.tls = true;
    rest = base.substr(8);
  } else if (base.rfind("http://", 0) == 0) {
    rest = base.substr(7);
  } else {
    return absl::InvalidArgumentError("server URL " + base + ": the scheme must be http or https");
  }
  size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  if (slash != std::string::npos) u.prefix = rest.substr(slash);
  while (!u.prefix.empty() && u.prefix.back() == '/') u.prefix.pop_back();
  u.host_header = authority;
  if (!authority.empty() && authority[0] == '[') {
    size_t close = authority.find(']');
    if (close == std::string::npos) return absl::InvalidArgumentError("bad IPv6 host in " + base);
    u.host = authority.substr(1, close - 1);
    if (close + 1 < authority.size() && authority[close + 1] == ':') {
      u.port = authority.substr(close + 2);
    }
  } else {
    size_t colon = authority.rfind(':');
    u.host = authority.substr(0, colon);
    if (colon != std::string::npos) u.port = authority.substr(colon + 1);
  }
  if (u.host.empty()) return absl::InvalidArgumentError("no host in server URL " + base);
  if (u.port.empty()) u.port = u.tls ? "443" : "80";
  return u;
}

// Boost 1.74 compares a Content-Length with an unset (boost::none) limit as exceeding it.
constexpr std::uint64_t kNoBodyLimit = std::numeric_limits<std::uint64_t>::max();

int64_t Millis(Duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

// What every connection shares; kept alive by each connection (a watch may outlive the
// transport that opened it).
struct Shared {
  TransportConfig cfg;
  Url url;
  std::optional<ssl::context> ssl_ctx;

  // "GET https://host:port/api/v1/pods" (no query) for messages.
  std::string Describe(const HttpRequest& req) const {
    std::string target = req.target;
    auto q = target.find('?');
    if (q != std::string::npos) target.resize(q);
    return req.method + " " + cfg.base_url + target;
  }

  absl::Status IoError(const HttpRequest& req, const char* doing, const error_code& ec,
                       Duration timeout) const {
    if (ec == beast::error::timeout) {
      return absl::DeadlineExceededError(Describe(req) + ": no response within " +
                                         std::to_string(Millis(timeout)) + " ms (" + doing + ")");
    }
    return absl::UnavailableError(Describe(req) + ": " + doing + ": " + ec.message());
  }
};

// One HTTP(S) connection driven synchronously: every operation runs the private io_context
// until it completes (timeouts through beast::tcp_stream's expiry).
class Conn {
 public:
  explicit Conn(std::shared_ptr<const Shared> shared) : sh_(std::move(shared)) {}
  ~Conn() { Close(); }

  bool IsOpen() const { return tls_.has_value() || plain_.has_value(); }

  // Open, and the server has not closed it meanwhile (nor, on plain HTTP, sent anything
  // unasked). A TLS 1.3 server sends session tickets after the handshake: readable bytes on a
  // TLS connection are fine (OpenSSL consumes them on the next read), a FIN or reset is not.
  bool Usable() {
    if (!IsOpen()) return false;
    if (Fd() < 0) {  // closed by Cancel()
      Close();
      return false;
    }
    pollfd p{Fd(), POLLIN | POLLRDHUP, 0};
    if (::poll(&p, 1, 0) == 0) return true;
    bool dead = (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0;
    if (!dead && tls_) return true;
    Close();
    return false;
  }

  void Close() {
    CloseSocket();
    tls_.reset();
    plain_.reset();
    buffer_.clear();
  }

  // Thread-safe: makes a blocked operation return promptly (and every later one fail). Only the
  // socket is closed here: the blocked read is still pending on the stream object, which must
  // outlive it (destroying it from this handler was a use-after-free found by ASan).
  void Cancel() {
    cancelled_.store(true);
    asio::post(ioc_, [this] { CloseSocket(); });
  }
  bool cancelled() const { return cancelled_.load(); }

  absl::Status Connect(const HttpRequest& req, Duration timeout) {
    Close();
    const Url& url = sh_->url;
    const TransportConfig& cfg = sh_->cfg;
    error_code ec;
    tcp::resolver resolver(ioc_);
    auto endpoints = resolver.resolve(url.host, url.port, ec);
    if (ec) {
      return NotSentError(sh_->Describe(req) + ": cannot connect: resolving " + url.host + ": " +
                          ec.message());
    }
    beast::tcp_stream stream(ioc_);
    stream.expires_after(timeout);
    error_code cec;
    stream.async_connect(endpoints, [&](error_code e, const tcp::endpoint&) { cec = e; });
    RunUntilDone();
    if (cec) return NotSentError(sh_->Describe(req) + ": cannot connect: " + cec.message());
    stream.socket().set_option(tcp::no_delay(true), ec);
    if (!url.tls) {
      stream.expires_never();
      plain_.emplace(std::move(stream));
      return absl::OkStatus();
    }
    tls_.emplace(std::move(stream), const_cast<ssl::context&>(*sh_->ssl_ctx));
    const std::string& name = cfg.tls_server_name.empty() ? url.host : cfg.tls_server_name;
    error_code addr_ec;
    asio::ip::make_address(name, addr_ec);
    if (addr_ec) SSL_set_tlsext_host_name(tls_->native_handle(), name.c_str());  // SNI: names only
    if (!cfg.insecure_skip_tls_verify) {
      tls_->set_verify_callback(ssl::host_name_verification(name));
    }
    beast::get_lowest_layer(*tls_).expires_after(timeout);
    error_code hec;
    tls_->async_handshake(ssl::stream_base::client, [&](error_code e) { hec = e; });
    RunUntilDone();
    if (hec) {
      Close();
      if (hec.category() == asio::error::get_ssl_category()) {
        return absl::FailedPreconditionError(
            sh_->Describe(req) + ": TLS handshake failed (" + hec.message() +
            "): the server certificate did not verify against the configured certificate "
            "authority and server name (certificate-authority, tls-server-name), or the server "
            "refused the client certificate");
      }
      return NotSentError(sh_->Describe(req) +
                          ": cannot connect: TLS handshake failed: " + hec.message());
    }
    beast::get_lowest_layer(*tls_).expires_never();
    return absl::OkStatus();
  }

  absl::Status Write(const HttpRequest& in, Duration timeout) {
    http::request<http::string_body> req;
    req.method_string(in.method);
    req.target(sh_->url.prefix + in.target);
    req.version(11);
    req.set(http::field::host, sh_->url.host_header);
    for (const auto& [k, v] : in.headers) req.set(k, v);
    req.body() = in.body;
    req.prepare_payload();
    error_code ec;
    With([&](auto& stream, beast::tcp_stream& lowest) {
      lowest.expires_after(timeout);
      http::async_write(stream, req, [&](error_code e, size_t) { ec = e; });
    });
    if (!IsOpen()) ec = asio::error::not_connected;
    if (ec) return sh_->IoError(in, "sending the request", ec, timeout);
    return absl::OkStatus();
  }

  // Reads a whole response. *got_bytes: any of it arrived.
  absl::StatusOr<HttpResponse> ReadResponse(const HttpRequest& in, Duration timeout,
                                            bool* got_bytes) {
    http::response_parser<http::string_body> parser;
    parser.body_limit(kNoBodyLimit);
    parser.header_limit(1u << 20);
    if (in.method == "HEAD") parser.skip(true);
    error_code ec;
    With([&](auto& stream, beast::tcp_stream& lowest) {
      lowest.expires_after(timeout);
      http::async_read(stream, buffer_, parser, [&](error_code e, size_t) { ec = e; });
    });
    *got_bytes = parser.got_some() || buffer_.size() > 0;
    if (!IsOpen()) ec = asio::error::not_connected;
    if (ec) return sh_->IoError(in, "reading the response", ec, timeout);
    auto res = parser.release();
    HttpResponse out = Headers(res);
    out.body = std::move(res.body());
    if (!res.keep_alive()) Close();
    return out;
  }

  // Streams: the header, then body pieces as they arrive.
  absl::Status ReadHeader(const HttpRequest& in, http::response_parser<http::buffer_body>& parser,
                          Duration timeout) {
    error_code ec;
    With([&](auto& stream, beast::tcp_stream& lowest) {
      lowest.expires_after(timeout);
      http::async_read_header(stream, buffer_, parser, [&](error_code e, size_t) { ec = e; });
    });
    if (!IsOpen()) ec = asio::error::not_connected;
    if (ec) return sh_->IoError(in, "reading the response header", ec, timeout);
    return absl::OkStatus();
  }
  // Returns the number of body bytes put in `data` (0 with OK at the end of the body).
  absl::StatusOr<size_t> ReadSome(const HttpRequest& in,
                                  http::response_parser<http::buffer_body>& parser, char* data,
                                  size_t size, Duration timeout) {
    while (!parser.is_done()) {
      if (cancelled()) return absl::CancelledError("stream cancelled");
      parser.get().body().data = data;
      parser.get().body().size = size;
      error_code ec;
      With([&](auto& stream, beast::tcp_stream& lowest) {
        lowest.expires_after(timeout);
        http::async_read_some(stream, buffer_, parser, [&](error_code e, size_t) { ec = e; });
      });
      if (ec == http::error::need_buffer) ec = {};
      if (ec) {
        if (cancelled()) return absl::CancelledError("stream cancelled");
        return sh_->IoError(in, "reading the response body", ec, timeout);
      }
      size_t n = size - parser.get().body().size;
      if (n > 0) return n;
    }
    return size_t{0};
  }

  template <class Body>
  static HttpResponse Headers(const http::response<Body>& res) {
    HttpResponse out;
    out.status = res.result_int();
    out.headers.reserve(std::distance(res.begin(), res.end()));
    for (const auto& f : res) {
      out.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
    }
    return out;
  }

 private:
  // Starts an operation on the open stream (TLS or plain) and runs it to completion.
  template <class Start>
  void With(Start&& start) {
    if (tls_) {
      start(*tls_, beast::get_lowest_layer(*tls_));
    } else if (plain_) {
      start(*plain_, *plain_);
    } else {
      return;
    }
    RunUntilDone();
    if (tls_) beast::get_lowest_layer(*tls_).expires_never();
    if (plain_) plain_->expires_never();
  }

  void RunUntilDone() {
    ioc_.restart();
    ioc_.run();
  }

  void CloseSocket() {
    error_code ignored;
    if (tls_) beast::get_lowest_layer(*tls_).socket().close(ignored);
    if (plain_) plain_->socket().close(ignored);
  }

  tcp::socket::native_handle_type Fd() {
    if (tls_) return beast::get_lowest_layer(*tls_).socket().native_handle();
    return plain_->socket().native_handle();
  }

  std::shared_ptr<const Shared> sh_;
  asio::io_context ioc_{1};
  std::optional<beast::ssl_stream<beast::tcp_stream>> tls_;
  std::optional<beast::tcp_stream> plain_;
  beast::flat_buffer buffer_;
  std::atomic<bool> cancelled_{false};
};

// A streamed response on its own connection.
class BeastStream : public ResponseStream {
 public:
  BeastStream(std::unique_ptr<Conn> conn, HttpRequest req, Duration timeout)
      : conn_(std::move(conn)), req_(std::move(req)), timeout_(timeout) {
    req_.body.clear();
    parser_.body_limit(kNoBodyLimit);
    parser_.header_limit(1u << 20);
  }
  ~BeastStream() override { conn_->Close(); }

  absl::Status Start(const HttpRequest& req, Duration header_timeout) {
    if (auto st = conn_->Write(req, header_timeout); !st.ok()) return st;
    if (auto st = conn_->ReadHeader(req, parser_, header_timeout); !st.ok()) return st;
    head_ = Conn::Headers(parser_.get());
    return absl::OkStatus();
  }
  int status() const override { return head_.status; }
  std::string Header(std::string_view name) const override { return head_.Header(name); }
  bool Read(std::string* chunk) override {
    chunk->clear();
    if (done_) return false;
    auto n = conn_->ReadSome(req_, parser_, buf_.data(), buf_.size(), timeout_);
    if (!n.ok() || *n == 0) {
      done_ = true;
      std::lock_guard<std::mutex> l(mu_);
      if (conn_->cancelled()) {
        error_ = absl::CancelledError("stream cancelled");
      } else if (!n.ok()) {
        error_ = n.status();
      }
      return false;
    }
    chunk->assign(buf_.data(), *n);
    return true;
  }
  void Cancel() override { conn_->Cancel(); }
  absl::Status error() const override {
    std::lock_guard<std::mutex> l(mu_);
    return error_;
  }

 private:
  std::unique_ptr<Conn> conn_;
  std::vector<char> buf_ = std::vector<char>(64 * 1024);
  HttpRequest req_;  // for messages
  const Duration timeout_;
  http::response_parser<http::buffer_body> parser_;
  HttpResponse head_;
  bool done_ = false;  // Read() is single-threaded
  mutable std::mutex mu_;
  absl::Status error_;
};

}  // namespace

class BeastTransport::Impl {
 public:
  Impl(std::shared_ptr<Shared> shared, BeastTransportOptions opts)
      : sh_(std::move(shared)), opts_(opts) {}

  static absl::Status InitTls(Shared& sh) {
    const TransportConfig& cfg = sh.cfg;
    sh.ssl_ctx.emplace(ssl::context::tls_client);
    ssl::context& ctx = *sh.ssl_ctx;
    ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                    ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    error_code ec;
    if (cfg.ca_pem.empty()) {
      ctx.set_default_verify_paths(ec);
    } else if (auto st = SetTrustedCas(ctx.native_handle(), cfg.ca_pem); !st.ok()) {
      return absl::InvalidArgumentError("TLS configuration for " + cfg.base_url + ": " +
                                        std::string(st.message()));
    }
    if (!cfg.client_cert_pem.empty()) {
      ctx.use_certificate_chain(
          asio::buffer(cfg.client_cert_pem.data(), cfg.client_cert_pem.size()), ec);
      if (!ec) {
        ctx.use_private_key(asio::buffer(cfg.client_key_pem.data(), cfg.client_key_pem.size()),
                            ssl::context::pem, ec);
      }
      if (ec) {
        return absl::InvalidArgumentError("TLS configuration for " + cfg.base_url +
                                          ": client certificate/key: " + ec.message());
      }
    }
    ctx.set_verify_mode(cfg.insecure_skip_tls_verify ? ssl::verify_none : ssl::verify_peer);
    return absl::OkStatus();
  }

  Duration TimeoutFor(const HttpRequest& req) const {
    return req.timeout > Duration::zero() ? req.timeout : sh_->cfg.timeout;
  }

  // A pooled connection still usable, or nullptr.
  std::unique_ptr<Conn> TakeIdle() {
    while (true) {
      std::unique_ptr<Conn> c;
      {
        std::lock_guard<std::mutex> l(mu_);
        if (idle_.empty()) return nullptr;
        c = std::move(idle_.back());
        idle_.pop_back();
      }
      if (c->Usable()) return c;
    }
  }

  void PutIdle(std::unique_ptr<Conn> c) {
    if (!c->IsOpen()) return;
    std::lock_guard<std::mutex> l(mu_);
    if (idle_.size() < opts_.max_idle_connections) idle_.push_back(std::move(c));
  }

  absl::StatusOr<std::unique_ptr<Conn>> Open(const HttpRequest& req, Duration timeout) {
    auto c = std::make_unique<Conn>(sh_);
    if (auto st = c->Connect(req, std::min(timeout, sh_->cfg.timeout)); !st.ok()) return st;
    opened_.fetch_add(1);
    return c;
  }

  absl::Status Warm() {
    if (auto c = TakeIdle()) {
      PutIdle(std::move(c));
      return absl::OkStatus();
    }
    HttpRequest probe;
    probe.method = "CONNECT";
    auto c = Open(probe, sh_->cfg.timeout);
    if (!c.ok()) return c.status();
    PutIdle(std::move(*c));
    return absl::OkStatus();
  }

  absl::StatusOr<HttpResponse> RoundTrip(const HttpRequest& req) {
    const Duration timeout = TimeoutFor(req);
    for (int attempt = 0;; ++attempt) {
      std::unique_ptr<Conn> conn = attempt == 0 ? TakeIdle() : nullptr;
      const bool reused = conn != nullptr;
      if (!conn) {
        auto opened = Open(req, timeout);
        if (!opened.ok()) return opened.status();
        conn = std::move(*opened);
      }
      bool got_bytes = false;
      absl::Status st = conn->Write(req, timeout);
      const bool written = st.ok();
      absl::StatusOr<HttpResponse> r =
          written ? conn->ReadResponse(req, timeout, &got_bytes) : absl::StatusOr<HttpResponse>(st);
      if (r.ok()) {
        PutIdle(std::move(conn));
        return r;
      }
      conn->Close();
      // A reused connection the server closed just as it was taken: the request was not
      // processed (nothing came back). Resend once on a fresh one, unless it was a POST that
      // reached the server whole (it might have been processed).
      if (reused && attempt == 0 && !got_bytes && !absl::IsDeadlineExceeded(r.status()) &&
          (!written || req.method != "POST")) {
        continue;
      }
      return r.status();
    }
  }

  absl::StatusOr<std::unique_ptr<ResponseStream>> Stream(const HttpRequest& req) {
    const Duration timeout = TimeoutFor(req);
    const Duration header_timeout = std::min(timeout, sh_->cfg.timeout);
    auto conn = Open(req, header_timeout);
    if (!conn.ok()) return conn.status();
    auto s = std::make_unique<BeastStream>(std::move(*conn), req, timeout);
    if (auto st = s->Start(req, header_timeout); !st.ok()) return st;
    return std::unique_ptr<ResponseStream>(std::move(s));
  }

  int64_t connections() const { return opened_.load(); }
  size_t idle() const {
    std::lock_guard<std::mutex> l(mu_);
    return idle_.size();
  }

 private:
  const std::shared_ptr<const Shared> sh_;
  const BeastTransportOptions opts_;
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Conn>> idle_;  // most recently used last
  std::atomic<int64_t> opened_{0};
};

absl::StatusOr<std::shared_ptr<BeastTransport>> BeastTransport::New(const TransportConfig& config,
                                                                    BeastTransportOptions options) {
  auto url = ParseUrl(config.base_url);
  if (!url.ok()) return url.status();
  auto shared = std::make_shared<Shared>();
  shared->cfg = config;
  shared->url = std::move(*url);
  if (shared->url.tls) {
    if (auto st = Impl::InitTls(*shared); !st.ok()) return st;
  }
  if (options.max_idle_connections == 0) options.max_idle_connections = 1;
  auto impl = std::make_unique<Impl>(std::move(shared), options);
  return std::shared_ptr<BeastTransport>(new BeastTransport(std::move(impl)));
}

BeastTransport::BeastTransport(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
BeastTransport::~BeastTransport() = default;

absl::StatusOr<HttpResponse> BeastTransport::RoundTrip(const HttpRequest& req) {
  return impl_->RoundTrip(req);
}

absl::StatusOr<std::unique_ptr<ResponseStream>> BeastTransport::Stream(const HttpRequest& req) {
  return impl_->Stream(req);
}

absl::Status BeastTransport::Warm() { return impl_->Warm(); }

int64_t BeastTransport::connections_opened() const { return impl_->connections(); }

size_t BeastTransport::idle_connections() const { return impl_->idle(); }

absl::StatusOr<std::shared_ptr<Transport>> NewTransport(std::string_view name,
                                                        const TransportConfig& config) {
  if (name == "beast") {
    auto t = BeastTransport::New(config);
    if (!t.ok()) return t.status();
    return std::shared_ptr<Transport>(std::move(*t));
  }
  if (name == "cpprest") return NewCpprestTransport(config);
  return absl::InvalidArgumentError("unknown Kubernetes client transport \"" + std::string(name) +
                                    "\": use beast or cpprest");
}

}  // namespace kfaas::kube
