#include "activator/net/proxy_server.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <thread>
#include <utility>

#include "activator/net/worker.h"
#include "common/base/log.h"

namespace kfaas::activator::net {

namespace asio = boost::asio;
using asio::awaitable;
using asio::use_awaitable;
using tcp = asio::ip::tcp;

namespace {

awaitable<void> AcceptLoop(Worker& w) {
  while (true) {
    tcp::socket s(w.ioc);
    boost::system::error_code ec;
    co_await w.acceptor->async_accept(s, asio::redirect_error(use_awaitable, ec));
    if (ec) {
      if (ec == asio::error::operation_aborted || !w.acceptor->is_open()) co_return;
      // Out of descriptors or similar: back off a little instead of spinning.
      KFAAS_LOG(WARNING) << "accept failed: " << ec.message();
      asio::steady_timer t(w.ioc, std::chrono::milliseconds(50));
      co_await t.async_wait(asio::redirect_error(use_awaitable, ec));
      continue;
    }
    boost::system::error_code ignored;
    s.set_option(tcp::no_delay(true), ignored);
    asio::co_spawn(w.ioc, RunSession(w, std::move(s)), asio::detached);
  }
}

}  // namespace

ProxyServer::ProxyServer(Registry* registry, ProxyOptions opts)
    : shared_(std::make_unique<ServerShared>()) {
  shared_->registry = registry;
  shared_->opts = std::move(opts);
  int n = shared_->opts.threads > 0 ? shared_->opts.threads
                                    : static_cast<int>(std::thread::hardware_concurrency());
  if (n <= 0) n = 1;
  for (int i = 0; i < n; ++i) workers_.push_back(std::make_unique<Worker>(shared_.get()));
}

ProxyServer::~ProxyServer() { Stop(); }

absl::Status ProxyServer::Start() {
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(shared_->opts.address, ec);
  if (ec) {
    return absl::InvalidArgumentError("invalid listen address \"" + shared_->opts.address +
                                      "\": " + ec.message());
  }
  uint16_t port = shared_->opts.port;
  for (auto& w : workers_) {
    try {
      tcp::endpoint ep(addr, port);
      w->acceptor.emplace(w->ioc);
      w->acceptor->open(ep.protocol());
      w->acceptor->set_option(asio::socket_base::reuse_address(true));
      int one = 1;
      ::setsockopt(w->acceptor->native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
      w->acceptor->bind(ep);
      w->acceptor->listen(asio::socket_base::max_listen_connections);
      port = w->acceptor->local_endpoint().port();
    } catch (const std::exception& e) {
      for (auto& w2 : workers_) w2->acceptor.reset();
      return absl::UnavailableError("cannot listen on " + shared_->opts.address + ":" +
                                    std::to_string(port) + ": " + e.what() +
                                    " (is the port in use? pick another with --port)");
    }
  }
  port_ = port;
  shared_->accepting = true;
  for (auto& w : workers_) {
    Worker* wp = w.get();
    asio::co_spawn(w->ioc, AcceptLoop(*wp), asio::detached);
    asio::co_spawn(w->ioc, RunSweeper(*wp), asio::detached);
    w->thread = std::thread([wp] { wp->ioc.run(); });
  }
  started_ = true;
  return absl::OkStatus();
}

uint16_t ProxyServer::port() const { return port_; }

bool ProxyServer::ready() const { return started_ && !shared_->draining.load(); }

bool ProxyServer::Drain(Duration bound) {
  if (!started_) return true;
  KFAAS_LOG(INFO) << "draining: no new connections; " << shared_->active_requests.load()
                  << " request(s) in flight, waiting up to "
                  << std::chrono::duration_cast<std::chrono::seconds>(bound).count() << " s";
  shared_->draining = true;
  shared_->accepting = false;
  for (auto& w : workers_) {
    Worker* wp = w.get();
    asio::post(w->ioc, [wp] {
      boost::system::error_code ignored;
      if (wp->acceptor) wp->acceptor->close(ignored);
    });
  }
  auto deadline = std::chrono::steady_clock::now() + bound;
  while (shared_->active_requests.load() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  bool clean = shared_->active_requests.load() == 0;
  if (!clean) {
    // Requests still held (a cold start or a full function outlasting the drain bound), and
    // those already at an instance, get an explicit 503 rather than a dropped connection: wake
    // the held ones, cut the forwarded ones' instance connections (on their own threads), then
    // give the sessions a moment to write the answers before the io threads stop.
    shared_->cutting = true;
    size_t held = shared_->registry->CancelWaitersForShutdown();
    std::atomic<int> cut{0};
    std::atomic<size_t> posted{0};
    for (auto& w : workers_) {
      Worker* wp = w.get();
      asio::post(w->ioc, [wp, &cut, &posted] {
        cut.fetch_add(CutForwardedForShutdown(*wp));
        posted.fetch_add(1);
      });
    }
    auto answer_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    while ((posted.load() < workers_.size() || shared_->active_requests.load() > 0) &&
           std::chrono::steady_clock::now() < answer_deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    KFAAS_LOG(WARNING) << "drain bound reached: answered " << held << " held and " << cut.load()
                       << " forwarded request(s) with 503";
  }
  if (clean) {
    KFAAS_LOG(INFO) << "drained: every in-flight request finished";
  } else {
    KFAAS_LOG(WARNING) << "drain bound reached with " << shared_->active_requests.load()
                       << " request(s) still in flight";
  }
  Stop();
  return clean;
}

void ProxyServer::Stop() {
  if (!started_) return;
  started_ = false;
  for (auto& w : workers_) w->ioc.stop();
  for (auto& w : workers_) {
    if (w->thread.joinable()) w->thread.join();
  }
}

int64_t ProxyServer::active_requests() const { return shared_->active_requests.load(); }
int64_t ProxyServer::open_connections() const { return shared_->open_connections.load(); }
int ProxyServer::threads() const { return static_cast<int>(workers_.size()); }

}  // namespace kfaas::activator::net
