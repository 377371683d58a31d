// 10,000 concurrent requests to a function at zero: all held, then all answered 200, the ones
// above the per-function buffer an explicit 503; none hangs, none is lost. Prints the RSS.
#include <sys/resource.h>

#include <gtest/gtest.h>

#include <unistd.h>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstdio>
#include <cstdlib>
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

// The client side runs in a child process (this binary, re-executed): one process cannot hold
// both ends of 10,000 connections under a 20,000 descriptor limit.
void RunClientProcess(uint16_t port, int total) {
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  asio::io_context ioc{1};
  std::vector<Result> results(total);
  for (int i = 0; i < total; ++i) {
    asio::co_spawn(ioc, Client(port, &results[i]), asio::detached);
  }
  ioc.run();
  int ok = 0, full = 0, other = 0, cold = 0;
  std::string errors;
  for (const auto& r : results) {
    if (r.status == 200) {
      ++ok;
      cold += r.cold_header;
    } else if (r.status == 503) {
      ++full;
    } else {
      if (++other < 5) errors += " [" + std::to_string(r.status) + " " + r.error + "]";
    }
  }
  std::printf("%d %d %d %d%s\n", ok, full, other, cold, errors.c_str());
  std::fflush(stdout);
}

const int kClientMode = [] {
  if (const char* p = std::getenv("KFAAS_BURST_CLIENT")) {
    int port = 0, total = 0;
    std::sscanf(p, "%d:%d", &port, &total);
    RunClientProcess(static_cast<uint16_t>(port), total);
    std::_Exit(0);
  }
  return 0;
}();

TEST(Burst, TenThousandConcurrentRequestsAtZero) {
  const int kBuffered = 10000, kExtra = 200, kTotal = kBuffered + kExtra;
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  ASSERT_GE(rl.rlim_cur, rlim_t(kTotal + 500)) << "needs ~" << kTotal + 500 << " descriptors";

  Harness::Options o;
  o.core.max_buffered_per_function = kBuffered;
  o.core.max_concurrency = 1000;  // the default: held requests are not refused by it
  Harness h(o);
  h.local_scaler->hold = true;
  h.AddFunction("burst");
  long rss_before = RssKb();

  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  ASSERT_GT(n, 0);
  exe[n] = 0;
  std::string cmd = "KFAAS_BURST_CLIENT=" + std::to_string(h.port()) + ":" +
                    std::to_string(kTotal) + " '" + exe + "'";
  FILE* child = popen(cmd.c_str(), "r");
  ASSERT_NE(child, nullptr);
  auto fn = h.registry->Find("default", "burst");
  bool held = WaitFor(
      [&] {
        return fn->Stats().queued == kBuffered &&
               h.am->buffer_rejected.WithLabels({"default", "burst"}).Value() == kExtra;
      },
      60000);
  long rss_held = RssKb();
  EXPECT_TRUE(held) << "queued " << fn->Stats().queued;
  EXPECT_EQ(h.local_scaler->Writes("default/burst"), std::vector<int>{1});
  h.local_scaler->Release();
  char line[1024] = {0};
  ASSERT_NE(fgets(line, sizeof(line), child), nullptr);
  pclose(child);
  int ok = 0, full = 0, other = 0, cold = 0;
  ASSERT_EQ(std::sscanf(line, "%d %d %d %d", &ok, &full, &other, &cold), 4) << line;
  EXPECT_EQ(ok, kBuffered) << line;
  EXPECT_EQ(full, kExtra) << line;
  EXPECT_EQ(other, 0) << line;
  EXPECT_EQ(cold, kBuffered) << line;
  EXPECT_EQ(h.local_scaler->Writes("default/burst"), std::vector<int>{1});
  std::cout << "RSS of the activator (with its test backend): before " << rss_before << " kB, with "
            << kBuffered << " requests held " << rss_held << " kB (+"
            << (rss_held - rss_before) / 1024 << " MiB, "
            << (rss_held - rss_before) * 1024 / kBuffered << " bytes per held request)\n";
}

}  // namespace
}  // namespace kfaas::activator::testing
