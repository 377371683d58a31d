// Hostile HTTP against the activator's proxy server (activator/net) on loopback: every case gets
// a clear 4xx or a closed connection, and a normal request succeeds right after it.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/activator/harness.h"
#include "tests/reliability/raw_http.h"

namespace kfaas::reliability {
namespace {

using activator::testing::Get;
using activator::testing::Harness;
using namespace std::chrono_literals;

constexpr char kGood[] = "/fn/default/hello/hello";

class ActivatorHostile : public ::testing::Test {
 protected:
  void SetUp() override {
    Harness::Options o;
    o.proxy.max_body_bytes = 1 << 20;
    o.proxy.header_timeout = 500ms;
    h_ = std::make_unique<Harness>(o);
    h_->AddFunction("hello");
    h_->AddFunction("other");
    h_->AddBackend("hello", "b1");
  }
  // The server keeps serving: a normal request right after.
  void ExpectServing(const std::string& after) {
    auto r = Get(h_->port(), kGood);
    EXPECT_EQ(r.status, 200) << "after " << after << ": " << r.error << r.body;
  }
  void Expect4xx(const std::string& name, const std::vector<std::string>& pieces, int code,
                 RawOptions opts = {}) {
    Exchange ex = RawHttp(h_->port(), pieces, opts);
    EXPECT_EQ(ex.Status(), code) << name << ": got " << ex.response.substr(0, 300);
    if (code >= 400) {
      EXPECT_NE(ex.response.find("application/json"), std::string::npos) << name;
    }
    ExpectServing(name);
  }
  std::unique_ptr<Harness> h_;
};

TEST_F(ActivatorHostile, BadRequestLines) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"garbage", "GARBAGE\r\n\r\n"},
      {"no target", "GET\r\n\r\n"},
      {"bad version", "GET / HTTP/9.9\r\nHost: x\r\n\r\n"},
      {"no version", "GET /fn/default/hello/hello\r\nHost: x\r\n\r\n"},
      {"method with @", "G@T / HTTP/1.1\r\nHost: x\r\n\r\n"},
      {"space in target", "GET /fn/default/hello/a b HTTP/1.1\r\nHost: x\r\n\r\n"},
      {"NUL in request line", std::string("GET /") + '\0' + " HTTP/1.1\r\nHost: x\r\n\r\n"},
      {"binary", std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 15)},
  };
  for (const auto& [name, bytes] : cases) Expect4xx(name, {bytes}, 400);
  // A target that is not origin-form.
  Expect4xx("asterisk target", {"GET * HTTP/1.1\r\nHost: x\r\n\r\n"}, 400);
  // HTTP/1.1 without Host (RFC 9112 3.2), even with a routable path.
  Expect4xx("HTTP/1.1 without Host", {"GET /fn/default/hello/hello HTTP/1.1\r\n\r\n"}, 400);
}

TEST_F(ActivatorHostile, OversizedHeaders) {
  std::string one =
      "GET /fn/default/hello/hello HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(70 * 1024, 'a') +
      "\r\n\r\n";
  Expect4xx("one 70 KiB header", {one}, 431);
  std::string many = "GET /fn/default/hello/hello HTTP/1.1\r\nHost: x\r\n";
  for (int i = 0; i < 2000; ++i)
    many += "X-H" + std::to_string(i) + ": " + std::string(40, 'v') + "\r\n";
  many += "\r\n";
  Expect4xx("2000 headers (~96 KiB)", {many}, 431);
  std::string target = "GET /fn/default/hello/" + std::string(70 * 1024, 'p') + " HTTP/1.1\r\n\r\n";
  Expect4xx("70 KiB target", {target}, 431);
}

TEST_F(ActivatorHostile, HeaderInjection) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"bare CR in value",
       "GET /fn/default/hello/headers HTTP/1.1\r\nHost: x\r\nX-A: a\rInjected: b\r\n\r\n"},
      {"bare LF in value",
       "GET /fn/default/hello/headers HTTP/1.1\r\nHost: x\r\nX-A: a\nInjected: b\r\n\r\n"},
      {"NUL in value", std::string("GET /fn/default/hello/headers HTTP/1.1\r\nHost: x\r\nX-A: a") +
                           '\0' + "b\r\n\r\n"},
      {"space before colon",
       "GET /fn/default/hello/headers HTTP/1.1\r\nHost: x\r\nX-A : a\r\n\r\n"},
      {"no colon", "GET /fn/default/hello/headers HTTP/1.1\r\nHost: x\r\nInjected\r\n\r\n"},
      {"CL and TE (smuggling)",
       "POST /fn/default/hello/count HTTP/1.1\r\nHost: x\r\nContent-Length: "
       "4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
      {"two different CLs",
       "POST /fn/default/hello/count HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: "
       "5\r\n\r\nabcde"},
      {"bad CL", "POST /fn/default/hello/count HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n"},
      {"negative CL",
       "POST /fn/default/hello/count HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n"},
      {"bad chunk size",
       "POST /fn/default/hello/count HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
       "chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"},
  };
  for (const auto& [name, bytes] : cases) {
    Exchange ex = RawHttp(h_->port(), {bytes});
    int code = ex.Status();
    // A 400, or (for a bad body after the request was forwarded) a closed connection; never a
    // header that reaches the function split in two.
    EXPECT_TRUE(code == 400 || (code == 0 && ex.closed_by_peer) || code == 502)
        << name << ": " << ex.response.substr(0, 300);
    EXPECT_EQ(ex.response.find("\nInjected:"), std::string::npos) << name << ex.response;
    ExpectServing(name);
  }
  // obs-fold (a header continued on the next line): refused, or folded into one value.
  Exchange ex = RawHttp(
      h_->port(),
      {"GET /fn/default/hello/headers HTTP/1.1\r\nHost: x\r\nX-A: a\r\n Injected: b\r\n\r\n"});
  EXPECT_EQ(ex.response.find("\nInjected:"), std::string::npos) << ex.response;
  ExpectServing("obs-fold");
}

TEST_F(ActivatorHostile, HugeAndTruncatedBodies) {
  Expect4xx(
      "announced 10 GiB",
      {"POST /fn/default/hello/count HTTP/1.1\r\nHost: x\r\nContent-Length: 10737418240\r\n\r\n"},
      413);
  Expect4xx("CL overflowing 64 bits",
            {"POST /fn/default/hello/count HTTP/1.1\r\nHost: x\r\nContent-Length: "
             "99999999999999999999999\r\n\r\n"},
            400);
  // A chunked body past the limit: 413 before the body is forwarded, or the connection cut.
  std::vector<std::string> pieces = {
      "POST /fn/default/hello/count HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"};
  std::string chunk = "10000\r\n" + std::string(0x10000, 'c') + "\r\n";
  for (int i = 0; i < 40; ++i) pieces.push_back(chunk);  // 2.5 MiB > 1 MiB
  pieces.push_back("0\r\n\r\n");
  Exchange ex = RawHttp(h_->port(), pieces, {.timeout = 10000ms});
  EXPECT_TRUE(ex.Status() == 413 || ex.closed_by_peer) << ex.response.substr(0, 300);
  EXPECT_NE(ex.Status(), 200) << "a body past the limit must not be served";
  ExpectServing("chunked 2.5 MiB");

  // Truncated: promises 1000 bytes, sends 10 and half-closes; the proxy must not hang.
  ex = RawHttp(h_->port(),
               {"POST /fn/default/hello/count HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n",
                "0123456789"},
               {.timeout = 5000ms, .half_close = true});
  EXPECT_TRUE(ex.closed_by_peer) << "connection left open: " << ex.response;
  EXPECT_NE(ex.Status(), 200);
  ExpectServing("truncated body");
  // Truncated chunked body.
  ex = RawHttp(
      h_->port(),
      {"POST /fn/default/hello/count HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
       "100\r\nabc"},
      {.timeout = 5000ms, .half_close = true});
  EXPECT_TRUE(ex.closed_by_peer) << ex.response;
  EXPECT_NE(ex.Status(), 200);
  ExpectServing("truncated chunked body");
}

TEST_F(ActivatorHostile, SlowlorisClosedByHeaderTimeout) {
  std::string req =
      "GET /fn/default/hello/hello HTTP/1.1\r\nHost: x\r\nX-Slow: " + std::string(60, 's') +
      "\r\n\r\n";
  // One byte every 50 ms: the whole header would take ~6 s; the timeout is 500 ms.
  std::vector<std::thread> clients;
  std::vector<Exchange> results(8);
  for (size_t i = 0; i < results.size(); ++i) {
    clients.emplace_back([&, i] {
      results[i] = RawHttp(h_->port(), Bytewise(req), {.gap = 50ms, .timeout = 10000ms});
    });
  }
  // While the slow clients hold their connections, others are served.
  for (int i = 0; i < 5; ++i) ExpectServing("slowloris in progress");
  for (auto& t : clients) t.join();
  for (const auto& ex : results) {
    EXPECT_TRUE(ex.closed_by_peer);
    EXPECT_LT(ex.elapsed, 3000ms) << "the header timeout did not cut the slow client";
    EXPECT_TRUE(ex.Status() == 408 || ex.Status() == 0) << ex.response;
  }
  ExpectServing("slowloris");
}

TEST_F(ActivatorHostile, PathTraversalInFnRoutes) {
  const std::vector<std::string> bad = {
      "/fn/default/hello/../other/hello",
      "/fn/default/hello/./hello",
      "/fn/default/hello/%2e%2e/other/hello",
      "/fn/default/hello/%2E%2e/other/hello",
      "/fn/default/hello/.%2e/other/hello",
      "/fn/default/hello/%252e%252e/other/hello",
      "/fn/default/hello/a%2f..%2fb",
      "/fn/default/hello/a%2F%2E%2E%2Fb",
      "/fn/default/hello/a%5c..%5cb",
      "/fn/default/hello/a\\..\\b",
      "/fn/default/hello/a%00b",
      "/fn/default/hello/%zz",
      "/fn/default/hello/%",
      "/fn/default/../default/other/hello",
      "/fn/../fn/default/other/hello",
      "/fn/default/%2e%2e/x",
      "/fn/default/hello%2f..%2fother/x",
      "/fn/default/HELLO/x",
      "/fn/Default/hello/x",
      "/fn/default/hel.lo/x",
      "/fn/default",
      "/fn",
  };
  for (const auto& target : bad) {
    Exchange ex = RawHttp(h_->port(), {"GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n"});
    EXPECT_EQ(ex.Status(), 400) << target << ": " << ex.response.substr(0, 300);
    EXPECT_EQ(ex.response.find("hello from"), std::string::npos) << target;
    ExpectServing(target);
  }
  // The other function's name never leaks through to it: "other" has no backend and no cold
  // start was asked for it.
  auto r = Get(h_->port(), "/fn/default/hello/headers");
  ASSERT_EQ(r.status, 200);
}

// The traffic port serves only functions: the admin paths (metrics, health, debug) live on the
// admin port, so a caller of a function cannot read them, and a Host naming the activator's
// own addresses routes nowhere.
TEST_F(ActivatorHostile, AdminPathsAreNotServedOnTheTrafficPort) {
  for (const std::string target :
       {"/metrics", "/healthz", "/readyz", "/livez", "/debug/functions", "/debug/pprof"}) {
    Exchange ex = RawHttp(h_->port(), {"GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"});
    EXPECT_EQ(ex.Status(), 404) << target << ": " << ex.response.substr(0, 300);
    EXPECT_EQ(ex.response.find("kfaas_"), std::string::npos) << target << " leaked metrics";
    EXPECT_EQ(ex.response.find("readyInstances"), std::string::npos) << target;
    ExpectServing(target);
  }
}

// A Host header can reach only the function it names: never another function, never a
// function's generated host with a suffix or prefix trick. Ambiguous requests are refused.
TEST_F(ActivatorHostile, HostTricksReachOnlyTheNamedFunction) {
  // "other" has no backend: anything routed to it waits for a cold start, so a 200 with
  // hello's answer means the request reached hello.
  const std::vector<std::string> not_hello = {
      "hello.default.kfaas.local.evil.example",
      "evil.example.hello.default.kfaas.local",
      "hello.default.kfaas.local@evil.example",
      "hello.default.kfaas.local%00",
      "hello.default",
      "hello",
  };
  for (const auto& host : not_hello) {
    Exchange ex = RawHttp(h_->port(), {"GET /hello HTTP/1.1\r\nHost: " + host + "\r\n\r\n"});
    EXPECT_NE(ex.Status(), 200) << host << ": " << ex.response.substr(0, 300);
    EXPECT_EQ(ex.response.find("hello from"), std::string::npos) << host;
    ExpectServing(host);
  }
  // The same host in another case, with a port or a trailing dot is still hello.
  for (const std::string host : {"HELLO.default.KFAAS.local", "hello.default.kfaas.local:8080",
                                 "hello.default.kfaas.local."}) {
    Exchange ex = RawHttp(h_->port(), {"GET /hello HTTP/1.1\r\nHost: " + host + "\r\n\r\n"});
    EXPECT_EQ(ex.Status(), 200) << host << ": " << ex.response.substr(0, 300);
  }
  // Two Host headers (one for each function): 400, not whichever the router reads first.
  Exchange two = RawHttp(h_->port(), {"GET /hello HTTP/1.1\r\nHost: other.default.kfaas.local\r\n"
                                      "Host: hello.default.kfaas.local\r\n\r\n"});
  EXPECT_EQ(two.Status(), 400) << two.response.substr(0, 300);
  ExpectServing("two Host headers");
}

}  // namespace
}  // namespace kfaas::reliability
