// 10,000 concurrent requests to a function at zero: all held, then all answered 200, the ones
// above the per-function buffer an explicit 503; none hangs, none is lost. Prints the RSS.
#include <sys/resource.h>

#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <fstream>

#include "tests/activator/harness.h"

namespace kfaas::activator::testing {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;

long RssKb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return 0;
}

struct Result {
  int status = 0;
  bool cold_header = false;
  std::string error;
};

asio::awaitable<void> Client(uint16_t port, Result* out) {
  auto ex = co_await asio::this_coro::executor;
  boost::beast::tcp_stream s(ex);
  s.expires_after(std::chrono::seconds(60));
  boost::system::error_code ec;
  co_await s.async_connect({asio::ip::make_address("127.0.0.1"), port},
                           asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    out->error = "connect: " + ec.message();
    co_return;
  }
  http::request<http::empty_body> req{http::verb::get, "/fn/default/burst/hello", 11};
  req.set(http::field::host, "x");
  co_await http::async_write(s, req, asio::redirect_error(asio::use_awaitable, ec));
  boost::beast::flat_buffer buf;
  http::response<http::string_body> res;
  co_await http::async_read(s, buf, res, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    out->error = "read: " + ec.message();
    co_return;
  }
  out->status = res.result_int();
  out->cold_header = res.find("X-Kfaas-Cold-Start") != res.end();
}

TEST(Burst, TenThousandConcurrentRequestsAtZero) {
  const int kBuffered = 10000, kExtra = 200, kTotal = kBuffered + kExtra;
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  rlimit want{65536, 65536};
  if (rl.rlim_cur < 65536 && setrlimit(RLIMIT_NOFILE, &want) != 0) {
    rl.rlim_cur = std::min(rl.rlim_max, rlim_t{65536});
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  getrlimit(RLIMIT_NOFILE, &rl);
  ASSERT_GE(rl.rlim_cur, rlim_t(2 * kTotal + 200))
      << "needs ~" << 2 * kTotal + 200 << " file descriptors (client and server sides)";

  Harness::Options o;
  o.core.max_buffered_per_function = kBuffered;
  o.core.max_concurrency = 1000;  // the default: held requests are not refused by it
  Harness h(o);
  h.local_scaler->hold = true;
  h.AddFunction("burst");
  long rss_before = RssKb();

  asio::io_context ioc{1};
  std::vector<Result> results(kTotal);
  for (int i = 0; i < kTotal; ++i) {
    asio::co_spawn(ioc, Client(h.port(), &results[i]), asio::detached);
  }
  std::thread client([&] { ioc.run(); });
  auto fn = h.registry->Find("default", "burst");
  ASSERT_TRUE(WaitFor(
      [&] {
        return fn->Stats().queued == kBuffered &&
               h.am->buffer_rejected.WithLabels({"default", "burst"}).Value() == kExtra;
      },
      60000))
      << "queued " << fn->Stats().queued;
  long rss_held = RssKb();
  EXPECT_EQ(h.local_scaler->Writes("default/burst"), std::vector<int>{1});
  h.local_scaler->Release();
  client.join();
  int ok = 0, full = 0, other = 0, cold = 0;
  for (const auto& r : results) {
    if (r.status == 200) {
      ++ok;
      cold += r.cold_header;
    } else if (r.status == 503) {
      ++full;
    } else {
      ++other;
      if (other < 5) ADD_FAILURE() << "status " << r.status << " " << r.error;
    }
  }
  EXPECT_EQ(ok, kBuffered);
  EXPECT_EQ(full, kExtra);
  EXPECT_EQ(other, 0);
  EXPECT_EQ(cold, kBuffered);
  EXPECT_EQ(h.local_scaler->Writes("default/burst"), std::vector<int>{1});
  std::cout << "RSS (activator, backend and client in one process): before " << rss_before
            << " kB, with " << kBuffered << " requests held " << rss_held << " kB (+"
            << (rss_held - rss_before) / 1024 << " MiB, "
            << (rss_held - rss_before) * 1024 / kBuffered << " bytes per held request)\n";
}

}  // namespace
}  // namespace kfaas::activator::testing
