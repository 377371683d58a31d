// One client connection: read a request, route it, admit it, forward it, repeat.
#include <limits>
#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "activator/core/routing.h"
#include "activator/net/http_util.h"
#include "activator/net/worker.h"
#include "common/base/log.h"

namespace kfaas::activator::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
using asio::awaitable;
using asio::use_awaitable;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;
using ReqParser = http::request_parser<http::buffer_body>;
using ResParser = http::response_parser<http::buffer_body>;

namespace {

constexpr size_t kRelayBufferSize = 16 * 1024;
constexpr SteadyTime kNever = SteadyTime::max();

int64_t Millis(Duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

// A queued request's waiter, woken by cancelling its timer on its own thread.
struct NetWaiter : Waiter {
  explicit NetWaiter(const asio::any_io_executor& ex) : timer(ex) {}
  asio::steady_timer timer;
};

}  // namespace

class Session {
 public:
  Session(Worker& w, tcp::socket s)
      : w_(w), shared_(*w.shared), client_(std::move(s)), clock_(*shared_.registry->deps().clock) {
    error_code ec;
    auto ep = client_.remote_endpoint(ec);
    if (!ec) remote_ip_ = ep.address().to_string();
    next_ = w_.sessions;
    if (next_) next_->prev_ = this;
    w_.sessions = this;
    shared_.open_connections.fetch_add(1, std::memory_order_relaxed);
  }
  ~Session() {
    if (prev_) prev_->next_ = next_;
    if (next_) next_->prev_ = prev_;
    if (w_.sessions == this) w_.sessions = next_;
    shared_.open_connections.fetch_sub(1, std::memory_order_relaxed);
  }

  awaitable<void> Run();

  // --- sweeper ---
  void Sweep(SteadyTime now) {
    if (idle_) {
      if (shared_.draining.load(std::memory_order_relaxed) ||
          now - idle_since_ > shared_.opts.header_timeout) {
        header_timed_out_ = !shared_.draining.load(std::memory_order_relaxed);
        error_code ignored;
        client_.cancel(ignored);  // the read ends; the socket stays open for a 408
      }
    } else if (upstream_ && now > deadline_) {
      timed_out_ = true;
      error_code ignored;
      upstream_->close(ignored);
    }
  }
  Session* next() const { return next_; }
  bool CutForShutdown() {
    if (!upstream_) return false;
    cut_ = true;
    error_code ignored;
    upstream_->close(ignored);
    return true;
  }

 private:
  awaitable<bool> Handle(ReqParser& parser);
  awaitable<bool> Proxy(ReqParser& parser, const std::shared_ptr<FunctionState>& fs,
                        SteadyTime arrival, const std::string* new_target);
  awaitable<WaitResult> Wait(const std::shared_ptr<FunctionState>& fs, SteadyTime arrival,
                             SteadyTime deadline_cap, Lease* lease, bool* buffer_full, bool* cold);
  // Answers locally with a JSON body. Returns whether the connection may go on.
  awaitable<bool> Respond(int status, const std::string& body, bool keep_alive,
                          int retry_after = 0);
  ActivatorMetrics& metrics() { return *shared_.registry->deps().metrics; }

  Worker& w_;
  ServerShared& shared_;
  tcp::socket client_;
  Clock& clock_;
  std::string remote_ip_;
  beast::flat_buffer buf_;
  unsigned version_ = 11;

  // Sweeper state (same thread).
  Session* prev_ = nullptr;
  Session* next_ = nullptr;
  bool idle_ = false;
  bool header_timed_out_ = false;
  SteadyTime idle_since_{};
  tcp::socket* upstream_ = nullptr;
  SteadyTime deadline_ = kNever;
  bool timed_out_ = false;
  bool cut_ = false;  // the drain bound ended while the request was at an instance
};

awaitable<void> Session::Run() {
  while (true) {
    ReqParser parser;
    parser.header_limit(shared_.opts.max_header_bytes);
    parser.body_limit(shared_.opts.max_body_bytes);
    idle_ = true;
    idle_since_ = clock_.Now();
    if (shared_.draining.load(std::memory_order_relaxed) && buf_.size() == 0) break;
    error_code ec;
    co_await http::async_read_header(client_, buf_, parser,
                                     asio::redirect_error(use_awaitable, ec));
    idle_ = false;
    if (ec) {
      if (header_timed_out_ && buf_.size() > 0) {
        co_await Respond(408, ErrorJson(408, "the request header was not received in time"), false);
        metrics().Unrouted(408).Inc();
      } else if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
        co_await Respond(
            431,
            ErrorJson(431, "request header fields too large (limit " +
                               std::to_string(shared_.opts.max_header_bytes) + " bytes)"),
            false);
        metrics().Unrouted(431).Inc();
      } else if (ec == http::error::body_limit) {
        co_await Respond(
            413,
            ErrorJson(413, "request body too large (limit " +
                               std::to_string(shared_.opts.max_body_bytes) + " bytes)"),
            false);
        metrics().Unrouted(413).Inc();
      } else if (ec.category() == error_code(http::error::bad_method).category() &&
                 ec != http::error::end_of_stream && ec != http::error::partial_message) {
        co_await Respond(400, ErrorJson(400, "malformed request: " + ec.message()), false);
        metrics().Unrouted(400).Inc();
      }
      break;
    }
    version_ = parser.get().version();
    shared_.active_requests.fetch_add(1, std::memory_order_relaxed);
    bool keep = co_await Handle(parser);
    shared_.active_requests.fetch_sub(1, std::memory_order_relaxed);
    if (!keep || shared_.draining.load(std::memory_order_relaxed)) break;
  }
  error_code ignored;
  client_.shutdown(tcp::socket::shutdown_both, ignored);
  client_.close(ignored);
}

awaitable<bool> Session::Respond(int status, const std::string& body, bool keep_alive,
                                 int retry_after) {
  http::response<http::string_body> res{static_cast<http::status>(status),
                                        version_ >= 10 ? version_ : 11};
  res.set(http::field::server, "kfaas-activator");
  res.set(http::field::content_type, "application/json");
  if (retry_after > 0) res.set(http::field::retry_after, std::to_string(retry_after));
  res.body() = body;
  res.prepare_payload();
  keep_alive = keep_alive && !shared_.draining.load(std::memory_order_relaxed);
  res.keep_alive(keep_alive);
  error_code ec;
  co_await http::async_write(client_, res, asio::redirect_error(use_awaitable, ec));
  co_return !ec && keep_alive;
}

awaitable<bool> Session::Handle(ReqParser& parser) {
  auto& req = parser.get();
  SteadyTime arrival = clock_.Now();
  // A request with an unread body cannot be answered locally and then kept alive.
  bool local_keep = req.keep_alive() && parser.is_done();
  std::string_view target = req.target();
  std::string_view host = req[http::field::host];
  std::string absolute_path;
  if (target.size() > 7 && beast::iequals(target.substr(0, 7), "http://")) {
    std::string_view rest = target.substr(7);
    size_t slash = rest.find('/');
    host = rest.substr(0, slash);
    target = slash == std::string_view::npos ? std::string_view("/") : rest.substr(slash);
    absolute_path = std::string(target);
  }
  if (target.empty() || target[0] != '/') {
    metrics().Unrouted(400).Inc();
    co_return co_await Respond(
        400, ErrorJson(400, "the request target must be a path starting with '/'"), local_keep);
  }
  // RFC 9112 3.2: more than one Host is refused, never routed by whichever comes first (two
  // Hosts may name two functions, and a proxy in front may have read the other one).
  if (req.count(http::field::host) > 1) {
    metrics().Unrouted(400).Inc();
    co_return co_await Respond(400, ErrorJson(400, "more than one Host header: send exactly one"),
                               local_keep);
  }
  // ... and an HTTP/1.1 request without one (RFC 9112 3.2: a server must answer 400).
  if (req.version() >= 11 && req.count(http::field::host) == 0) {
    metrics().Unrouted(400).Inc();
    co_return co_await Respond(
        400, ErrorJson(400, "an HTTP/1.1 request must carry a Host header (RFC 9112 3.2)"),
        local_keep);
  }
  const Registry::Table& table = shared_.registry->Current();
  std::shared_ptr<FunctionState> fs;
  if (!host.empty()) {
    thread_local std::string normalized;
    normalized.clear();
    size_t end = host.size();
    if (host.front() != '[') {
      size_t colon = host.rfind(':');
      if (colon != std::string_view::npos) end = colon;
    }
    for (size_t i = 0; i < end; ++i) {
      char c = host[i];
      normalized.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c);
    }
    if (host.front() == '[') normalized = NormalizeHost(host);
    while (!normalized.empty() && normalized.back() == '.') normalized.pop_back();
    fs = table.ByHost(normalized);
  }
  if (fs) {
    const std::string* t = absolute_path.empty() ? nullptr : &absolute_path;
    co_return co_await Proxy(parser, fs, arrival, t);
  }
  PathRoute pr = ParseFnPath(target);
  if (pr.result == PathRoute::Result::kBad) {
    metrics().Unrouted(400).Inc();
    co_return co_await Respond(400, ErrorJson(400, "bad function path: " + pr.error, {}, "BadPath"),
                               local_keep);
  }
  if (pr.result == PathRoute::Result::kNoMatch) {
    metrics().Unrouted(404).Inc();
    co_return co_await Respond(
        404,
        ErrorJson(404,
                  "no function is routed for host \"" + std::string(host) +
                      "\"; use Host <name>.<namespace>." + shared_.registry->deps().options.domain +
                      " or the path /fn/<namespace>/<name>/",
                  {}, "NotFound"),
        local_keep);
  }
  fs = table.ByName(pr.ns, pr.name);
  if (!fs) {
    std::string key = FunctionKey(pr.ns, pr.name);
    metrics().Unrouted(404).Inc();
    co_return co_await Respond(
        404, ErrorJson(404, "function " + key + " not found", key, "NotFound"), local_keep);
  }
  co_return co_await Proxy(parser, fs, arrival, &pr.target);
}

awaitable<WaitResult> Session::Wait(const std::shared_ptr<FunctionState>& fs, SteadyTime arrival,
                                    SteadyTime deadline_cap, Lease* lease, bool* buffer_full,
                                    bool* cold) {
  auto ex = co_await asio::this_coro::executor;
  auto w = std::make_shared<NetWaiter>(ex);
  w->arrival = arrival;
  std::weak_ptr<NetWaiter> weak = w;
  w->wake = [weak, ex] {
    asio::post(ex, [weak] {
      if (auto w = weak.lock()) w->timer.cancel();
    });
  };
  if (fs->Enqueue(w) == AdmitResult::kBufferFull) {
    *buffer_full = true;
    co_return WaitResult::kTimedOut;
  }
  *cold = w->cold;
  SteadyTime deadline = deadline_cap;
  if (w->cold) {
    deadline = std::min(deadline, arrival + shared_.registry->deps().options.cold_start_timeout);
  }
  w->timer.expires_at(deadline);
  error_code ec;
  co_await w->timer.async_wait(asio::redirect_error(use_awaitable, ec));
  co_return fs->FinishWait(w, clock_.Now(), lease);
}

awaitable<bool> Session::Proxy(ReqParser& parser, const std::shared_ptr<FunctionState>& fs,
                               SteadyTime arrival, const std::string* new_target) {
  auto& req = parser.get();
  FunctionMetrics& fm = fs->metrics();
  const std::string fn_key = fs->ns() + "/" + fs->name();
  bool client_keep = req.keep_alive();
  const bool has_body = !parser.is_done();
  const bool local_keep = client_keep && !has_body;
  const Duration timeout = std::chrono::milliseconds(fs->timeout_ms());
  SteadyTime request_deadline = arrival + timeout;

  auto respond = [&](int code, const std::string& msg, const char* reason,
                     int retry_after = 0) -> awaitable<bool> {
    fm.Requests(code).Inc();
    co_return co_await Respond(code, ErrorJson(code, msg, fn_key, reason), local_keep, retry_after);
  };

  // --- admission ---
  Lease lease;
  AdmitResult ar = fs->TryAdmit(arrival, &lease);
  // Waits for a slot when none was free at once. Returns nullopt when `lease` holds a slot,
  // else whether the connection may go on after the local answer.
  auto admit_slow = [&](bool count) -> awaitable<std::optional<bool>> {
    AdmitResult r = count ? ar : fs->TryAdmit(clock_.Now(), &lease, false);
    if (r == AdmitResult::kGranted) co_return std::nullopt;
    if (r == AdmitResult::kThrottled) {
      co_return co_await respond(
          429,
          "the activator's concurrency limit (" +
              std::to_string(shared_.registry->deps().options.max_concurrency) +
              " requests in flight) is reached; retry later",
          "TooManyRequests", 1);
    }
    bool full = false, cold = false;
    WaitResult wr = co_await Wait(fs, arrival, request_deadline, &lease, &full, &cold);
    if (full) {
      co_return co_await respond(503,
                                 "the request buffer for " + fn_key +
                                     " is full; the function is starting or overloaded, retry "
                                     "later",
                                 "BufferFull", 1);
    }
    std::string waited = std::to_string(Millis(clock_.Now() - arrival));
    switch (wr) {
      case WaitResult::kGranted:
        co_return std::nullopt;
      case WaitResult::kThrottled:
        co_return co_await respond(429, "the activator's concurrency limit is reached; retry later",
                                   "TooManyRequests", 1);
      case WaitResult::kGone:
        co_return co_await respond(503,
                                   "function " + fn_key + " was deleted while the request waited",
                                   "FunctionDeleted", 1);
      case WaitResult::kShuttingDown:
        co_return co_await respond(503,
                                   "the activator is shutting down and its drain time ended "
                                   "before " +
                                       fn_key + " could serve this request; retry",
                                   "ShuttingDown", 1);
      case WaitResult::kTimedOut:
        break;
    }
    if (cold) {
      co_return co_await respond(
          504,
          "cold start of " + fn_key + " timed out: no instance became ready in " + waited + " ms",
          "ColdStartTimeout");
    }
    co_return co_await respond(
        504,
        "no instance of " + fn_key + " had a free slot (spec.concurrency) in " + waited + " ms",
        "QueueTimeout");
  };
  if (ar != AdmitResult::kGranted) {
    if (std::optional<bool> keep = co_await admit_slow(true)) co_return *keep;
  }
  std::optional<Duration> cold_wait;
  if (lease.cold) cold_wait = lease.waited;

  // --- the upstream request ---
  if (new_target) req.target(*new_target);
  bool expect_continue = beast::iequals(req[http::field::expect], "100-continue");
  if (expect_continue) req.erase(http::field::expect);
  StripHopByHop(req);
  {
    auto xff = req.find("X-Forwarded-For");
    if (xff == req.end()) {
      req.set("X-Forwarded-For", remote_ip_);
    } else {
      std::string v(xff->value());
      v.append(", ").append(remote_ip_);
      req.set("X-Forwarded-For", v);
    }
    if (req.find("X-Forwarded-Proto") == req.end()) req.set("X-Forwarded-Proto", "http");
    auto host = req.find(http::field::host);
    if (host != req.end() && req.find("X-Forwarded-Host") == req.end()) {
      req.set("X-Forwarded-Host", std::string(host->value()));
    }
  }
  req.version(11);

  std::unique_ptr<char[]> body_buf;
  bool body_started = false;  // bytes of the client's body were consumed
  bool force_new = false;
  std::unique_ptr<UpstreamConn> conn;
  int attempts = 0;
  SteadyTime dispatched = clock_.Now();
  std::string last_error;

  auto finish = [&](int code, bool completed) {
    if (code >= 500 && code != 503 && last_error.size()) {
      KFAAS_VLOG(1) << "function " << fn_key << ": " << code << ": " << last_error;
    }
    fs->Release(lease, completed);
    fm.Requests(code).Inc();
    fm.duration.Observe(std::chrono::duration<double>(clock_.Now() - dispatched).count());
  };

  // The drain bound ended with this request at an instance (or about to go to one).
  auto shut_down = [&](const char* stage) -> awaitable<bool> {
    upstream_ = nullptr;
    finish(503, true);
    KFAAS_LOG(WARNING) << "function " << fn_key << ": a request that " << stage
                       << " answered 503: the activator's drain time ended";
    co_return co_await Respond(
        503,
        ErrorJson(503,
                  std::string("the activator shut down before ") + fn_key +
                      " answered: its drain time (--drain-timeout) ended while the request " +
                      stage + "; it may have been processed, retry only if that is safe",
                  fn_key, "ShuttingDown"),
        false);
  };

  // A cold start's bookkeeping (its metrics, status report and log line: a thread wake-up and
  // a write to the log pipe) waits until the answer's first bytes are on their way to the
  // client (or the request ended otherwise), so it does not compete with relaying them. It is
  // timed when the request was forwarded.
  struct FirstByteMark {
    std::shared_ptr<FunctionState> fs;
    std::optional<SteadyTime> at;
    void Flush() {
      if (at) fs->OnFirstByteForwarded(*at);
      at.reset();
    }
    ~FirstByteMark() { Flush(); }
  } first_byte{fs, std::nullopt};

  while (true) {
    if (shared_.cutting.load(std::memory_order_relaxed)) {
      co_return co_await shut_down("was about to be forwarded");
    }
    // --- connection ---
    conn = force_new ? nullptr : w_.pool.Take(*lease.instance);
    const bool reused = conn != nullptr;
    force_new = false;
    if (!conn) {
      conn = std::make_unique<UpstreamConn>(w_.ioc);
      error_code ec;
      upstream_ = &conn->socket;
      deadline_ = std::min(clock_.Now() + shared_.opts.connect_timeout, request_deadline);
      timed_out_ = false;
      co_await conn->socket.async_connect(lease.instance->endpoint,
                                          asio::redirect_error(use_awaitable, ec));
      if (cut_) co_return co_await shut_down("was connecting to an instance");
      upstream_ = nullptr;
      if (ec || timed_out_) {
        // Nothing was sent: another instance may take it.
        last_error = lease.instance->key + ": " + (timed_out_ ? "connect timed out" : ec.message());
        fs->OnForwardFailed(lease.instance);
        fs->Release(lease, false);
        if (++attempts >= shared_.opts.max_attempts || clock_.Now() >= request_deadline) {
          co_return co_await respond(
              502, "no instance of " + fn_key + " accepted a connection (" + last_error + ")",
              "BadGateway");
        }
        if (std::optional<bool> keep = co_await admit_slow(false)) co_return *keep;
        if (lease.cold && !cold_wait) cold_wait = lease.waited;
        continue;
      }
      error_code ignored;
      conn->socket.set_option(tcp::no_delay(true), ignored);
    }
    upstream_ = &conn->socket;
    deadline_ = dispatched + timeout;
    timed_out_ = false;

    // --- send the request: header, then the body streamed from the client ---
    error_code ec;
    bool client_error = false;
    {
      http::request_serializer<http::buffer_body> sr{req};
      if (!has_body) {
        req.body().data = nullptr;
        req.body().size = 0;
        req.body().more = false;
        co_await http::async_write(conn->socket, sr, asio::redirect_error(use_awaitable, ec));
      } else {
        if (body_started) {
          // The body was partly consumed by a failed attempt: it cannot be replayed.
          upstream_ = nullptr;
          last_error += " (request body not replayable)";
          finish(502, true);
          co_await Respond(502,
                           ErrorJson(502,
                                     "instance of " + fn_key +
                                         " closed the connection while receiving the "
                                         "request body: " +
                                         last_error,
                                     fn_key, "BadGateway"),
                           false);
          co_return false;
        }
        if (expect_continue) {
          static constexpr char k100[] = "HTTP/1.1 100 Continue\r\n\r\n";
          co_await asio::async_write(client_, asio::buffer(k100, sizeof(k100) - 1),
                                     asio::redirect_error(use_awaitable, ec));
          if (ec) client_error = true;
        }
        if (!body_buf) body_buf.reset(new char[kRelayBufferSize]);
        if (buf_.capacity() < kRelayBufferSize) buf_.reserve(kRelayBufferSize);
        while (!ec) {
          if (!parser.is_done()) {
            req.body().data = body_buf.get();
            req.body().size = kRelayBufferSize;
            co_await http::async_read_some(client_, buf_, parser,
                                           asio::redirect_error(use_awaitable, ec));
            if (ec == http::error::need_buffer) ec = {};
            if (ec) {
              client_error = true;
              break;
            }
            body_started = true;
            req.body().size = kRelayBufferSize - req.body().size;
            req.body().data = body_buf.get();
            // Beast 1.74 writes the last chunk twice when the final data comes with
            // more=false: end a chunked body with a separate empty write instead.
            req.body().more = !parser.is_done() || req.chunked();
            // Nothing new yet (e.g. only a chunk header): an empty buffer would be sent as the
            // last chunk.
            if (req.body().size == 0 && req.body().more) continue;
          } else {
            req.body().data = nullptr;
            req.body().size = 0;
            req.body().more = false;
          }
          co_await http::async_write(conn->socket, sr, asio::redirect_error(use_awaitable, ec));
          if (ec == http::error::need_buffer) ec = {};
          if (sr.is_done()) break;
        }
      }
    }
    if (client_error) {
      KFAAS_VLOG(1) << "function " << fn_key
                    << ": reading the request body failed: " << ec.message();
      upstream_ = nullptr;
      int code = ec == http::error::body_limit ? 413 : 400;
      finish(code, true);
      if (code == 413) {
        co_await Respond(413,
                         ErrorJson(413,
                                   "request body too large (limit " +
                                       std::to_string(shared_.opts.max_body_bytes) + " bytes)",
                                   fn_key, "BodyTooLarge"),
                         false);
      }
      co_return false;
    }
    if (ec && cut_) co_return co_await shut_down("was being sent to an instance");
    if (ec) {
      last_error = lease.instance->key + ": " + (timed_out_ ? "timed out" : ec.message());
      if (reused && !body_started && !timed_out_) {
        force_new = true;  // a stale keep-alive connection: retry on a fresh one
        continue;
      }
      upstream_ = nullptr;
      finish(timed_out_ ? 504 : 502, true);
      if (timed_out_) fm.timeouts.Inc();
      co_return co_await Respond(
          timed_out_ ? 504 : 502,
          ErrorJson(timed_out_ ? 504 : 502,
                    "sending the request to " + fn_key + " failed (" + last_error + ")", fn_key,
                    timed_out_ ? "Timeout" : "BadGateway"),
          false);
    }
    if (lease.cold) {
      first_byte.at = clock_.Now();
      lease.cold = false;
    }

    // --- the response: header, then the body streamed to the client ---
    ResParser rp;
    rp.body_limit(std::numeric_limits<std::uint64_t>::max());
    if (req.method() == http::verb::head) rp.skip(true);
    co_await http::async_read_header(conn->socket, conn->buffer, rp,
                                     asio::redirect_error(use_awaitable, ec));
    while (!ec && rp.get().result_int() / 100 == 1 && rp.get().result_int() != 101) {
      // An interim response (e.g. 103): skip it.
      rp.~ResParser();
      new (&rp) ResParser();
      rp.body_limit(std::numeric_limits<std::uint64_t>::max());
      if (req.method() == http::verb::head) rp.skip(true);
      co_await http::async_read_header(conn->socket, conn->buffer, rp,
                                       asio::redirect_error(use_awaitable, ec));
    }
    if (ec && cut_) co_return co_await shut_down("was waiting for the instance's answer");
    if (ec) {
      last_error = lease.instance->key + ": " + (timed_out_ ? "timed out" : ec.message());
      if (reused && !has_body && !timed_out_ && conn->buffer.size() == 0 &&
          (ec == http::error::end_of_stream || ec == asio::error::connection_reset ||
           ec == asio::error::eof)) {
        force_new = true;
        continue;
      }
      upstream_ = nullptr;
      int code = timed_out_ ? 504 : 502;
      finish(code, true);
      if (timed_out_) fm.timeouts.Inc();
      std::string msg = timed_out_
                            ? "function " + fn_key + " did not answer within its timeout (" +
                                  std::to_string(Millis(timeout) / 1000) + " s)"
                            : "instance " + lease.instance->key + " of " + fn_key +
                                  " closed the connection before responding (" + ec.message() + ")";
      co_return co_await Respond(
          code, ErrorJson(code, msg, fn_key, timed_out_ ? "Timeout" : "BadGateway"), local_keep);
    }
    auto& res = rp.get();
    const int code = res.result_int();
    const bool upstream_keep = res.keep_alive() && !rp.need_eof();
    StripHopByHop(res);
    if (cold_wait) res.set("X-Kfaas-Cold-Start", std::to_string(Millis(*cold_wait)));
    bool keep = client_keep && !shared_.draining.load(std::memory_order_relaxed);
    res.version(version_ >= 11 ? 11 : 10);
    if (!rp.is_done() && !res.has_content_length() && !res.chunked()) {
      if (version_ >= 11) {
        res.chunked(true);
      } else {
        keep = false;
      }
    } else if (version_ < 11 && res.chunked()) {
      res.chunked(false);
      keep = false;
    }
    res.keep_alive(keep);

    bool upstream_ok = true, client_ok = true;
    {
      http::response_serializer<http::buffer_body> sr{res};
      // Buffers are allocated only for a body (a coroutine frame holding one would cost its
      // size for every request held in a queue).
      constexpr size_t kSmall = 4096;
      std::unique_ptr<char[]> small, big;
      char* rbuf = nullptr;
      size_t rsize = kSmall;
      while (true) {
        if (!rp.is_done()) {
          if (!rbuf) {
            small.reset(new char[kSmall]);
            rbuf = small.get();
          }
          res.body().data = rbuf;
          res.body().size = rsize;
          co_await http::async_read_some(conn->socket, conn->buffer, rp,
                                         asio::redirect_error(use_awaitable, ec));
          if (ec == http::error::need_buffer) ec = {};
          if (ec) {
            upstream_ok = false;
            break;
          }
          res.body().size = rsize - res.body().size;
          res.body().data = rbuf;
          res.body().more = !rp.is_done() || res.chunked();       // see the request side
          if (res.body().size == 0 && res.body().more) continue;  // see the request side
          if (!big && res.body().size == rsize) {
            big.reset(new char[kRelayBufferSize]);  // a large body: use a larger buffer
            rbuf = big.get();
            rsize = kRelayBufferSize;
            if (conn->buffer.capacity() < kRelayBufferSize) conn->buffer.reserve(kRelayBufferSize);
          }
        } else {
          res.body().data = nullptr;
          res.body().size = 0;
          res.body().more = false;
        }
        co_await http::async_write(client_, sr, asio::redirect_error(use_awaitable, ec));
        first_byte.Flush();
        if (ec == http::error::need_buffer) ec = {};
        if (ec) {
          client_ok = false;
          break;
        }
        if (sr.is_done()) break;
      }
    }
    upstream_ = nullptr;
    if (!upstream_ok) {
      // The header went out already: all that is left is to cut the client connection.
      if (timed_out_) fm.timeouts.Inc();
      KFAAS_VLOG(1) << "function " << fn_key << ": response from " << lease.instance->key
                    << " cut: "
                    << (cut_         ? "the activator's drain time ended"
                        : timed_out_ ? "timed out"
                                     : ec.message());
      finish(code, true);
      co_return false;
    }
    finish(code, true);
    if (client_ok && upstream_keep && rp.is_done() && !timed_out_) {
      w_.pool.Put(*lease.instance, std::move(conn));
    }
    co_return client_ok&& keep;
  }
}

awaitable<void> RunSession(Worker& worker, tcp::socket socket) {
  Session s(worker, std::move(socket));
  co_await s.Run();
}

int CutForwardedForShutdown(Worker& worker) {
  int n = 0;
  for (Session* s = worker.sessions; s; s = s->next()) n += s->CutForShutdown() ? 1 : 0;
  return n;
}

awaitable<void> RunSweeper(Worker& worker) {
  auto ex = co_await asio::this_coro::executor;
  asio::steady_timer timer(ex);
  Clock& clock = *worker.shared->registry->deps().clock;
  while (true) {
    timer.expires_after(worker.shared->opts.sweep_interval);
    error_code ec;
    co_await timer.async_wait(asio::redirect_error(use_awaitable, ec));
    if (ec) co_return;
    SteadyTime now = clock.Now();
    for (Session* s = worker.sessions; s;) {
      Session* next = s->next();
      s->Sweep(now);
      s = next;
    }
  }
}

}  // namespace kfaas::activator::net
