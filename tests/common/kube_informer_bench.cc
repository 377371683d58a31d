// kube_informer_bench: measures the informer against kfaas-local's API server (run by
// hack/bench-informer.sh, which prints the table).
//
//   kube_informer_bench server   --home DIR --objects N [--events M]
//       Starts the API server (HTTPS on a free port), creates N ConfigMaps in namespace "bench",
//       prints "READY <kubeconfig>" and serves. On SIGUSR1 it writes M updates as fast as it can
//       (in-process) so a watching informer can measure event throughput. Exits on SIGTERM.
//   kube_informer_bench informer --kubeconfig F --objects N [--events M --server-pid P]
//       In its own process (so RSS is the informer's): lists+watches "bench" with an informer,
//       prints "sync_seconds S", "rss_before_kib K", "rss_after_kib K"; then, with --events,
//       signals the server and prints "events E", "event_seconds S".
//   kube_informer_bench writes   --kubeconfig F --writes N --threads T
//       N creates (then N merge patches) of ConfigMaps in namespace "writes" from T threads
//       sharing one RestClient; prints "create_seconds S", "patch_seconds S".
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "common/kube/informer.h"
#include "common/kube/rest_client.h"
#include "common/kube/transport.h"
#include "local/apiserver/api_server.h"

namespace {

using namespace kfaas;
using Clock = std::chrono::steady_clock;

std::atomic<bool> g_generate{false};
std::atomic<bool> g_stop{false};

long RssKib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return 0;
}

std::string Flag(int argc, char** argv, const std::string& name, const std::string& def = "") {
  for (int i = 2; i + 1 < argc; ++i) {
    if (argv[i] == "--" + name) return argv[i + 1];
  }
  return def;
}

kube::Json ConfigMap(int i) {
  // ~1 KiB objects: labels plus some data, like a small real ConfigMap.
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata",
           {{"name", "cm-" + std::to_string(i)},
            {"labels", {{"app", "bench"}, {"shard", std::to_string(i % 16)}}}}},
          {"data", {{"payload", std::string(800, 'x')}, {"index", std::to_string(i)}}}};
}

int Server(int argc, char** argv) {
  local::ApiServer::Options o;
  o.home = Flag(argc, argv, "home");
  o.secure_port = 0;
  o.insecure_port = -1;
  o.watch_history = 200000;
  o.watch_queue_limit = 200000;
  int objects = std::stoi(Flag(argc, argv, "objects", "10000"));
  int events = std::stoi(Flag(argc, argv, "events", "0"));
  local::ApiServer server(o);
  if (auto s = server.Start(); !s.ok()) {
    std::cerr << "server: " << s << "\n";
    return 1;
  }
  auto client = server.LocalClient("bench-server");
  client
      ->Create(kube::resources::kNamespaces, "",
               {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "bench"}}}})
      .status()
      .IgnoreError();
  for (int i = 0; i < objects; ++i) {
    auto r = client->Create(kube::resources::kConfigMaps, "bench", ConfigMap(i));
    if (!r.ok()) {
      std::cerr << "seed: " << r.status() << "\n";
      return 1;
    }
  }
  signal(SIGUSR1, [](int) { g_generate = true; });
  signal(SIGTERM, [](int) { g_stop = true; });
  signal(SIGINT, [](int) { g_stop = true; });
  std::cout << "READY " << server.kubeconfig_path() << std::endl;
  while (!g_stop) {
    if (g_generate.exchange(false)) {
      for (int i = 0; i < events && !g_stop; ++i) {
        client
            ->Patch(kube::resources::kConfigMaps, "bench", "cm-" + std::to_string(i % objects),
                    kube::PatchType::kMerge, {{"data", {{"index", "e" + std::to_string(i)}}}})
            .status()
            .IgnoreError();
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  server.Stop();
  return 0;
}

int InformerMode(int argc, char** argv) {
  int objects = std::stoi(Flag(argc, argv, "objects", "10000"));
  int events = std::stoi(Flag(argc, argv, "events", "0"));
  pid_t server_pid = std::stoi(Flag(argc, argv, "server-pid", "0"));
  long rss_before = RssKib();
  kube::ConfigLoadOptions lo;
  lo.kubeconfig = Flag(argc, argv, "kubeconfig");
  auto client = kube::RestClient::FromOptions(lo, [](kube::RestConfig& c) { c.qps = 0; });
  if (!client.ok()) {
    std::cerr << client.status() << "\n";
    return 1;
  }
  kube::InformerOptions io;
  io.ns = "bench";
  kube::Informer inf(*client, kube::resources::kConfigMaps, io);
  std::atomic<int64_t> updates{0};
  kube::EventHandlers h;
  h.on_update = [&](const kube::ObjectPtr&, const kube::ObjectPtr&) { ++updates; };
  inf.AddEventHandlers(h);
  auto t0 = Clock::now();
  inf.Start();
  if (!inf.WaitForSync(std::chrono::minutes(5))) {
    std::cerr << "informer did not sync\n";
    return 1;
  }
  double sync_s = std::chrono::duration<double>(Clock::now() - t0).count();
  long rss_after = RssKib();
  if (static_cast<int>(inf.List().size()) != objects) {
    std::cerr << "synced " << inf.List().size() << " objects, want " << objects << "\n";
    return 1;
  }
  std::cout << "sync_seconds " << sync_s << "\n"
            << "rss_before_kib " << rss_before << "\n"
            << "rss_after_kib " << rss_after << "\n";
  if (events > 0 && server_pid > 0) {
    auto t1 = Clock::now();
    kill(server_pid, SIGUSR1);
    auto deadline = t1 + std::chrono::minutes(5);
    while (updates < events && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    double ev_s = std::chrono::duration<double>(Clock::now() - t1).count();
    std::cout << "events " << updates.load() << "\n"
              << "event_seconds " << ev_s << "\n"
              << "rss_end_kib " << RssKib() << "\n";
  }
  std::cout.flush();
  inf.Stop();
  return 0;
}

int WritesMode(int argc, char** argv) {
  int writes = std::stoi(Flag(argc, argv, "writes", "5000"));
  int threads = std::stoi(Flag(argc, argv, "threads", "8"));
  if (int pool = std::stoi(Flag(argc, argv, "pool", "0")); pool > 0) {
    if (auto s = kube::InitCpprestThreadPool(pool); !s.ok()) std::cerr << s << "\n";
  }
  kube::ConfigLoadOptions lo;
  lo.kubeconfig = Flag(argc, argv, "kubeconfig");
  auto client = kube::RestClient::FromOptions(lo, [](kube::RestConfig& c) { c.qps = 0; });
  if (!client.ok()) {
    std::cerr << client.status() << "\n";
    return 1;
  }
  kube::Json ns = {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "writes"}}}};
  (*client)->Create(kube::resources::kNamespaces, "", ns).status().IgnoreError();
  std::atomic<int> next{0}, failed{0};
  auto run = [&](bool patch) {
    next = 0;
    std::vector<std::thread> ts;
    auto t0 = Clock::now();
    for (int t = 0; t < threads; ++t) {
      ts.emplace_back([&] {
        for (int i = next++; i < writes; i = next++) {
          absl::Status s;
          if (patch) {
            s = (*client)
                    ->Patch(kube::resources::kConfigMaps, "writes", "cm-" + std::to_string(i),
                            kube::PatchType::kMerge, {{"data", {{"index", "patched"}}}})
                    .status();
          } else {
            s = (*client)->Create(kube::resources::kConfigMaps, "writes", ConfigMap(i)).status();
          }
          if (!s.ok()) ++failed;
        }
      });
    }
    for (auto& t : ts) t.join();
    return std::chrono::duration<double>(Clock::now() - t0).count();
  };
  double create_s = run(false);
  double patch_s = run(true);
  std::cout << "create_seconds " << create_s << "\n"
            << "patch_seconds " << patch_s << "\n"
            << "failed " << failed.load() << "\n";
  return failed == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && std::strcmp(argv[1], "server") == 0) return Server(argc, argv);
  if (argc >= 2 && std::strcmp(argv[1], "informer") == 0) return InformerMode(argc, argv);
  if (argc >= 2 && std::strcmp(argv[1], "writes") == 0) return WritesMode(argc, argv);
  std::cerr << "usage: kube_informer_bench server|informer [flags] (see the source)\n";
  return 2;
}
