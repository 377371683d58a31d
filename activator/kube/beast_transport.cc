#include "activator/kube/beast_transport.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
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
#include <optional>
#include <string>

#include "common/base/log.h"

namespace kfaas::activator {

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
    return absl::InvalidArgumentError("API server URL \"" + base +
                                      "\" must start with https:// or http://");
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
  if (u.host.empty()) return absl::InvalidArgumentError("no host in API server URL " + base);
  if (u.port.empty()) u.port = u.tls ? "443" : "80";
  return u;
}

absl::Status AddCas(ssl::context& ctx, const std::string& pem) {
  X509_STORE* store = SSL_CTX_get_cert_store(ctx.native_handle());
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  int added = 0;
  while (X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
    X509_STORE_add_cert(store, cert);
    X509_free(cert);
    ++added;
  }
  BIO_free(bio);
  ERR_clear_error();
  if (added == 0) {
    return absl::InvalidArgumentError("no PEM certificate in the certificate authority data");
  }
  return absl::OkStatus();
}

}  // namespace

// One HTTP(S) connection driven synchronously: every operation runs the private io_context
// until it completes (timeouts through beast::tcp_stream's expiry).
class Conn {
 public:
  Conn(const kube::TransportConfig& cfg, const Url& url, ssl::context* ssl_ctx)
      : cfg_(cfg), url_(url), ssl_ctx_(ssl_ctx) {}
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
  }

  // Thread-safe: makes a blocked operation return promptly (and every later one fail). Only the
  // socket is closed here: the blocked read is still pending on the stream object, which must
  // outlive it (destroying it from this handler was a use-after-free found by ASan).
  void Cancel() {
    cancelled_.store(true);
    asio::post(ioc_, [this] { CloseSocket(); });
  }
  bool cancelled() const { return cancelled_.load(); }

  std::string Where() const { return cfg_.base_url; }

  absl::Status Connect(Duration timeout) {
    Close();
    error_code ec;
    tcp::resolver resolver(ioc_);
    auto endpoints = resolver.resolve(url_.host, url_.port, ec);
    if (ec) return kube::NotSentError("resolving " + url_.host + ": " + ec.message());
    beast::tcp_stream stream(ioc_);
    stream.expires_after(timeout);
    error_code cec;
    stream.async_connect(endpoints, [&](error_code e, const tcp::endpoint&) { cec = e; });
    RunUntilDone();
    if (cec) return kube::NotSentError("connecting to " + Where() + ": " + cec.message());
    stream.socket().set_option(tcp::no_delay(true), ec);
    if (!url_.tls) {
      stream.expires_never();
      plain_.emplace(std::move(stream));
      return absl::OkStatus();
    }
    tls_.emplace(std::move(stream), *ssl_ctx_);
    const std::string& name = cfg_.tls_server_name.empty() ? url_.host : cfg_.tls_server_name;
    error_code addr_ec;
    asio::ip::make_address(name, addr_ec);
    if (addr_ec) SSL_set_tlsext_host_name(tls_->native_handle(), name.c_str());  // SNI: names only
    if (!cfg_.insecure_skip_tls_verify) {
      tls_->set_verify_callback(ssl::host_name_verification(name));
    }
    beast::get_lowest_layer(*tls_).expires_after(timeout);
    error_code hec;
    tls_->async_handshake(ssl::stream_base::client, [&](error_code e) { hec = e; });
    RunUntilDone();
    if (hec) {
      Close();
      return kube::NotSentError("TLS handshake with " + Where() + ": " + hec.message());
    }
    beast::get_lowest_layer(*tls_).expires_never();
    return absl::OkStatus();
  }

  absl::Status Write(const kube::HttpRequest& in, Duration timeout) {
    http::request<http::string_body> req;
    req.method_string(in.method);
    req.target(url_.prefix + in.target);
    req.version(11);
    req.set(http::field::host, url_.host_header);
    for (const auto& [k, v] : in.headers) req.set(k, v);
    req.body() = in.body;
    req.prepare_payload();
    buffer_.clear();
    error_code ec;
    With([&](auto& stream, beast::tcp_stream& lowest) {
      lowest.expires_after(timeout);
      http::async_write(stream, req, [&](error_code e, size_t) { ec = e; });
    });
    if (ec)
      return absl::UnavailableError(in.method + " " + Where() + in.target + ": " + ec.message());
    return absl::OkStatus();
  }

  // Reads a whole response. *got_bytes: any of it arrived.
  absl::StatusOr<kube::HttpResponse> ReadResponse(const kube::HttpRequest& in, Duration timeout,
                                                  bool* got_bytes) {
    http::response_parser<http::string_body> parser;
    parser.body_limit(64u << 20);
    parser.header_limit(1u << 20);
    error_code ec;
    With([&](auto& stream, beast::tcp_stream& lowest) {
      lowest.expires_after(timeout);
      http::async_read(stream, buffer_, parser, [&](error_code e, size_t) { ec = e; });
    });
    *got_bytes = parser.got_some() || buffer_.size() > 0;
    if (ec)
      return absl::UnavailableError(in.method + " " + Where() + in.target + ": " + ec.message());
    auto res = parser.release();
    kube::HttpResponse out = Headers(res);
    out.body = std::move(res.body());
    if (!res.keep_alive()) Close();
    return out;
  }

  // Streams: the header, then body pieces as they arrive.
  absl::Status ReadHeader(http::response_parser<http::buffer_body>& parser, Duration timeout) {
    error_code ec;
    With([&](auto& stream, beast::tcp_stream& lowest) {
      lowest.expires_after(timeout);
      http::async_read_header(stream, buffer_, parser, [&](error_code e, size_t) { ec = e; });
    });
    if (ec)
      return absl::UnavailableError("reading a response from " + Where() + ": " + ec.message());
    return absl::OkStatus();
  }
  // Returns the number of body bytes put in `data` (0 with OK at the end of the body).
  absl::StatusOr<size_t> ReadSome(http::response_parser<http::buffer_body>& parser, char* data,
                                  size_t size, Duration timeout) {
    while (!parser.is_done()) {
      if (cancelled()) return absl::CancelledError("cancelled");
      parser.get().body().data = data;
      parser.get().body().size = size;
      error_code ec;
      With([&](auto& stream, beast::tcp_stream& lowest) {
        lowest.expires_after(timeout);
        http::async_read_some(stream, buffer_, parser, [&](error_code e, size_t) { ec = e; });
      });
      if (ec == http::error::need_buffer) ec = {};
      if (ec) {
        if (cancelled()) return absl::CancelledError("cancelled");
        return absl::UnavailableError("reading a stream from " + Where() + ": " + ec.message());
      }
      size_t n = size - parser.get().body().size;
      if (n > 0) return n;
    }
    return size_t{0};
  }

  template <class Body>
  static kube::HttpResponse Headers(const http::response<Body>& res) {
    kube::HttpResponse out;
    out.status = res.result_int();
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

  const kube::TransportConfig& cfg_;
  const Url& url_;
  ssl::context* ssl_ctx_;
  asio::io_context ioc_{1};
  std::optional<beast::ssl_stream<beast::tcp_stream>> tls_;
  std::optional<beast::tcp_stream> plain_;
  beast::flat_buffer buffer_;
  std::atomic<bool> cancelled_{false};
};

// A streamed response on its own connection.
class BeastStream : public kube::ResponseStream {
 public:
  BeastStream(std::unique_ptr<Conn> conn, Duration timeout)
      : conn_(std::move(conn)), timeout_(timeout) {
    parser_.body_limit(boost::none);
    parser_.header_limit(1u << 20);
  }
  absl::Status Start(const kube::HttpRequest& req) {
    if (auto st = conn_->Write(req, timeout_); !st.ok()) return st;
    if (auto st = conn_->ReadHeader(parser_, timeout_); !st.ok()) return st;
    head_ = Conn::Headers(parser_.get());
    return absl::OkStatus();
  }
  int status() const override { return head_.status; }
  std::string Header(std::string_view name) const override { return head_.Header(name); }
  bool Read(std::string* chunk) override {
    if (done_) return false;
    char buf[64 * 1024];
    auto n = conn_->ReadSome(parser_, buf, sizeof(buf), timeout_);
    if (!n.ok() || *n == 0) {
      done_ = true;
      std::lock_guard<std::mutex> l(mu_);
      if (!n.ok() && !conn_->cancelled()) error_ = n.status();
      return false;
    }
    chunk->assign(buf, *n);
    return true;
  }
  void Cancel() override { conn_->Cancel(); }
  absl::Status error() const override {
    std::lock_guard<std::mutex> l(mu_);
    return error_;
  }

 private:
  std::unique_ptr<Conn> conn_;
  const Duration timeout_;
  http::response_parser<http::buffer_body> parser_;
  kube::HttpResponse head_;
  bool done_ = false;
  mutable std::mutex mu_;
  absl::Status error_;
};

class BeastTransport::Impl {
 public:
  Impl(kube::TransportConfig cfg, Url url) : cfg_(std::move(cfg)), url_(std::move(url)) {}

  absl::Status Init() {
    if (url_.tls) {
      ssl_ctx_.emplace(ssl::context::tls_client);
      ssl_ctx_->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                            ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                            ssl::context::no_tlsv1_1);
      error_code ec;
      if (cfg_.ca_pem.empty()) {
        ssl_ctx_->set_default_verify_paths(ec);
      } else if (auto st = AddCas(*ssl_ctx_, cfg_.ca_pem); !st.ok()) {
        return st;
      }
      if (!cfg_.client_cert_pem.empty()) {
        ssl_ctx_->use_certificate_chain(
            asio::buffer(cfg_.client_cert_pem.data(), cfg_.client_cert_pem.size()), ec);
        if (!ec) {
          ssl_ctx_->use_private_key(
              asio::buffer(cfg_.client_key_pem.data(), cfg_.client_key_pem.size()),
              ssl::context::pem, ec);
        }
        if (ec) return absl::InvalidArgumentError("client certificate/key: " + ec.message());
      }
      ssl_ctx_->set_verify_mode(cfg_.insecure_skip_tls_verify ? ssl::verify_none
                                                              : ssl::verify_peer);
    }
    conn_ = NewConn();
    return absl::OkStatus();
  }

  std::unique_ptr<Conn> NewConn() {
    return std::make_unique<Conn>(cfg_, url_, ssl_ctx_ ? &*ssl_ctx_ : nullptr);
  }

  absl::Status Warm() {
    std::lock_guard<std::mutex> l(mu_);
    if (conn_->Usable()) return absl::OkStatus();
    auto st = conn_->Connect(cfg_.timeout);
    if (st.ok()) ++opened_;
    return st;
  }

  absl::StatusOr<kube::HttpResponse> RoundTrip(const kube::HttpRequest& req) {
    std::lock_guard<std::mutex> l(mu_);
    Duration timeout = req.timeout.count() > 0 ? req.timeout : cfg_.timeout;
    for (int attempt = 0;; ++attempt) {
      bool reused = conn_->Usable();
      if (!reused) {
        if (auto st = conn_->Connect(timeout); !st.ok()) return st;
        ++opened_;
      }
      bool got_bytes = false;
      absl::Status st = conn_->Write(req, timeout);
      absl::StatusOr<kube::HttpResponse> r =
          st.ok() ? conn_->ReadResponse(req, timeout, &got_bytes) : st;
      if (r.ok()) return r;
      conn_->Close();
      // A reused connection the server had just closed: nothing was processed, try a fresh one.
      if (reused && !got_bytes && attempt == 0) continue;
      return r.status();
    }
  }

  absl::StatusOr<std::unique_ptr<kube::ResponseStream>> Stream(const kube::HttpRequest& req) {
    Duration timeout = req.timeout.count() > 0 ? req.timeout : cfg_.timeout;
    auto conn = NewConn();
    if (auto st = conn->Connect(std::min(timeout, cfg_.timeout)); !st.ok()) return st;
    {
      std::lock_guard<std::mutex> l(mu_);
      ++opened_;
    }
    auto s = std::make_unique<BeastStream>(std::move(conn), timeout);
    if (auto st = s->Start(req); !st.ok()) return st;
    return std::unique_ptr<kube::ResponseStream>(std::move(s));
  }

  int64_t connections() const {
    std::lock_guard<std::mutex> l(mu_);
    return opened_;
  }

 private:
  const kube::TransportConfig cfg_;
  const Url url_;
  std::optional<ssl::context> ssl_ctx_;
  mutable std::mutex mu_;
  std::unique_ptr<Conn> conn_;  // RoundTrip's persistent connection
  int64_t opened_ = 0;
};

absl::StatusOr<std::shared_ptr<BeastTransport>> BeastTransport::New(
    const kube::TransportConfig& config) {
  auto url = ParseUrl(config.base_url);
  if (!url.ok()) return url.status();
  auto impl = std::make_unique<Impl>(config, *url);
  if (auto st = impl->Init(); !st.ok()) return st;
  return std::shared_ptr<BeastTransport>(new BeastTransport(std::move(impl)));
}

BeastTransport::BeastTransport(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
BeastTransport::~BeastTransport() = default;

absl::StatusOr<kube::HttpResponse> BeastTransport::RoundTrip(const kube::HttpRequest& req) {
  return impl_->RoundTrip(req);
}

absl::StatusOr<std::unique_ptr<kube::ResponseStream>> BeastTransport::Stream(
    const kube::HttpRequest& req) {
  return impl_->Stream(req);
}

absl::Status BeastTransport::Warm() { return impl_->Warm(); }

int64_t BeastTransport::connections_opened() const { return impl_->connections(); }

}  // namespace kfaas::activator
