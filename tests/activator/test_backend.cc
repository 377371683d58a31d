#include "tests/activator/test_backend.h"

#include <future>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace kfaas::activator::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::awaitable;
using asio::use_awaitable;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

namespace {
std::map<std::string, std::string> Query(std::string_view target) {
  std::map<std::string, std::string> q;
  auto pos = target.find('?');
  if (pos == std::string_view::npos) return q;
  std::string_view rest = target.substr(pos + 1);
  while (!rest.empty()) {
    auto amp = rest.find('&');
    std::string_view kv = rest.substr(0, amp);
    auto eq = kv.find('=');
    q[std::string(kv.substr(0, eq))] =
        eq == std::string_view::npos ? "" : std::string(kv.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    rest = rest.substr(amp + 1);
  }
  return q;
}
}  // namespace

class TestBackend::Impl {
 public:
  Impl(std::string name, int threads) : name_(std::move(name)), threads_(threads) {}
  std::string name_;
  int threads_;
  asio::io_context ioc_;
  std::optional<tcp::acceptor> acceptor_;
  std::vector<std::thread> threads_v_;
  std::mutex mu_;
  std::set<tcp::socket*> sockets_;
  std::atomic<int64_t> requests_{0};
  std::atomic<int64_t> open_{0};
  uint16_t port_ = 0;
  bool running_ = false;

  awaitable<void> Accept() {
    while (true) {
      tcp::socket s(ioc_);
      error_code ec;
      co_await acceptor_->async_accept(s, asio::redirect_error(use_awaitable, ec));
      if (ec) co_return;
      asio::co_spawn(ioc_, Serve(std::move(s)), asio::detached);
    }
  }

  awaitable<void> Serve(tcp::socket s) {
    {
      std::lock_guard<std::mutex> l(mu_);
      sockets_.insert(&s);
    }
    open_.fetch_add(1);
    beast::flat_buffer buf;
    error_code ec;
    while (true) {
      http::request_parser<http::buffer_body> p;
      p.body_limit(std::numeric_limits<std::uint64_t>::max());
      co_await http::async_read_header(s, buf, p, asio::redirect_error(use_awaitable, ec));
      if (ec) break;
      requests_.fetch_add(1);
      auto& req = p.get();
      std::string target(req.target());
      std::string path = target.substr(0, target.find('?'));
      auto q = Query(target);
      // Read (and count) any body.
      uint64_t body_bytes = 0;
      char chunk[8192];
      while (!p.is_done()) {
        req.body().data = chunk;
        req.body().size = sizeof(chunk);
        co_await http::async_read(s, buf, p, asio::redirect_error(use_awaitable, ec));
        if (ec == http::error::need_buffer) ec = {};
        if (ec) break;
        body_bytes += sizeof(chunk) - req.body().size;
      }
      if (ec) break;
      bool keep = req.keep_alive();
      if (path == "/delay") {
        asio::steady_timer t(s.get_executor());
        t.expires_after(std::chrono::milliseconds(std::stoi(q["ms"])));
        co_await t.async_wait(asio::redirect_error(use_awaitable, ec));
      }
      if (path == "/close") {
        std::string partial = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789";
        co_await asio::async_write(s, asio::buffer(partial),
                                   asio::redirect_error(use_awaitable, ec));
        break;
      }
      if (path == "/stream" || path == "/big") {
        http::response<http::empty_body> res{http::status::ok, 11};
        res.chunked(true);
        res.keep_alive(keep);
        http::response_serializer<http::empty_body> sr{res};
        co_await http::async_write_header(s, sr, asio::redirect_error(use_awaitable, ec));
        if (ec) break;
        if (path == "/stream") {
          int n = std::stoi(q["chunks"]);
          int ms = q.count("ms") ? std::stoi(q["ms"]) : 0;
          for (int i = 0; i < n && !ec; ++i) {
            if (ms > 0) {
              asio::steady_timer t(s.get_executor());
              t.expires_after(std::chrono::milliseconds(ms));
              co_await t.async_wait(asio::redirect_error(use_awaitable, ec));
            }
            std::string c = "chunk " + std::to_string(i) + "\n";
            co_await asio::async_write(s, http::make_chunk(asio::buffer(c)),
                                       asio::redirect_error(use_awaitable, ec));
          }
        } else {
          uint64_t left = std::stoull(q["bytes"]);
          std::string block(65536, 'x');
          while (left > 0 && !ec) {
            size_t n = static_cast<size_t>(std::min<uint64_t>(left, block.size()));
            co_await asio::async_write(s, http::make_chunk(asio::buffer(block.data(), n)),
                                       asio::redirect_error(use_awaitable, ec));
            left -= n;
          }
        }
        if (!ec) {
          co_await asio::async_write(s, http::make_chunk_last(),
                                     asio::redirect_error(use_awaitable, ec));
        }
        if (ec || !keep) break;
        continue;
      }
      http::response<http::string_body> res{http::status::ok, 11};
      res.set(http::field::content_type, "text/plain");
      res.set("X-Backend", name_);
      if (path == "/hello") {
        res.body() = "hello from " + name_;
      } else if (path == "/count") {
        res.body() = std::to_string(body_bytes);
      } else if (path == "/headers") {
        std::string out = std::string(req.method_string()) + " " + target + "\n";
        for (const auto& f : req) {
          out += std::string(f.name_string()) + ": " + std::string(f.value()) + "\n";
        }
        res.body() = out;
      } else if (path == "/status") {
        res.result(static_cast<unsigned>(std::stoi(q["code"])));
        res.body() = "status " + q["code"];
      } else {
        res.body() = name_ + " " + target;
      }
      res.keep_alive(keep);
      res.prepare_payload();
      co_await http::async_write(s, res, asio::redirect_error(use_awaitable, ec));
      if (ec || !keep) break;
    }
    {
      std::lock_guard<std::mutex> l(mu_);
      sockets_.erase(&s);
    }
    open_.fetch_sub(1);
    error_code ignored;
    s.close(ignored);
  }
};

TestBackend::TestBackend(std::string name, int threads)
    : impl_(std::make_unique<Impl>(std::move(name), threads)) {}

TestBackend::~TestBackend() { Stop(); }

bool TestBackend::Start(uint16_t port) {
  try {
    impl_->acceptor_.emplace(impl_->ioc_);
    tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), port);
    impl_->acceptor_->open(ep.protocol());
    impl_->acceptor_->set_option(asio::socket_base::reuse_address(true));
    impl_->acceptor_->bind(ep);
    impl_->acceptor_->listen(asio::socket_base::max_listen_connections);
    impl_->port_ = impl_->acceptor_->local_endpoint().port();
  } catch (const std::exception&) {
    return false;
  }
  asio::co_spawn(impl_->ioc_, impl_->Accept(), asio::detached);
  impl_->running_ = true;
  for (int i = 0; i < impl_->threads_; ++i) {
    impl_->threads_v_.emplace_back([this] { impl_->ioc_.run(); });
  }
  return true;
}

void TestBackend::Stop() {
  if (!impl_->running_) return;
  impl_->running_ = false;
  std::promise<void> done;
  asio::post(impl_->ioc_, [this, &done] {
    error_code ignored;
    impl_->acceptor_->close(ignored);
    std::lock_guard<std::mutex> l(impl_->mu_);
    for (auto* s : impl_->sockets_) {
      s->shutdown(tcp::socket::shutdown_both, ignored);
      s->close(ignored);
    }
    done.set_value();
  });
  done.get_future().wait();
  impl_->ioc_.stop();
  for (auto& t : impl_->threads_v_) t.join();
  impl_->threads_v_.clear();
}

uint16_t TestBackend::port() const { return impl_->port_; }
int64_t TestBackend::requests() const { return impl_->requests_.load(); }
int64_t TestBackend::open_connections() const { return impl_->open_.load(); }

uint16_t FreePort() {
  asio::io_context ioc;
  tcp::acceptor a(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  return a.local_endpoint().port();
}

}  // namespace kfaas::activator::testing
