// Integration tests of the activator's data path through real sockets on loopback.
#include <gtest/gtest.h>

#include <future>

#include <boost/asio.hpp>

#include "common/base/log.h"
#include "tests/activator/harness.h"

namespace kfaas::activator::testing {
namespace {

using Json = nlohmann::json;

TEST(Proxy, ForwardsByPathAndHostWithForwardingHeaders) {
  Harness h;
  h.AddFunction("hello", {{"hosts", {"hello.example.com"}}});
  h.AddBackend("hello", "b1");
  auto r = Get(h.port(), "/fn/default/hello/headers?x=1&y=%2F", "activator.local:8080");
  ASSERT_EQ(r.status, 200) << r.error << r.body;
  EXPECT_NE(r.body.find("GET /headers?x=1&y=%2F\n"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("X-Forwarded-For: 127.0.0.1"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("X-Forwarded-Proto: http"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("X-Forwarded-Host: activator.local:8080"), std::string::npos) << r.body;
  EXPECT_EQ(r.Header("x-backend"), "b1");
  EXPECT_EQ(r.Header("x-kfaas-cold-start"), "") << "a warm request carries no cold-start header";

  r = Get(h.port(), "/headers", "Hello.Default.kfaas.local:8080");
  ASSERT_EQ(r.status, 200) << r.error;
  EXPECT_NE(r.body.find("GET /headers\n"), std::string::npos) << r.body;
  r = Get(h.port(), "/fn/default/other/x", "hello.example.com");
  ASSERT_EQ(r.status, 200) << "the Host route wins; the path goes unchanged";
  EXPECT_NE(r.body.find("/fn/default/other/x"), std::string::npos);

  // Hop-by-hop headers do not cross; end-to-end ones do.
  RequestSpec s;
  s.target = "/fn/default/hello/headers";
  s.headers = {{"Connection", "keep-alive, X-Secret"},
               {"X-Secret", "s"},
               {"Keep-Alive", "timeout=5"},
               {"Proxy-Authorization", "Basic x"},
               {"X-Forwarded-For", "10.1.1.1"},
               {"X-End", "e"}};
  r = Fetch(h.port(), s);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body.find("X-Secret"), std::string::npos) << r.body;
  EXPECT_EQ(r.body.find("Keep-Alive"), std::string::npos) << r.body;
  EXPECT_EQ(r.body.find("Proxy-Authorization"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("X-End: e"), std::string::npos);
  EXPECT_NE(r.body.find("X-Forwarded-For: 10.1.1.1, 127.0.0.1"), std::string::npos) << r.body;
}

TEST(Proxy, UnknownFunctionsAndBadPaths) {
  Harness h;
  h.AddFunction("hello");
  h.AddBackend("hello", "b1");
  auto r = Get(h.port(), "/fn/default/nope/x");
  EXPECT_EQ(r.status, 404);
  auto j = Json::parse(r.body);
  EXPECT_EQ(j["function"], "default/nope");
  EXPECT_NE(j["error"].get<std::string>().find("default/nope"), std::string::npos);
  r = Get(h.port(), "/x", "nope.default.kfaas.local");
  EXPECT_EQ(r.status, 404);
  EXPECT_NE(r.body.find("nope.default.kfaas.local"), std::string::npos);
  for (const char* t : {"/fn/default/hello/../other/x", "/fn/default/hello/%2e%2e/other",
                        "/fn/default/hello/a%2fb", "/fn/%64efault/hello/"}) {
    r = Get(h.port(), t);
    EXPECT_EQ(r.status, 400) << t;
    EXPECT_EQ(Json::parse(r.body)["reason"], "BadPath") << t;
  }
  EXPECT_EQ(Get(h.port(), "/fn/default/hello/ok").status, 200);
}

TEST(Proxy, ColdStartFromZeroWithHeaderAndOneScaleWrite) {
  Harness h;
  h.local_scaler->hold = true;  // the instance starts once all 50 are held
  h.AddFunction("hello");
  std::vector<std::future<Response>> fs;
  for (int i = 0; i < 50; ++i) {
    fs.push_back(
        std::async(std::launch::async, [&] { return Get(h.port(), "/fn/default/hello/hello"); }));
  }
  auto fn = h.registry->Find("default", "hello");
  ASSERT_TRUE(WaitFor([&] { return fn->Stats().queued == 50; }));
  h.local_scaler->Release();
  for (auto& f : fs) {
    auto r = f.get();
    ASSERT_EQ(r.status, 200) << r.error << r.body;
    EXPECT_EQ(r.body, "hello from hello");
    EXPECT_FALSE(r.Header("x-kfaas-cold-start").empty());
  }
  EXPECT_EQ(h.local_scaler->Writes("default/hello"), std::vector<int>{1});
  auto recs = h.reporter.Records();
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_TRUE(recs[0].instance_ready.has_value());
  EXPECT_LT(recs[0].total, std::chrono::milliseconds(1500))
      << "the prober found the instance long before the slice said ready";
  std::string m = h.Metrics();
  EXPECT_NE(m.find("kfaas_cold_starts_total{namespace=\"default\",function=\"hello\"} 1"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("kfaas_cold_start_phase_seconds_count{namespace=\"default\",function=\"hello\","
                   "phase=\"instance_ready\"} 1"),
            std::string::npos);
  // Warm now: no header.
  auto r = Get(h.port(), "/fn/default/hello/hello");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("x-kfaas-cold-start"), "");
}

TEST(Proxy, ClusterConcurrencyLimitAnswers429) {
  Harness::Options o;
  o.core.max_concurrency = 2;
  Harness h(o);
  h.AddFunction("slow");
  h.AddBackend("slow", "b1");
  std::vector<std::future<Response>> fs;
  for (int i = 0; i < 2; ++i) {
    fs.push_back(std::async(std::launch::async,
                            [&] { return Get(h.port(), "/fn/default/slow/delay?ms=800"); }));
  }
  ASSERT_TRUE(WaitFor([&] { return h.global.in_flight.load() == 2; }));
  auto r = Get(h.port(), "/fn/default/slow/hello");
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(r.Header("retry-after"), "1");
  EXPECT_EQ(Json::parse(r.body)["reason"], "TooManyRequests");
  for (auto& f : fs) EXPECT_EQ(f.get().status, 200);
  EXPECT_EQ(Get(h.port(), "/fn/default/slow/hello").status, 200);
}

TEST(Proxy, InvocationTimeoutAnswers504AndClosesUpstream) {
  Harness h;
  h.AddFunction("slow", {{"timeoutSeconds", 1}});
  auto* b = h.AddBackend("slow", "b1");
  auto start = std::chrono::steady_clock::now();
  auto r = Get(h.port(), "/fn/default/slow/delay?ms=5000");
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.status, 504) << r.body;
  EXPECT_EQ(Json::parse(r.body)["reason"], "Timeout");
  EXPECT_GE(took, std::chrono::milliseconds(950));
  EXPECT_LT(took, std::chrono::milliseconds(2500));
  EXPECT_TRUE(WaitFor([&] { return b->open_connections() == 0; }))
      << "the upstream connection was closed";
  EXPECT_EQ(Get(h.port(), "/fn/default/slow/hello").status, 200);
}

TEST(Proxy, ConcurrencyPerInstanceQueuesThenServes) {
  Harness h;
  h.AddFunction("one", {{"concurrency", 1}});
  h.AddBackend("one", "b1");
  auto start = std::chrono::steady_clock::now();
  std::vector<std::future<Response>> fs;
  for (int i = 0; i < 4; ++i) {
    fs.push_back(std::async(std::launch::async,
                            [&] { return Get(h.port(), "/fn/default/one/delay?ms=100"); }));
  }
  for (auto& f : fs) EXPECT_EQ(f.get().status, 200);
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(390))
      << "one at a time on the single instance";
}

TEST(Proxy, BodyLimitsAnd413) {
  Harness::Options o;
  o.proxy.max_body_bytes = 1000;
  Harness h(o);
  h.AddFunction("hello");
  h.AddBackend("hello", "b1");
  RequestSpec s;
  s.method = "POST";
  s.target = "/fn/default/hello/count";
  s.body = std::string(900, 'a');
  auto r = Fetch(h.port(), s);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "900");
  s.body = std::string(2000, 'a');
  r = Fetch(h.port(), s);
  EXPECT_EQ(r.status, 413);
  s.chunked = true;
  r = Fetch(h.port(), s);
  EXPECT_EQ(r.status, 413) << r.error;
  EXPECT_EQ(Get(h.port(), "/fn/default/hello/hello").status, 200);
}

TEST(Proxy, MalformedAndOversizedHeadersWhileOthersAreServed) {
  Harness::Options o;
  o.proxy.max_header_bytes = 4096;
  Harness h(o);
  h.AddFunction("hello");
  h.AddBackend("hello", "b1");
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, bad{0};
  std::thread good([&] {
    while (!stop) {
      (Get(h.port(), "/fn/default/hello/hello").status == 200 ? ok : bad)++;
    }
  });
  for (int i = 0; i < 20; ++i) {
    EXPECT_NE(RawExchange(h.port(), "GARBAGE\r\n\r\n").find("HTTP/1.1 400"), std::string::npos);
    EXPECT_NE(RawExchange(h.port(), "GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n")
                  .find("HTTP/1.1 400"),
              std::string::npos);
    std::string big =
        "GET /fn/default/hello/hello HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(8000, 'b') +
        "\r\n\r\n";
    EXPECT_NE(RawExchange(h.port(), big).find("HTTP/1.1 431"), std::string::npos);
  }
  stop = true;
  good.join();
  EXPECT_GT(ok.load(), 0);
  EXPECT_EQ(bad.load(), 0);
}

TEST(Proxy, SlowHeaderTimesOut) {
  Harness::Options o;
  o.proxy.header_timeout = std::chrono::milliseconds(200);
  Harness h(o);
  auto start = std::chrono::steady_clock::now();
  std::string got = RawExchange(h.port(), "GET / HTTP/1.1\r\nHost: x\r\n", 3000);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(1500));
  EXPECT_NE(got.find("408"), std::string::npos) << got;
}

TEST(Proxy, KilledInstanceUnsentRetriedCutOnes502) {
  Harness h;
  h.AddFunction("hello");
  auto* a = h.AddBackend("hello", "a");
  auto* b = h.AddBackend("hello", "b");
  // Requests in flight on both instances.
  std::vector<std::future<Response>> slow;
  for (int i = 0; i < 6; ++i) {
    slow.push_back(std::async(std::launch::async,
                              [&] { return Get(h.port(), "/fn/default/hello/delay?ms=1500"); }));
  }
  ASSERT_TRUE(WaitFor([&] { return a->open_connections() > 0 && b->open_connections() > 0; }));
  a->Stop();  // killed: in-flight cut, new connections refused (the slice still says ready)
  int cut = 0;
  for (auto& f : slow) {
    auto r = f.get();
    if (r.status == 502) {
      ++cut;
      auto j = Json::parse(r.body);
      EXPECT_EQ(j["reason"], "BadGateway");
      // Cut while its answer was awaited, or (a connection the instance accepted just before it
      // died) while the request was being written: either way it may have been sent.
      const std::string error = j["error"].get<std::string>();
      EXPECT_TRUE(error.find("closed the connection") != std::string::npos ||
                  error.find("sending the request to default/hello failed") != std::string::npos)
          << error;
    } else {
      EXPECT_EQ(r.status, 200);
    }
  }
  EXPECT_GT(cut, 0);
  for (int i = 0; i < 20; ++i) {
    auto r = Get(h.port(), "/fn/default/hello/hello");
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.body, "hello from b");
  }
}

TEST(Proxy, StreamsChunkedBothWays) {
  Harness h;
  h.AddFunction("hello");
  h.AddBackend("hello", "b1");
  // Response chunks arrive as they are produced.
  auto r = Get(h.port(), "/fn/default/hello/stream?chunks=5&ms=10");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "chunk 0\nchunk 1\nchunk 2\nchunk 3\nchunk 4\n");
  // Large bodies both ways.
  r = Get(h.port(), "/fn/default/hello/big?bytes=20000000");
  ASSERT_EQ(r.status, 200) << r.error;
  EXPECT_EQ(r.body.size(), 20000000u);
  RequestSpec s;
  s.method = "POST";
  s.target = "/fn/default/hello/count";
  s.body = std::string(10000000, 'z');
  s.chunked = true;
  r = Fetch(h.port(), s);
  ASSERT_EQ(r.status, 200) << r.error;
  EXPECT_EQ(r.body, "10000000");
  s.chunked = false;
  s.headers = {{"Expect", "100-continue"}};
  r = Fetch(h.port(), s);
  EXPECT_EQ(r.status, 200) << r.error;
  EXPECT_EQ(r.body, "10000000");
}

TEST(Proxy, StreamingIsIncremental) {
  Harness h;
  h.AddFunction("hello");
  h.AddBackend("hello", "b1");
  // Read the first chunk long before the last is produced.
  std::string raw;
  auto start = std::chrono::steady_clock::now();
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::socket s(ioc);
  s.connect({boost::asio::ip::make_address("127.0.0.1"), h.port()});
  std::string req = "GET /fn/default/hello/stream?chunks=3&ms=400 HTTP/1.1\r\nHost: x\r\n\r\n";
  boost::asio::write(s, boost::asio::buffer(req));
  while (raw.find("chunk 0") == std::string::npos) {
    char buf[1024];
    size_t n = s.read_some(boost::asio::buffer(buf));
    raw.append(buf, n);
  }
  auto first = std::chrono::steady_clock::now() - start;
  EXPECT_LT(first, std::chrono::milliseconds(1000)) << "not buffered until the end (1.2 s)";
}

TEST(Proxy, GracefulDrainFinishesInFlight) {
  Harness h;
  h.AddFunction("hello");
  h.AddBackend("hello", "b1");
  auto inflight = std::async(std::launch::async,
                             [&] { return Get(h.port(), "/fn/default/hello/delay?ms=400"); });
  ASSERT_TRUE(WaitFor([&] { return h.server->active_requests() == 1; }));
  uint16_t port = h.port();
  auto drained =
      std::async(std::launch::async, [&] { return h.server->Drain(std::chrono::seconds(5)); });
  ASSERT_TRUE(WaitFor([&] { return !h.server->ready(); }));
  auto r = inflight.get();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("connection"), "close");
  EXPECT_TRUE(drained.get());
  EXPECT_NE(Get(port, "/fn/default/hello/hello").status, 200);
}

TEST(Proxy, DrainBoundAnswersForwardedRequests503) {
  Harness h;
  h.AddFunction("hello");
  h.AddBackend("hello", "b1");
  // Two requests at the instance when the drain bound ends: both get an explicit 503.
  auto slow1 = std::async(std::launch::async,
                          [&] { return Get(h.port(), "/fn/default/hello/delay?ms=5000"); });
  auto slow2 = std::async(std::launch::async,
                          [&] { return Get(h.port(), "/fn/default/hello/delay?ms=5000"); });
  ASSERT_TRUE(WaitFor([&] { return h.server->active_requests() == 2; }));
  auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(h.server->Drain(std::chrono::milliseconds(200)));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  for (auto* f : {&slow1, &slow2}) {
    auto r = f->get();
    EXPECT_EQ(r.status, 503) << r.body;
    EXPECT_EQ(r.Header("connection"), "close");
    auto body = Json::parse(r.body);
    EXPECT_EQ(body["reason"], "ShuttingDown");
    EXPECT_NE(body["error"].get<std::string>().find("activator shut down"), std::string::npos);
  }
}

TEST(Proxy, IdleScaleToZeroThenColdAgain) {
  Harness h;
  h.AddFunction("hello", {{"scale", {{"idleWindowSeconds", 1}}}});
  ASSERT_EQ(Get(h.port(), "/fn/default/hello/hello").status, 200);
  h.registry->Tick();
  EXPECT_EQ(h.local_scaler->Writes("default/hello"), std::vector<int>{1});
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  h.registry->Tick();
  EXPECT_EQ(h.local_scaler->Writes("default/hello"), (std::vector<int>{1, 0}));
  ASSERT_TRUE(
      WaitFor([&] { return h.registry->Find("default", "hello")->Stats().ready_instances == 0; }));
  auto r = Get(h.port(), "/fn/default/hello/hello");
  EXPECT_EQ(r.status, 200);
  EXPECT_FALSE(r.Header("x-kfaas-cold-start").empty());
  EXPECT_EQ(h.local_scaler->Writes("default/hello"), (std::vector<int>{1, 0, 1}));
}

TEST(Proxy, ColdStartTimeoutAnswers504) {
  Harness::Options o;
  o.core.cold_start_timeout = std::chrono::milliseconds(300);
  Harness h(o);
  h.local_scaler->hold = true;  // the instance never starts
  h.AddFunction("stuck");
  auto r = Get(h.port(), "/fn/default/stuck/hello");
  EXPECT_EQ(r.status, 504);
  EXPECT_EQ(Json::parse(r.body)["reason"], "ColdStartTimeout");
}

}  // namespace
}  // namespace kfaas::activator::testing
