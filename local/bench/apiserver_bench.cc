// Load generator for the local API server (plain HTTP): N ConfigMaps created by concurrent
// clients while W watchers watch them, then full lists. Prints one table row per metric and
// exits non-zero if any watcher missed an event. Driven by hack/bench-apiserver.sh.
//
//   kfaas-apiserver-bench --port P [--pid SERVER_PID] [--objects 10000] [--writers 8]
//                         [--watchers 100] [--lists 5] [--namespace bench]
#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

struct Flags {
  int port = 0;
  int pid = 0;
  int objects = 10000;
  int writers = 8;
  int watchers = 100;
  int lists = 5;
  std::string ns = "bench";
};

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

long RssKb(int pid) {
  if (pid <= 0) return -1;
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

class Conn {
 public:
  explicit Conn(int port) : stream_(ioc_) {
    stream_.connect(
        tcp::endpoint(asio::ip::make_address("127.0.0.1"), static_cast<uint16_t>(port)));
    stream_.socket().set_option(tcp::no_delay(true));
  }
  bhttp::response<bhttp::string_body> Do(bhttp::verb verb, const std::string& target,
                                         const std::string& body = "") {
    bhttp::request<bhttp::string_body> req(verb, target, 11);
    req.set(bhttp::field::host, "127.0.0.1");
    req.set(bhttp::field::user_agent, "kfaas-apiserver-bench/v1");
    if (!body.empty()) {
      req.set(bhttp::field::content_type, "application/json");
      req.body() = body;
    }
    req.prepare_payload();
    bhttp::write(stream_, req);
    bhttp::response_parser<bhttp::string_body> p;
    p.body_limit(1ULL << 31);
    bhttp::read(stream_, buf_, p);
    return p.release();
  }

 private:
  asio::io_context ioc_;
  beast::tcp_stream stream_;
  beast::flat_buffer buf_;
};

struct WatcherResult {
  std::vector<int64_t> latencies_ns;
  std::vector<bool> seen;
  int events = 0;
  std::string error;
};

std::atomic<int> g_done{0};

void RunWatcher(const Flags& f, const std::string& rv, WatcherResult* out, std::atomic<int>* ready,
                std::atomic<bool>* stop) {
  struct Done {
    ~Done() { ++g_done; }
  } done;
  out->seen.assign(static_cast<size_t>(f.objects), false);
  try {
    asio::io_context ioc;
    beast::tcp_stream s(ioc);
    s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), static_cast<uint16_t>(f.port)));
    bhttp::request<bhttp::empty_body> req(
        bhttp::verb::get,
        "/api/v1/namespaces/" + f.ns + "/configmaps?watch=true&resourceVersion=" + rv, 11);
    req.set(bhttp::field::host, "127.0.0.1");
    bhttp::write(s, req);
    beast::flat_buffer buf;
    bhttp::response_parser<bhttp::buffer_body> p;
    p.body_limit(boost::none);
    bhttp::read_header(s, buf, p);
    ++*ready;
    std::string pending;
    std::vector<char> chunk(256 * 1024);
    int got = 0;
    while (!p.is_done() && got < f.objects && !*stop) {
      p.get().body().data = chunk.data();
      p.get().body().size = chunk.size();
      beast::error_code ec;
      bhttp::read_some(s, buf, p, ec);
      if (ec == bhttp::error::need_buffer) ec = {};
      if (ec) {
        out->error = ec.message();
        break;
      }
      int64_t now = NowNs();
      pending.append(chunk.data(), chunk.size() - p.get().body().size);
      size_t start = 0, nl;
      while ((nl = pending.find('\n', start)) != std::string::npos) {
        std::string_view line(pending.data() + start, nl - start);
        start = nl + 1;
        if (line.empty() || line[0] != '{') continue;
        ++out->events;
        auto ip = line.find("\"i\":\"");
        auto tp = line.find("\"t\":\"");
        if (ip == std::string_view::npos || tp == std::string_view::npos) continue;
        int idx = std::atoi(line.data() + ip + 5);
        int64_t t = std::atoll(line.data() + tp + 5);
        if (idx >= 0 && idx < f.objects && !out->seen[static_cast<size_t>(idx)]) {
          out->seen[static_cast<size_t>(idx)] = true;
          ++got;
          out->latencies_ns.push_back(now - t);
        }
      }
      pending.erase(0, start);
    }
  } catch (const std::exception& e) {
    out->error = e.what();
    ++*ready;
  }
}

double Percentile(std::vector<int64_t>& v, double p) {
  if (v.empty()) return 0;
  size_t k = static_cast<size_t>(p * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<long>(k), v.end());
  return static_cast<double>(v[k]) / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  Flags f;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--port")
      f.port = std::stoi(v);
    else if (k == "--pid")
      f.pid = std::stoi(v);
    else if (k == "--objects")
      f.objects = std::stoi(v);
    else if (k == "--writers")
      f.writers = std::stoi(v);
    else if (k == "--watchers")
      f.watchers = std::stoi(v);
    else if (k == "--lists")
      f.lists = std::stoi(v);
    else if (k == "--namespace")
      f.ns = v;
    else {
      std::cerr << "unknown flag " << k << "\n";
      return 2;
    }
  }
  if (f.port == 0) {
    std::cerr << "usage: kfaas-apiserver-bench --port P [--pid PID] [--objects N] [--writers W] "
                 "[--watchers M] [--lists L]\n";
    return 2;
  }
  Conn admin(f.port);
  auto nsr = admin.Do(bhttp::verb::post, "/api/v1/namespaces",
                      Json{{"metadata", {{"name", f.ns}}}}.dump());
  if (nsr.result_int() != 201 && nsr.result_int() != 409) {
    std::cerr << "creating namespace: " << nsr.result_int() << " " << nsr.body() << "\n";
    return 1;
  }
  std::string rv =
      Json::parse(admin.Do(bhttp::verb::get, "/api/v1/namespaces/" + f.ns + "/configmaps?limit=1")
                      .body())["metadata"]["resourceVersion"];
  long rss_before = RssKb(f.pid);

  std::vector<WatcherResult> wres(static_cast<size_t>(f.watchers));
  std::vector<std::thread> wthreads;
  std::atomic<int> ready{0};
  std::atomic<bool> stop{false};
  for (int i = 0; i < f.watchers; ++i) {
    wthreads.emplace_back(RunWatcher, std::cref(f), rv, &wres[static_cast<size_t>(i)], &ready,
                          &stop);
  }
  while (ready < f.watchers) std::this_thread::sleep_for(std::chrono::milliseconds(5));

  std::atomic<int> next{0};
  std::atomic<int> failures{0};
  auto t0 = Clock::now();
  std::vector<std::thread> writers;
  for (int w = 0; w < f.writers; ++w) {
    writers.emplace_back([&] {
      try {
        Conn c(f.port);
        std::string target = "/api/v1/namespaces/" + f.ns + "/configmaps";
        for (int i = next++; i < f.objects; i = next++) {
          std::string body = R"({"metadata":{"name":"cm-)" + std::to_string(i) +
                             R"(","labels":{"app":"bench"}},"data":{"i":")" + std::to_string(i) +
                             R"(","t":")" + std::to_string(NowNs()) +
                             R"(","payload":"0123456789abcdef0123456789abcdef"}})";
          auto r = c.Do(bhttp::verb::post, target, body);
          if (r.result_int() != 201) ++failures;
        }
      } catch (const std::exception& e) {
        std::cerr << "writer: " << e.what() << "\n";
        ++failures;
      }
    });
  }
  for (auto& t : writers) t.join();
  double write_s = std::chrono::duration<double>(Clock::now() - t0).count();

  // Wait for the watchers (bounded).
  auto deadline = Clock::now() + std::chrono::seconds(120);
  while (g_done < f.watchers && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  double deliver_done = std::chrono::duration<double>(Clock::now() - t0).count();
  if (g_done < f.watchers) {
    stop = true;
    admin.Do(bhttp::verb::post, "/kfaas/faults", R"({"dropWatches":true})");
  }
  for (auto& t : wthreads) t.join();
  double deliver_s = deliver_done;
  long rss_after = RssKb(f.pid);

  std::vector<double> list_ms;
  size_t list_items = 0, list_bytes = 0;
  for (int i = 0; i < f.lists; ++i) {
    auto l0 = Clock::now();
    auto r = admin.Do(bhttp::verb::get, "/api/v1/namespaces/" + f.ns + "/configmaps");
    list_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - l0).count());
    list_bytes = r.body().size();
    list_items = Json::parse(r.body())["items"].size();
  }
  std::sort(list_ms.begin(), list_ms.end());

  std::vector<int64_t> all;
  int complete = 0;
  long missing = 0;
  std::string werr;
  for (auto& w : wres) {
    all.insert(all.end(), w.latencies_ns.begin(), w.latencies_ns.end());
    long m = std::count(w.seen.begin(), w.seen.end(), false);
    missing += m;
    if (m == 0) ++complete;
    if (!w.error.empty()) werr = w.error;
  }
  double p50 = Percentile(all, 0.50), p99 = Percentile(all, 0.99);

  printf("\n%-44s %s\n", "metric", "value");
  printf("%-44s %d objects, %d writers, %d watchers\n", "load", f.objects, f.writers, f.watchers);
  printf("%-44s %.0f\n", "writes/s (POST configmaps, 201)", f.objects / write_s);
  printf("%-44s %d\n", "write failures", failures.load());
  printf("%-44s %.1f ms (min %.1f, %zu items, %.1f MB)\n", "full list latency (median)",
         list_ms[list_ms.size() / 2], list_ms.front(), list_items, list_bytes / 1e6);
  printf("%-44s %.2f ms\n", "watch delivery latency p50", p50);
  printf("%-44s %.2f ms\n", "watch delivery latency p99", p99);
  printf("%-44s %.2f s\n", "all events delivered to all watchers after", deliver_s);
  printf("%-44s %d/%d (missing events: %ld)\n", "watchers that received every event", complete,
         f.watchers, missing);
  if (rss_before > 0) {
    printf("%-44s %.1f MB (server RSS %.1f -> %.1f MB)\n", "server RSS per 10k objects",
           (rss_after - rss_before) / 1024.0 * 10000.0 / f.objects, rss_before / 1024.0,
           rss_after / 1024.0);
  }
  if (!werr.empty()) printf("%-44s %s\n", "watcher error", werr.c_str());
  return (complete == f.watchers && failures == 0) ? 0 : 1;
}
