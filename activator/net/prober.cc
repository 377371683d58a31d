#include "activator/net/prober.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <utility>

#include "common/base/log.h"

namespace kfaas::activator::net {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using asio::awaitable;
using asio::use_awaitable;
using tcp = asio::ip::tcp;

namespace {

awaitable<bool> ProbeOnce(tcp::endpoint ep, std::string path, Duration timeout) {
  auto ex = co_await asio::this_coro::executor;
  tcp::socket sock(ex);
  asio::steady_timer timer(ex);
  bool timed_out = false;
  timer.expires_after(timeout);
  timer.async_wait([&](boost::system::error_code ec) {
    if (!ec) {
      timed_out = true;
      boost::system::error_code ignored;
      sock.close(ignored);
    }
  });
  boost::system::error_code ec;
  co_await sock.async_connect(ep, asio::redirect_error(use_awaitable, ec));
  bool ok = !ec && !timed_out;
  if (ok && !path.empty()) {
    std::string req = "GET " + path + " HTTP/1.1\r\nHost: " + ep.address().to_string() + ":" +
                      std::to_string(ep.port()) +
                      "\r\nUser-Agent: kfaas-activator-probe\r\nConnection: close\r\n\r\n";
    co_await asio::async_write(sock, asio::buffer(req), asio::redirect_error(use_awaitable, ec));
    if (!ec) {
      boost::beast::flat_buffer buf;
      http::response_parser<http::empty_body> parser;
      parser.skip(true);
      co_await http::async_read_header(sock, buf, parser, asio::redirect_error(use_awaitable, ec));
      int status = ec ? 0 : parser.get().result_int();
      ok = status >= 200 && status < 400;
    } else {
      ok = false;
    }
  }
  timer.cancel();
  boost::system::error_code ignored;
  sock.close(ignored);
  // Let the timer's handler run before its captures go away.
  asio::steady_timer yield(ex);
  yield.expires_after(Duration::zero());
  co_await yield.async_wait(asio::redirect_error(use_awaitable, ec));
  co_return ok;
}

}  // namespace

struct ProberAccess {
  static awaitable<void> Loop(AsioProber* self, std::shared_ptr<FunctionState> fn,
                              std::shared_ptr<Instance> inst) {
    auto ex = co_await asio::this_coro::executor;
    asio::steady_timer timer(ex);
    Duration interval = self->opts_.initial;
    std::string path = fn->spec().readiness_path;
    if (inst->endpoint.port() == 0) {
      KFAAS_LOG(WARNING) << "function " << fn->ns() << "/" << fn->name() << ": endpoint "
                         << inst->key << " is not an IP address; it cannot be probed";
      fn->ContinueProbing(*inst);
      co_return;
    }
    int attempts = 0;
    const auto started = std::chrono::steady_clock::now();
    while (fn->ContinueProbing(*inst)) {
      ++attempts;
      self->probes_.fetch_add(1);
      bool ok = co_await ProbeOnce(inst->endpoint, path, self->opts_.timeout);
      if (ok) {
        KFAAS_VLOG(1) << "probe of " << inst->key << " succeeded after " << attempts
                      << " attempt(s)";
        fn->OnProbeResult(inst, true);
        continue;
      }
      timer.expires_after(interval);
      boost::system::error_code ec;
      co_await timer.async_wait(asio::redirect_error(use_awaitable, ec));
      if (ec) co_return;
      bool fast = std::chrono::steady_clock::now() - started < self->opts_.fast_period;
      interval =
          std::min<Duration>(std::chrono::duration_cast<Duration>(interval * self->opts_.factor),
                             fast ? self->opts_.fast_interval : self->opts_.max_interval);
    }
  }
};

AsioProber::AsioProber(Options opts) : opts_(opts) {
  work_ = std::make_unique<asio::executor_work_guard<asio::io_context::executor_type>>(
      ioc_.get_executor());
  thread_ = std::thread([this] { ioc_.run(); });
}

AsioProber::~AsioProber() {
  work_.reset();
  ioc_.stop();
  if (thread_.joinable()) thread_.join();
}

void AsioProber::Probe(std::shared_ptr<FunctionState> fn, std::shared_ptr<Instance> instance) {
  asio::co_spawn(ioc_, ProberAccess::Loop(this, std::move(fn), std::move(instance)),
                 asio::detached);
}

}  // namespace kfaas::activator::net
