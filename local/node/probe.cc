#include "local/node/probe.h"

#include <array>
#include <cstdlib>
#include <memory>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

namespace kfaas::node {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;

Duration Seconds(const Json& obj, const char* key, int def, int min) {
  int v = def;
  if (obj.is_object() && obj.contains(key) && obj[key].is_number_integer()) v = obj[key].get<int>();
  if (v < min) v = min;
  return std::chrono::seconds(v);
}

int Int(const Json& obj, const char* key, int def) {
  if (obj.is_object() && obj.contains(key) && obj[key].is_number_integer()) {
    int v = obj[key].get<int>();
    return v >= 1 ? v : def;
  }
  return def;
}

class ProbeOp : public std::enable_shared_from_this<ProbeOp> {
 public:
  ProbeOp(asio::io_context& io, uint16_t port, const ProbeSpec& spec,
          std::function<void(bool, std::string)> done)
      : socket_(io), timer_(io), port_(port), spec_(spec), done_(std::move(done)) {}

  void Start() {
    auto self = shared_from_this();
    timer_.expires_after(spec_.timeout);
    timer_.async_wait([self](boost::system::error_code ec) {
      if (!ec) {
        self->Finish(false,
                     "timeout after " +
                         std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                            self->spec_.timeout)
                                            .count()) +
                         "ms");
      }
    });
    tcp::endpoint ep(asio::ip::address_v4::loopback(), port_);
    socket_.async_connect(ep, [self](boost::system::error_code ec) { self->OnConnect(ec); });
  }

 private:
  void OnConnect(boost::system::error_code ec) {
    if (finished_) return;
    if (ec) return Finish(false, ec.message());
    if (spec_.kind == ProbeSpec::Kind::kTcp) return Finish(true, "");
    std::string port = std::to_string(port_);
    request_ = "GET " + (spec_.path.empty() ? std::string("/") : spec_.path) +
               " HTTP/1.1\r\nHost: 127.0.0.1:" + port +
               "\r\nUser-Agent: kube-probe/1.32\r\nAccept: */*\r\nConnection: close\r\n";
    for (const auto& [k, v] : spec_.headers) request_ += k + ": " + v + "\r\n";
    request_ += "\r\n";
    auto self = shared_from_this();
    asio::async_write(socket_, asio::buffer(request_),
                      [self](boost::system::error_code ec, size_t) {
                        if (self->finished_) return;
                        if (ec) return self->Finish(false, ec.message());
                        self->Read();
                      });
  }

  void Read() {
    auto self = shared_from_this();
    socket_.async_read_some(asio::buffer(chunk_), [self](boost::system::error_code ec, size_t n) {
      if (self->finished_) return;
      self->response_.append(self->chunk_.data(), n);
      size_t eol = self->response_.find("\r\n");
      if (eol != std::string::npos || self->response_.size() > 1024) {
        // "HTTP/1.1 200 OK"
        const std::string& r = self->response_;
        size_t sp = r.find(' ');
        int code = sp == std::string::npos ? 0 : std::atoi(r.c_str() + sp + 1);
        if (code >= 200 && code < 400) return self->Finish(true, "");
        return self->Finish(false,
                            code ? "HTTP probe failed with statuscode: " + std::to_string(code)
                                 : "malformed HTTP response");
      }
      if (ec)
        return self->Finish(false, ec == asio::error::eof ? "connection closed" : ec.message());
      self->Read();
    });
  }

  void Finish(bool ok, std::string detail) {
    if (finished_) return;
    finished_ = true;
    boost::system::error_code ignored;
    timer_.cancel();
    socket_.close(ignored);
    auto done = std::move(done_);
    done(ok, std::move(detail));
  }

  tcp::socket socket_;
  asio::steady_timer timer_;
  uint16_t port_;
  ProbeSpec spec_;
  std::function<void(bool, std::string)> done_;
  std::string request_, response_;
  std::array<char, 512> chunk_{};
  bool finished_ = false;
};

}  // namespace

ProbeSpec ProbeSpecFromContainer(const Json& container) {
  ProbeSpec spec;
  if (!container.is_object() || !container.contains("readinessProbe") ||
      !container["readinessProbe"].is_object()) {
    return spec;
  }
  const Json& p = container["readinessProbe"];
  spec.timeout = Seconds(p, "timeoutSeconds", 1, 1);
  spec.initial_delay = Seconds(p, "initialDelaySeconds", 0, 0);
  spec.period = Seconds(p, "periodSeconds", 10, 1);
  spec.success_threshold = Int(p, "successThreshold", 1);
  spec.failure_threshold = Int(p, "failureThreshold", 3);
  if (p.contains("httpGet") && p["httpGet"].is_object()) {
    const Json& h = p["httpGet"];
    std::string scheme = h.value("scheme", "HTTP");
    if (scheme == "HTTP" || scheme == "http") {
      spec.kind = ProbeSpec::Kind::kHttp;
      spec.path = h.value("path", "/");
      if (spec.path.empty() || spec.path[0] != '/') spec.path = "/" + spec.path;
      if (h.contains("httpHeaders") && h["httpHeaders"].is_array()) {
        for (const auto& hh : h["httpHeaders"]) {
          if (hh.is_object())
            spec.headers.emplace_back(hh.value("name", ""), hh.value("value", ""));
        }
      }
    }
  }
  return spec;
}

void RunProbe(boost::asio::io_context& io, uint16_t port, const ProbeSpec& spec,
              std::function<void(bool, std::string)> done) {
  std::make_shared<ProbeOp>(io, port, spec, std::move(done))->Start();
}

ProbeSchedule::ProbeSchedule(const ProbeSpec& spec, const ProbeTuning& tuning, SteadyTime started)
    : spec_(spec), tuning_(tuning), started_(started) {}

SteadyTime ProbeSchedule::Next(SteadyTime now) {
  if (ever_ready_) return now + spec_.period;
  SteadyTime earliest = started_ + spec_.initial_delay;
  if (now < earliest) return earliest;
  if (now - started_ < tuning_.fast_window + spec_.initial_delay)
    return now + tuning_.fast_interval;
  // Start-up is slow: back off from the fast interval towards the period.
  backoff_ = backoff_.count() == 0 ? tuning_.fast_interval * 2 : backoff_ * 2;
  if (backoff_ > spec_.period) backoff_ = spec_.period;
  return now + backoff_;
}

bool ProbeSchedule::Record(bool success) {
  bool was = ready_;
  if (success) {
    failures_ = 0;
    ++successes_;
    // The first success after start-up makes a pod ready at once (as the kubelet does for a
    // container whose probe passes); later recoveries need successThreshold.
    if (!ever_ready_ || successes_ >= spec_.success_threshold) {
      ready_ = true;
      ever_ready_ = true;
    }
  } else {
    successes_ = 0;
    ++failures_;
    if (ready_ && failures_ >= spec_.failure_threshold) ready_ = false;
  }
  return was != ready_;
}

}  // namespace kfaas::node
