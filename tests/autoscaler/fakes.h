// Fakes of the autoscaler's narrow interfaces, for unit and integration tests.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "autoscaler/service/interfaces.h"

namespace kfaas::autoscaler::testing {

class FakeStatsSource : public StatsSource {
 public:
  // Sets a function's level; `arrive` adds arrivals (and completions for the requests that
  // are no longer in flight).
  void Set(const std::string& ns, const std::string& name, int64_t in_flight, int64_t queued = 0,
           int64_t arrive = 0) {
    std::lock_guard<std::mutex> l(mu_);
    auto& c = counters_[ns + "/" + name];
    c.ns = ns;
    c.name = name;
    const int64_t before = c.in_flight + c.queued;
    c.in_flight = in_flight;
    c.queued = queued;
    c.arrivals_total += arrive;
    c.completions_total += std::max<int64_t>(0, before + arrive - in_flight - queued);
  }
  void Remove(const std::string& ns, const std::string& name) {
    std::lock_guard<std::mutex> l(mu_);
    counters_.erase(ns + "/" + name);
  }
  std::vector<FunctionCounters> Snapshot() override {
    std::lock_guard<std::mutex> l(mu_);
    std::vector<FunctionCounters> out;
    for (const auto& [k, c] : counters_) out.push_back(c);
    return out;
  }

 private:
  std::mutex mu_;
  std::map<std::string, FunctionCounters> counters_;
};

class FakeFunctionInfo : public FunctionInfo {
 public:
  void Add(const std::string& ns, const std::string& name, int target, int idle_seconds = 60,
           int min = 0, int max = 100) {
    std::lock_guard<std::mutex> l(mu_);
    FunctionScale s;
    s.ns = ns;
    s.name = name;
    s.bounds = {.min = min, .max = max, .target = target};
    s.idle_window_seconds = idle_seconds;
    functions_[ns + "/" + name] = s;
  }
  std::optional<FunctionScale> Lookup(const std::string& ns, const std::string& name) override {
    std::lock_guard<std::mutex> l(mu_);
    auto it = functions_.find(ns + "/" + name);
    if (it == functions_.end()) return std::nullopt;
    return it->second;
  }

 private:
  std::mutex mu_;
  std::map<std::string, FunctionScale> functions_;
};

class FakePeers : public PeerSource {
 public:
  void Set(std::vector<std::string> peers) {
    std::lock_guard<std::mutex> l(mu_);
    peers_ = std::move(peers);
  }
  std::vector<std::string> Peers() override {
    std::lock_guard<std::mutex> l(mu_);
    return peers_;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> peers_;
};

// A loopback port that accepts connections into its backlog and never answers (a hung peer).
class BlackHole {
 public:
  BlackHole() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    listen(fd_, 16);
    socklen_t len = sizeof(a);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    address_ = "127.0.0.1:" + std::to_string(ntohs(a.sin_port));
  }
  ~BlackHole() { close(fd_); }
  BlackHole(const BlackHole&) = delete;
  BlackHole& operator=(const BlackHole&) = delete;
  const std::string& address() const { return address_; }

 private:
  int fd_;
  std::string address_;
};

}  // namespace kfaas::autoscaler::testing
