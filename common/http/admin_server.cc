#include "common/http/admin_server.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <thread>

#include "common/base/log.h"
#include "common/metrics/metrics.h"

namespace kfaas::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

std::string PercentDecode(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else if (s[i] == '+') {
      out += ' ';
    } else {
      out += s[i];
    }
  }
  return out;
}

std::map<std::string, std::string> ParseQuery(const std::string& query) {
  std::map<std::string, std::string> out;
  size_t pos = 0;
  while (pos <= query.size()) {
    size_t amp = query.find('&', pos);
    if (amp == std::string::npos) amp = query.size();
    std::string part = query.substr(pos, amp - pos);
    if (!part.empty()) {
      size_t eq = part.find('=');
      if (eq == std::string::npos) {
        out[PercentDecode(part)] = "";
      } else {
        out[PercentDecode(part.substr(0, eq))] = PercentDecode(part.substr(eq + 1));
      }
    }
    pos = amp + 1;
  }
  return out;
}

class AdminServer::Impl {
 public:
  Impl(std::string address, uint16_t port) : address_(std::move(address)), port_(port) {}

  std::map<std::string, Handler> routes;
  std::string address_;
  uint16_t port_;
  asio::io_context ioc_{1};
  std::unique_ptr<tcp::acceptor> acceptor_;
  std::thread thread_;
  bool started_ = false;

  void Accept() {
    acceptor_->async_accept([this](beast::error_code ec, tcp::socket socket) {
      if (ec) {
        if (ec == asio::error::operation_aborted) return;
      } else {
        std::make_shared<Session>(this, std::move(socket))->Read();
      }
      Accept();
    });
  }

  AdminResponse Dispatch(const AdminRequest& req) {
    auto it = routes.find(req.path);
    if (it == routes.end()) {
      return {404, "text/plain; charset=utf-8", "404 page not found: " + req.path + "\n", {}};
    }
    try {
      return it->second(req);
    } catch (const std::exception& e) {
      return {
          500, "text/plain; charset=utf-8", std::string("internal error: ") + e.what() + "\n", {}};
    }
  }

  struct Session : std::enable_shared_from_this<Session> {
    Session(Impl* impl, tcp::socket s) : impl(impl), stream(std::move(s)) {}
    Impl* impl;
    beast::tcp_stream stream;
    beast::flat_buffer buffer;
    bhttp::request<bhttp::string_body> req;
    bhttp::response<bhttp::string_body> res;

    void Read() {
      req = {};
      stream.expires_after(std::chrono::seconds(30));
      bhttp::async_read(stream, buffer, req,
                        [self = shared_from_this()](beast::error_code ec, size_t) {
                          if (ec) {
                            beast::error_code ignored;
                            self->stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
                            return;
                          }
                          self->Handle();
                        });
    }

    void Handle() {
      AdminRequest ar;
      ar.method = std::string(req.method_string());
      std::string target(req.target());
      auto q = target.find('?');
      ar.path = target.substr(0, q);
      if (q != std::string::npos) ar.query = target.substr(q + 1);
      for (const auto& f : req) {
        std::string name(f.name_string());
        for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        ar.headers[name] = std::string(f.value());
      }
      ar.body = req.body();
      AdminResponse r = impl->Dispatch(ar);
      res = {};
      res.version(11);
      res.result(static_cast<bhttp::status>(r.status));
      res.set(bhttp::field::content_type, r.content_type);
      for (const auto& [k, v] : r.headers) res.set(k, v);
      res.keep_alive(req.keep_alive());
      res.body() = std::move(r.body);
      res.prepare_payload();
      bhttp::async_write(stream, res, [self = shared_from_this()](beast::error_code ec, size_t) {
        if (ec || !self->res.keep_alive()) {
          beast::error_code ignored;
          self->stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
          return;
        }
        self->Read();
      });
    }
  };
};

AdminServer::AdminServer(std::string address, uint16_t port)
    : impl_(std::make_unique<Impl>(std::move(address), port)) {}

AdminServer::~AdminServer() { Stop(); }

void AdminServer::Handle(const std::string& path, Handler handler) {
  impl_->routes[path] = std::move(handler);
}

void AdminServer::HandleStandard(metrics::Registry& registry, std::function<bool()> ready) {
  Handle("/metrics", [&registry](const AdminRequest&) {
    return AdminResponse{200, "text/plain; version=0.0.4; charset=utf-8", registry.Serialize(), {}};
  });
  Handle("/healthz", [](const AdminRequest&) {
    return AdminResponse{200, "text/plain", "ok\n", {}};
  });
  Handle("/livez", [](const AdminRequest&) {
    return AdminResponse{200, "text/plain", "ok\n", {}};
  });
  Handle("/readyz", [ready](const AdminRequest&) {
    if (!ready || ready()) return AdminResponse{200, "text/plain", "ok\n", {}};
    return AdminResponse{503, "text/plain", "not ready\n", {}};
  });
}

absl::Status AdminServer::Start() {
  try {
    auto addr = asio::ip::make_address(impl_->address_);
    impl_->acceptor_ = std::make_unique<tcp::acceptor>(impl_->ioc_);
    tcp::endpoint ep(addr, impl_->port_);
    impl_->acceptor_->open(ep.protocol());
    impl_->acceptor_->set_option(asio::socket_base::reuse_address(true));
    impl_->acceptor_->bind(ep);
    impl_->acceptor_->listen();
    impl_->port_ = impl_->acceptor_->local_endpoint().port();
  } catch (const std::exception& e) {
    return absl::UnavailableError("admin server: cannot listen on " + impl_->address_ + ":" +
                                  std::to_string(impl_->port_) + ": " + e.what());
  }
  impl_->Accept();
  impl_->started_ = true;
  impl_->thread_ = std::thread([this] { impl_->ioc_.run(); });
  return absl::OkStatus();
}

void AdminServer::Stop() {
  if (!impl_->started_) return;
  impl_->started_ = false;
  impl_->ioc_.stop();
  if (impl_->thread_.joinable()) impl_->thread_.join();
}

uint16_t AdminServer::port() const { return impl_->port_; }

}  // namespace kfaas::http
