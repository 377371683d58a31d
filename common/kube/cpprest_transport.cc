// The cpprestsdk transport. This is the only file that includes cpprestsdk.
// pplx/threadpool.h still names boost::asio::io_service, which the project-wide
// BOOST_ASIO_NO_DEPRECATED hides; cpprestsdk itself is built with it.
#undef BOOST_ASIO_NO_DEPRECATED
#include <openssl/ssl.h>

#include <cpprest/http_client.h>
#include <pplx/threadpool.h>
#include <atomic>
#include <map>
#include <mutex>

#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "common/kube/tls.h"
#include "common/kube/transport.h"

namespace kfaas::kube {
namespace {

namespace http = web::http;
namespace client = web::http::client;

constexpr char kNotSentPayload[] = "type.kfaas.dev/kube.NotSent";

std::function<void(boost::asio::ssl::context&)> SslCallback(const TransportConfig& cfg) {
  return [ca = cfg.ca_pem, cert = cfg.client_cert_pem,
          key = cfg.client_key_pem](boost::asio::ssl::context& ctx) {
    ctx.set_options(boost::asio::ssl::context::no_sslv2 | boost::asio::ssl::context::no_sslv3 |
                    boost::asio::ssl::context::no_tlsv1 | boost::asio::ssl::context::no_tlsv1_1);
    if (!ca.empty()) {
      if (auto st = SetTrustedCas(ctx.native_handle(), ca); !st.ok()) {
        throw std::runtime_error(std::string(st.message()));
      }
    }
    if (!cert.empty()) {
      ctx.use_certificate_chain(boost::asio::buffer(cert.data(), cert.size()));
      ctx.use_private_key(boost::asio::buffer(key.data(), key.size()),
                          boost::asio::ssl::context::pem);
    }
  };
}

std::string Describe(const HttpRequest& req, const TransportConfig& cfg) {
  std::string target = req.target;
  auto q = target.find('?');
  if (q != std::string::npos) target.resize(q);
  return req.method + " " + cfg.base_url + target;
}

absl::Status FromException(const std::exception& e, const HttpRequest& req,
                           const TransportConfig& cfg, Duration timeout) {
  const std::string what = e.what();
  const std::string where = Describe(req, cfg);
  int code = 0;
  if (auto* he = dynamic_cast<const http::http_exception*>(&e)) code = he->error_code().value();
  if (code == static_cast<int>(std::errc::timed_out)) {
    return absl::DeadlineExceededError(
        where + ": no response within " +
        std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count()) +
        " ms (" + what + ")");
  }
  if (absl::StrContains(what, "SSL handshake")) {
    return absl::FailedPreconditionError(
        where + ": TLS handshake failed (" + what +
        "): the server certificate did not verify against the configured certificate authority "
        "and server name (certificate-authority, tls-server-name), or the server refused the "
        "client certificate");
  }
  if (absl::StrContains(what, "Failed to connect") || absl::StrContains(what, "resolv") ||
      code == static_cast<int>(std::errc::host_unreachable) ||
      code == static_cast<int>(std::errc::connection_refused)) {
    return NotSentError(where + ": cannot connect: " + what);
  }
  return absl::UnavailableError(where + ": " + what);
}

class CpprestStream final : public ResponseStream {
 public:
  CpprestStream(std::shared_ptr<client::http_client> c,
                std::shared_ptr<pplx::cancellation_token_source> cts, http::http_response resp)
      : client_(std::move(c)),
        cts_(std::move(cts)),
        resp_(std::move(resp)),
        buf_(resp_.body().streambuf()) {
    for (const auto& [k, v] : resp_.headers()) headers_.emplace_back(k, v);
  }
  ~CpprestStream() override { Cancel(); }

  int status() const override { return resp_.status_code(); }

  std::string Header(std::string_view name) const override {
    for (const auto& [k, v] : headers_) {
      if (absl::EqualsIgnoreCase(k, absl::string_view(name.data(), name.size()))) return v;
    }
    return "";
  }

  bool Read(std::string* chunk) override {
    chunk->clear();
    if (done_) return false;
    try {
      size_t avail = buf_.in_avail();
      if (avail == 0) {
        // Blocks until at least one byte, the end of the body, or an error.
        auto c = buf_.bumpc().get();
        if (c == concurrency::streams::streambuf<uint8_t>::traits::eof()) {
          return Finish(absl::OkStatus());
        }
        chunk->push_back(static_cast<char>(c));
        avail = buf_.in_avail();
      }
      if (avail > 0) {
        size_t old = chunk->size();
        chunk->resize(old + avail);
        size_t n = buf_.getn(reinterpret_cast<uint8_t*>(chunk->data() + old), avail).get();
        chunk->resize(old + n);
      }
      return true;
    } catch (const std::exception& e) {
      return Finish(absl::UnavailableError(std::string("reading the response body: ") + e.what()));
    }
  }

  void Cancel() override {
    if (cancelled_.exchange(true)) return;
    cts_->cancel();  // closes the connection; a pending read fails
  }

  absl::Status error() const override {
    std::lock_guard<std::mutex> l(mu_);
    return error_;
  }

 private:
  bool Finish(absl::Status s) {
    done_ = true;
    std::lock_guard<std::mutex> l(mu_);
    error_ = cancelled_ ? absl::CancelledError("stream cancelled") : std::move(s);
    return false;
  }

  std::shared_ptr<client::http_client> client_;
  std::shared_ptr<pplx::cancellation_token_source> cts_;
  http::http_response resp_;
  concurrency::streams::streambuf<uint8_t> buf_;
  std::vector<std::pair<std::string, std::string>> headers_;
  std::atomic<bool> cancelled_{false};
  bool done_ = false;  // Read() is single-threaded
  mutable std::mutex mu_;
  absl::Status error_;
};

class CpprestTransport final : public Transport {
 public:
  explicit CpprestTransport(TransportConfig cfg) : cfg_(std::move(cfg)) {}

  absl::StatusOr<HttpResponse> RoundTrip(const HttpRequest& req) override {
    Duration timeout = req.timeout > Duration::zero() ? req.timeout : cfg_.timeout;
    try {
      auto c = ClientFor(timeout);
      http::http_response resp = c->request(Build(req)).get();
      HttpResponse out;
      out.status = resp.status_code();
      for (const auto& [k, v] : resp.headers()) out.headers.emplace_back(k, v);
      std::vector<unsigned char> body = resp.extract_vector().get();
      out.body.assign(body.begin(), body.end());
      return out;
    } catch (const std::exception& e) {
      return FromException(e, req, cfg_, timeout);
    }
  }

  absl::StatusOr<std::unique_ptr<ResponseStream>> Stream(const HttpRequest& req) override {
    Duration timeout = req.timeout > Duration::zero() ? req.timeout : cfg_.timeout;
    // One http_client (connection pool) per distinct timeout: round stream timeouts up to whole
    // 5 minutes so randomized watch timeouts share a few clients.
    constexpr Duration kQuantum = std::chrono::minutes(5);
    if (timeout > cfg_.timeout)
      timeout = ((timeout + kQuantum - Duration(1)) / kQuantum) * kQuantum;
    try {
      auto c = ClientFor(timeout);
      auto cts = std::make_shared<pplx::cancellation_token_source>();
      http::http_response resp = c->request(Build(req), cts->get_token()).get();
      return std::unique_ptr<ResponseStream>(
          std::make_unique<CpprestStream>(std::move(c), std::move(cts), std::move(resp)));
    } catch (const std::exception& e) {
      return FromException(e, req, cfg_, timeout);
    }
  }

  absl::Status Validate() {
    try {
      boost::asio::ssl::context ctx(boost::asio::ssl::context::sslv23);
      SslCallback(cfg_)(ctx);
      web::uri u(cfg_.base_url);
      if (u.scheme() != "http" && u.scheme() != "https") {
        return absl::InvalidArgumentError("server URL " + cfg_.base_url +
                                          ": the scheme must be http or https");
      }
    } catch (const std::exception& e) {
      return absl::InvalidArgumentError("TLS configuration for " + cfg_.base_url + ": " + e.what());
    }
    return absl::OkStatus();
  }

 private:
  http::http_request Build(const HttpRequest& req) const {
    http::http_request r(req.method);
    r.set_request_uri(web::uri(req.target));
    std::string content_type;
    for (const auto& [k, v] : req.headers) {
      if (absl::EqualsIgnoreCase(k, "Content-Type")) {
        content_type = v;
      } else {
        r.headers().add(k, v);
      }
    }
    // cpprestsdk verifies the server certificate (and sends SNI) for the Host header's name.
    if (!cfg_.tls_server_name.empty()) r.headers().add("Host", cfg_.tls_server_name);
    if (!req.body.empty() || !content_type.empty()) {
      r.set_body(std::string(req.body),
                 content_type.empty() ? std::string("application/json") : content_type);
    }
    return r;
  }

  std::shared_ptr<client::http_client> ClientFor(Duration timeout) {
    auto key = std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count();
    std::lock_guard<std::mutex> l(mu_);
    auto& c = clients_[key];
    if (!c) {
      client::http_client_config config;
      config.set_timeout(std::chrono::milliseconds(key));
      config.set_validate_certificates(!cfg_.insecure_skip_tls_verify);
      config.set_ssl_context_callback(SslCallback(cfg_));
      c = std::make_shared<client::http_client>(web::uri(cfg_.base_url), config);
    }
    return c;
  }

  const TransportConfig cfg_;
  std::mutex mu_;
  std::map<int64_t, std::shared_ptr<client::http_client>> clients_;
};

}  // namespace

std::string HttpResponse::Header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (absl::EqualsIgnoreCase(k, absl::string_view(name.data(), name.size()))) return v;
  }
  return "";
}

absl::Status NotSentError(std::string_view message) {
  absl::Status s = absl::UnavailableError(std::string(message));
  s.SetPayload(kNotSentPayload, absl::Cord("1"));
  return s;
}

bool IsNotSent(const absl::Status& s) { return s.GetPayload(kNotSentPayload).has_value(); }

absl::Status InitCpprestThreadPool(size_t threads) {
  try {
    crossplat::threadpool::initialize_with_threads(threads);
  } catch (const std::exception& e) {
    return absl::FailedPreconditionError(std::string("cpprestsdk thread pool: ") + e.what());
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<Transport>> NewCpprestTransport(const TransportConfig& config) {
  static std::once_flag pool_once;
  std::call_once(pool_once, [] {
    // Fails harmlessly when main() already sized the pool.
    InitCpprestThreadPool(kDefaultCpprestThreads).IgnoreError();
  });
  auto t = std::make_shared<CpprestTransport>(config);
  if (auto s = t->Validate(); !s.ok()) return s;
  return std::shared_ptr<Transport>(std::move(t));
}

}  // namespace kfaas::kube
