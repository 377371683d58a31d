#include "activator/kube/beast_transport.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
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

class BeastTransport::Impl {
 public:
  Impl(kube::TransportConfig cfg, Url url) : cfg_(std::move(cfg)), url_(std::move(url)) {}

  absl::Status Init() {
    if (!url_.tls) return absl::OkStatus();
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
            asio::buffer(cfg_.client_key_pem.data(), cfg_.client_key_pem.size()), ssl::context::pem,
            ec);
      }
      if (ec) return absl::InvalidArgumentError("client certificate/key: " + ec.message());
    }
    ssl_ctx_->set_verify_mode(cfg_.insecure_skip_tls_verify ? ssl::verify_none : ssl::verify_peer);
    return absl::OkStatus();
  }

  absl::Status Warm() {
    std::lock_guard<std::mutex> l(mu_);
    if (Usable()) return absl::OkStatus();
    return Connect(cfg_.timeout);
  }

  absl::StatusOr<kube::HttpResponse> RoundTrip(const kube::HttpRequest& req) {
    std::lock_guard<std::mutex> l(mu_);
    Duration timeout = req.timeout.count() > 0 ? req.timeout : cfg_.timeout;
    for (int attempt = 0;; ++attempt) {
      bool reused = Usable();
      if (!reused) {
        if (auto st = Connect(timeout); !st.ok()) return st;
      }
      bool got_bytes = false;
      auto r = Exchange(req, timeout, &got_bytes);
      if (r.ok()) return r;
      Close();
      // A reused connection the server had just closed: nothing was processed, try a fresh one.
      if (reused && !got_bytes && attempt == 0) continue;
      return r.status();
    }
  }

  int64_t connections() const {
    std::lock_guard<std::mutex> l(mu_);
    return opened_;
  }

 private:
  // Runs the io_context until the pending operation completes.
  void RunUntilDone() {
    ioc_.restart();
    ioc_.run();
  }

  tcp::socket::native_handle_type Fd() {
    if (tls_) return beast::get_lowest_layer(*tls_).socket().native_handle();
    return plain_->socket().native_handle();
  }

  // Open, and the server has not closed it (nor sent anything unasked) meanwhile.
  bool Usable() {
    if (!tls_ && !plain_) return false;
    pollfd p{Fd(), POLLIN, 0};
    int n = ::poll(&p, 1, 0);
    if (n == 0) return true;
    Close();
    return false;
  }

  void Close() {
    error_code ignored;
    if (tls_) beast::get_lowest_layer(*tls_).socket().close(ignored);
    if (plain_) plain_->socket().close(ignored);
    tls_.reset();
    plain_.reset();
  }

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
      ++opened_;
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
    ++opened_;
    return absl::OkStatus();
  }

  template <class Stream>
  absl::StatusOr<kube::HttpResponse> ExchangeOn(Stream& stream, beast::tcp_stream& lowest,
                                                const kube::HttpRequest& in, Duration timeout,
                                                bool* got_bytes) {
    http::request<http::string_body> req;
    req.method_string(in.method);
    req.target(url_.prefix + in.target);
    req.version(11);
    req.set(http::field::host, url_.host_header);
    for (const auto& [k, v] : in.headers) req.set(k, v);
    req.body() = in.body;
    req.prepare_payload();
    lowest.expires_after(timeout);
    error_code wec;
    http::async_write(stream, req, [&](error_code e, size_t) { wec = e; });
    RunUntilDone();
    if (wec) {
      return absl::UnavailableError(in.method + " " + Where() + in.target + ": " + wec.message());
    }
    http::response_parser<http::string_body> parser;
    parser.body_limit(64u << 20);
    parser.header_limit(1u << 20);
    error_code rec;
    http::async_read(stream, buffer_, parser, [&](error_code e, size_t) { rec = e; });
    RunUntilDone();
    lowest.expires_never();
    *got_bytes = parser.got_some() || buffer_.size() > 0;
    if (rec) {
      return absl::UnavailableError(in.method + " " + Where() + in.target + ": " + rec.message());
    }
    auto res = parser.release();
    kube::HttpResponse out;
    out.status = res.result_int();
    for (const auto& f : res) {
      out.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
    }
    out.body = std::move(res.body());
    if (!res.keep_alive()) Close();
    return out;
  }

  absl::StatusOr<kube::HttpResponse> Exchange(const kube::HttpRequest& req, Duration timeout,
                                              bool* got_bytes) {
    buffer_.clear();
    if (tls_) return ExchangeOn(*tls_, beast::get_lowest_layer(*tls_), req, timeout, got_bytes);
    return ExchangeOn(*plain_, *plain_, req, timeout, got_bytes);
  }

  const kube::TransportConfig cfg_;
  const Url url_;
  mutable std::mutex mu_;
  asio::io_context ioc_{1};
  std::optional<ssl::context> ssl_ctx_;
  std::optional<beast::ssl_stream<beast::tcp_stream>> tls_;
  std::optional<beast::tcp_stream> plain_;
  beast::flat_buffer buffer_;
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
  return absl::UnimplementedError("BeastTransport does not stream (" + req.method + " " +
                                  req.target + "): it carries single requests only");
}

absl::Status BeastTransport::Warm() { return impl_->Warm(); }

int64_t BeastTransport::connections_opened() const { return impl_->connections(); }

}  // namespace kfaas::activator
