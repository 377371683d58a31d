// A stand-in activator gRPC port for cross-language tests: ActivatorScalerServer fed by fake
// counters given on the command line.
//
//   autoscaler_fake_activator --function default/hello:10:7:3 [--function
//   ns/name:target:in_flight:queued]
//                             [--peer host:port]... [--id name]
// Serves on 127.0.0.1 with a free port, prints "port <n>" on stdout, and runs until stdin
// closes (so the test's exit, however it happens, stops it).
#include <unistd.h>

#include <iostream>
#include <string>
#include <vector>

#include "autoscaler/service/activator_scaler_server.h"
#include "tests/autoscaler/fakes.h"

int main(int argc, char** argv) {
  using namespace kfaas::autoscaler;
  testing::FakeStatsSource stats;
  testing::FakeFunctionInfo functions;
  std::vector<std::string> peer_list;
  std::string id = "fake-activator";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--peer") {
      peer_list.push_back(value);
    } else if (flag == "--id") {
      id = value;
    } else if (flag == "--function") {
      // ns/name:target:in_flight:queued
      std::vector<std::string> parts;
      size_t start = 0;
      for (size_t p; (p = value.find(':', start)) != std::string::npos; start = p + 1) {
        parts.push_back(value.substr(start, p - start));
      }
      parts.push_back(value.substr(start));
      const size_t slash = parts[0].find('/');
      if (parts.size() != 4 || slash == std::string::npos) {
        std::cerr << "bad --function " << value << ": want ns/name:target:in_flight:queued\n";
        return 2;
      }
      const std::string ns = parts[0].substr(0, slash), name = parts[0].substr(slash + 1);
      functions.Add(ns, name, std::stoi(parts[1]), /*idle_seconds=*/60);
      const int64_t in_flight = std::stoll(parts[2]), queued = std::stoll(parts[3]);
      stats.Set(ns, name, 0);
      // Arrivals after the hub's first poll, so they count as recent activity.
      stats.Set(ns, name, in_flight, queued, 0);
    } else {
      std::cerr << "unknown flag " << flag << "\n";
      return 2;
    }
  }
  StaticPeers peers(peer_list);
  ActivatorScalerServer server({.stats = &stats, .functions = &functions, .peers = &peers},
                               {.address = "127.0.0.1:0", .activator_id = id});
  if (auto s = server.Start(); !s.ok()) {
    std::cerr << s.message() << "\n";
    return 1;
  }
  std::cout << "port " << server.port() << std::endl;
  char buf[256];
  while (read(0, buf, sizeof(buf)) > 0) {
  }
  server.Stop();
  return 0;
}
