#include "common/metrics/metrics.h"

#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <thread>

#include "common/http/admin_server.h"

namespace kfaas::metrics {
namespace {

TEST(Metrics, TextFormat) {
  Registry r;
  auto& c = r.AddCounter("kfaas_test_requests_total", "Requests.", {"code"});
  c.WithLabels({"200"}).Inc();
  c.WithLabels({"200"}).Inc(2);
  c.WithLabels({"5\"0\n0"}).Inc();
  auto& g = r.AddGauge("kfaas_test_in_flight", "In flight.");
  g.WithLabels({}).Set(3);
  auto& h = r.AddHistogram("kfaas_test_duration_seconds", "Duration.", {"fn"}, {0.1, 1});
  h.WithLabels({"a"}).Observe(0.05);
  h.WithLabels({"a"}).Observe(0.5);
  h.WithLabels({"a"}).Observe(5);
  r.AddCallback("kfaas_test_queue", "Queue.", Type::kGauge, {"q"}, [] {
    return std::vector<Sample>{{{"x"}, 7}};
  });
  std::string s = r.Serialize();
  EXPECT_NE(s.find("# TYPE kfaas_test_requests_total counter\n"), std::string::npos);
  EXPECT_NE(s.find("kfaas_test_requests_total{code=\"200\"} 3\n"), std::string::npos) << s;
  EXPECT_NE(s.find("kfaas_test_requests_total{code=\"5\\\"0\\n0\"} 1\n"), std::string::npos) << s;
  EXPECT_NE(s.find("kfaas_test_in_flight 3\n"), std::string::npos) << s;
  EXPECT_NE(s.find("kfaas_test_duration_seconds_bucket{fn=\"a\",le=\"0.1\"} 1\n"),
            std::string::npos)
      << s;
  EXPECT_NE(s.find("kfaas_test_duration_seconds_bucket{fn=\"a\",le=\"1\"} 2\n"), std::string::npos)
      << s;
  EXPECT_NE(s.find("kfaas_test_duration_seconds_bucket{fn=\"a\",le=\"+Inf\"} 3\n"),
            std::string::npos)
      << s;
  EXPECT_NE(s.find("kfaas_test_duration_seconds_sum{fn=\"a\"} 5.55\n"), std::string::npos) << s;
  EXPECT_NE(s.find("kfaas_test_duration_seconds_count{fn=\"a\"} 3\n"), std::string::npos) << s;
  EXPECT_NE(s.find("kfaas_test_queue{q=\"x\"} 7\n"), std::string::npos) << s;
}

TEST(Metrics, ConcurrentIncrementsAreNotLost) {
  Registry r;
  auto& c = r.AddCounter("kfaas_test_total", "T.", {"k"});
  std::vector<std::thread> ts;
  for (int i = 0; i < 4; ++i) {
    ts.emplace_back([&] {
      for (int j = 0; j < 10000; ++j) c.WithLabels({"a"}).Inc();
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(c.WithLabels({"a"}).Value(), 40000);
}

std::pair<int, std::string> HttpGet(uint16_t port, const std::string& target) {
  namespace asio = boost::asio;
  namespace http = boost::beast::http;
  asio::io_context ioc;
  asio::ip::tcp::socket sock(ioc);
  sock.connect({asio::ip::make_address("127.0.0.1"), port});
  http::request<http::empty_body> req{http::verb::get, target, 11};
  req.set(http::field::host, "localhost");
  http::write(sock, req);
  boost::beast::flat_buffer buf;
  http::response<http::string_body> res;
  http::read(sock, buf, res);
  return {res.result_int(), res.body()};
}

TEST(AdminServer, ServesMetricsHealthAndReadiness) {
  Registry r;
  r.AddCounter("kfaas_test_total", "T.").WithLabels({}).Inc();
  std::atomic<bool> ready{false};
  http::AdminServer s("127.0.0.1", 0);
  s.HandleStandard(r, [&] { return ready.load(); });
  ASSERT_TRUE(s.Start().ok());
  ASSERT_NE(s.port(), 0);
  auto [code, body] = HttpGet(s.port(), "/metrics");
  EXPECT_EQ(code, 200);
  EXPECT_NE(body.find("kfaas_test_total 1"), std::string::npos);
  EXPECT_EQ(HttpGet(s.port(), "/healthz").first, 200);
  EXPECT_EQ(HttpGet(s.port(), "/readyz").first, 503);
  ready = true;
  EXPECT_EQ(HttpGet(s.port(), "/readyz").first, 200);
  EXPECT_EQ(HttpGet(s.port(), "/nope").first, 404);
  s.Stop();
}

}  // namespace
}  // namespace kfaas::metrics
